"""Docstring examples: every public entry point has one, and every example runs.

This is the one place doctests run. Public entry points are the functions and classes named in
``delve_advisor.__all__`` and in each subpackage's ``__all__``.
"""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import delve_advisor

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(delve_advisor.__path__, prefix="delve_advisor.")
    if not info.name.endswith("__main__")
)
PACKAGES = [
    "delve_advisor",
    *sorted(
        info.name
        for info in pkgutil.iter_modules(delve_advisor.__path__, prefix="delve_advisor.")
        if info.ispkg
    ),
]


def _entry_points():
    seen = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue  # constants and submodules have no examples
            owner = getattr(obj, "__module__", "") or ""
            seen.setdefault(f"{owner}.{obj.__qualname__}", (f"{package}.{name}", obj))
    return sorted(seen.values(), key=lambda item: item[0])


ENTRY_POINTS = _entry_points()


def test_entry_points_are_found():
    names = {name for name, _ in ENTRY_POINTS}
    assert {
        "delve_advisor.advise",
        "delve_advisor.Report",
        "delve_advisor.receptive_field",
    } <= names


@pytest.mark.parametrize("name,obj", ENTRY_POINTS, ids=[n for n, _ in ENTRY_POINTS])
def test_public_entry_point_has_a_runnable_example(name, obj):
    finder = doctest.DocTestFinder(recurse=False)
    tests = finder.find(obj, name, module=False, globs={})
    examples = sum(len(t.examples) for t in tests)
    assert examples > 0, f"{name} has no '>>>' example in its docstring"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    if result.attempted == 0:
        pytest.skip(f"{name} has no docstring example")  # shown as a skip, not as a pass
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
