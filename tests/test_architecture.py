"""The import graph of the package, read from every module's source (ast), shows the design.

- no import cycle between modules (imports inside functions included; ``if TYPE_CHECKING:``
  blocks excluded, they never run);
- no module imports the top-level ``delve_advisor`` package itself;
- no module imports a package above its own (its own package's ``__init__`` or an ancestor's);
- ``edits``, ``graph`` and ``saturation`` import nothing from ``advisor``, ``report`` or
  ``search`` (the lower rooms never reach into the upper ones).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

import delve_advisor

ROOT = Path(delve_advisor.__file__).resolve().parent
LOWER = ("edits", "graph", "saturation")
UPPER = ("advisor", "report", "search")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
PACKAGES = {_module_name(p) for p in ROOT.rglob("__init__.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """Collects (statement, imported module) for every import that runs."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.package = module if module in PACKAGES else module.rpartition(".")[0]
        self.found: list[tuple[str, str]] = []

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((f"import {alias.name}", alias.name))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            anchor = self.package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            target = sub if sub in MODULES else base
            self.found.append((f"from {base} import {alias.name}", target))


def _imports(module: str) -> list[tuple[str, str]]:
    visitor = _Imports(module)
    visitor.visit(ast.parse(MODULES[module].read_text(encoding="utf-8")))
    return [
        (stmt, target) for stmt, target in visitor.found if target.split(".")[0] == "delve_advisor"
    ]


IMPORTS = {module: _imports(module) for module in MODULES}


def test_the_package_is_found():
    assert {"delve_advisor.report.report", "delve_advisor.saturation.tracker"} <= set(MODULES)


def test_no_import_cycle():
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for module, imports in IMPORTS.items():
        graph.add_edges_from((module, target) for _, target in imports if target in MODULES)
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    cycles += [[m] for m in graph if graph.has_edge(m, m)]
    assert cycles == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "delve_advisor"))
def test_no_module_imports_the_top_level_package_or_a_package_above_its_own(module):
    ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    if module in PACKAGES:
        ancestors.add(module)  # a package's __init__ must not import itself either
    upward = [stmt for stmt, target in IMPORTS[module] if target in ancestors]
    assert upward == [], f"{module} imports a package above it: {upward}"


@pytest.mark.parametrize("room", LOWER)
def test_lower_rooms_import_nothing_from_the_upper_ones(room):
    offending = [
        (module, stmt)
        for module, imports in IMPORTS.items()
        if module == f"delve_advisor.{room}" or module.startswith(f"delve_advisor.{room}.")
        for stmt, target in imports
        if any(
            target == f"delve_advisor.{u}" or target.startswith(f"delve_advisor.{u}.")
            for u in UPPER
        )
    ]
    assert offending == []


def test_the_checks_can_fail():
    """The rules above catch what they are meant to catch, on made-up sources."""
    visitor = _Imports("delve_advisor.graph.capture")
    visitor.visit(
        ast.parse(
            "import delve_advisor\n"
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from delve_advisor.report import Report\n"
            "def f():\n    from delve_advisor.advisor import advise\n"
            "from . import rules\n"
            "from .. import report\n"
        )
    )
    targets = [t for _, t in visitor.found]
    assert "delve_advisor" in targets  # the top-level package itself
    assert "delve_advisor.report.report" not in targets  # TYPE_CHECKING is skipped
    assert "delve_advisor.advisor.advise" in targets  # function-local imports count
    assert "delve_advisor.graph.rules" in targets and "delve_advisor.report" in targets


def test_importing_the_package_loads_neither_torchvision_nor_matplotlib():
    """Each is imported where it is used (a torchvision spec, an image folder, a figure): every
    process that imports delve_advisor (CLI, search workers) saves about 1.5 s."""
    import subprocess
    import sys

    code = (
        "import sys, delve_advisor, delve_advisor.search, delve_advisor.cli\n"
        "print([m for m in ('torchvision', 'matplotlib', 'torch._dynamo') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
