"""What an edit addresses: a submodule by dotted path, or a node of the model's fx graph.

Graph nodes are named as :func:`delve_advisor.graph.capture_graph` names them: a functional op
is ``<enclosing module>.<fx node name>`` (``"max_pool2d"``, ``"layer1.getitem"``), the k-th
reuse of a module is ``<path>:k``. Rewriting a node turns the (copied) model into a
``torch.fx.GraphModule`` with the same module paths and parameter names.
"""

from __future__ import annotations

import difflib
import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from delve_advisor.exceptions import EditError
from delve_advisor.graph.capture import _LeafTracer

__all__ = ["get_module", "list_module_paths", "list_node_names"]

#: Marks a GraphModule this package built from a copy (its graph keeps the original names).
_OURS = "_delve_advisor_rewritten"

#: Functions whose stride is positional argument ``index`` (or keyword ``stride``).
_STRIDE_ARG: dict[object, int] = {}
for _fn in (torch.conv1d, torch.conv2d, torch.conv3d, F.conv1d, F.conv2d, F.conv3d):
    _STRIDE_ARG[_fn] = 3
for _fn in (
    F.max_pool1d,
    F.max_pool2d,
    F.max_pool3d,
    F.avg_pool1d,
    F.avg_pool2d,
    F.avg_pool3d,
    torch.max_pool1d,
    torch.max_pool2d,
    torch.max_pool3d,
    torch.avg_pool1d,
):
    _STRIDE_ARG[_fn] = 2
#: Functional ops that downsample by a window and may be replaced by their input.
POOLING_FUNCTIONS = frozenset(f for f, i in _STRIDE_ARG.items() if i == 2)
CONV_FUNCTIONS = frozenset(f for f, i in _STRIDE_ARG.items() if i == 3)


def list_module_paths(model: nn.Module) -> list[str]:
    """The dotted paths of every submodule (``named_modules()`` names, root excluded).

    Example:
        >>> from torch import nn
        >>> from delve_advisor.edits import list_module_paths
        >>> list_module_paths(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))
        ['0', '1']
    """
    return [name for name, _ in model.named_modules() if name]


def _trace(model: nn.Module) -> fx.Graph:
    return _LeafTracer(()).trace(model)


def _node_name(node: fx.Node) -> str:
    """The name :func:`capture_graph` gives a functional node."""
    stack = node.meta.get("nn_module_stack") or {}
    parent = next(reversed(stack.values()))[0] if stack else ""
    return f"{parent}.{node.name}" if parent else node.name


def _named_nodes(graph: fx.Graph) -> dict[str, fx.Node]:
    """Editable nodes by captured name: functional ops, methods, and reuses ``path:k``."""
    named: dict[str, fx.Node] = {}
    uses: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            base = str(node.target)
            k = uses.get(base, 0)
            uses[base] = k + 1
            named[base if k == 0 else f"{base}:{k}"] = node
        elif node.op in ("call_function", "call_method"):
            named[_node_name(node)] = node
    return named


def list_node_names(model: nn.Module) -> list[str]:
    """The names of the functional ops in ``model``'s fx graph that an edit can address.

    Returns an empty list when ``torch.fx`` cannot trace the model.

    Example:
        >>> import torch.nn.functional as F
        >>> from torch import nn
        >>> from delve_advisor.edits import list_node_names
        >>> class Net(nn.Module):
        ...     def forward(self, x):
        ...         return F.max_pool2d(x, 2)
        >>> list_node_names(Net())
        ['max_pool2d']
    """
    try:
        graph = model.graph if getattr(model, _OURS, False) else _trace(model)
    except Exception:  # not traceable: nothing to address by node
        return []
    return [name for name, node in _named_nodes(graph).items() if node.op != "call_module"]


def _nearest(model: nn.Module, path: str) -> list[str]:
    names = list_module_paths(model) + list_node_names(model)
    return difflib.get_close_matches(path, names, n=3)


def get_module(model: nn.Module, path: str) -> nn.Module:
    """Returns the submodule at ``path``.

    Raises:
        EditError: No such module; the message lists the nearest paths.

    Example:
        >>> from torch import nn
        >>> from delve_advisor.edits import get_module
        >>> get_module(nn.Sequential(nn.ReLU()), "0")
        ReLU()
    """
    try:
        return model.get_submodule(path)
    except AttributeError:
        raise EditError(
            f"no module {path!r} in {type(model).__name__}; the nearest are "
            f"{_nearest(model, path)} — list them with delve_advisor.edits.list_module_paths"
            "(model) (functional ops: list_node_names(model))"
        ) from None


def has_module(model: nn.Module, path: str) -> bool:
    """Whether ``path`` names a submodule (the root, ``""``, excluded)."""
    if not path:
        return False
    try:
        model.get_submodule(path)
    except AttributeError:
        return False
    return True


def graph_node(model: nn.Module, name: str, op: str) -> tuple[fx.GraphModule, fx.Node]:
    """The fx copy of ``model`` to rewrite and its node called ``name``.

    ``model`` is returned as it is when this package built it from a copy already; anything
    else (a plain module, or a user's GraphModule) is traced into a new GraphModule that
    shares ``model``'s submodules.

    Raises:
        EditError: fx cannot trace the model, or no node has that name (nearest listed).
    """
    if getattr(model, _OURS, False):
        gm = model
    else:
        try:
            graph = _trace(model)
        except Exception as error:
            raise EditError(
                f"{op} on {name!r}: no module of that path, and torch.fx cannot trace "
                f"{type(model).__name__} to find a graph node of that name: "
                f"{type(error).__name__}: {error}"
            ) from error
        gm = fx.GraphModule(model, graph, class_name=type(model).__name__)
        gm.training = model.training
        setattr(gm, _OURS, True)
    node = _named_nodes(gm.graph).get(name)
    if node is None:
        raise EditError(
            f"{op}: no module or graph node {name!r} in {type(model).__name__}; the nearest "
            f"are {_nearest(model, name)} — list them with delve_advisor.edits."
            "list_module_paths(model) and list_node_names(model)"
        )
    return gm, node


def remove_node(gm: fx.GraphModule, node: fx.Node, op: str, name: str) -> None:
    """Replaces ``node`` by its first (data) input in the graph and recompiles."""
    source = node.args[0] if node.args else None
    if not isinstance(source, fx.Node):
        raise EditError(f"{op} on {name!r}: the node has no tensor input to pass through")
    node.replace_all_uses_with(source)
    gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()


def node_stride(node: fx.Node) -> tuple[int, ...] | None:
    """The stride of a functional conv/pool or a strided slice node, or None if it has none."""
    if node.op == "call_function" and node.target in _STRIDE_ARG:
        index = _STRIDE_ARG[node.target]
        stride = node.args[index] if len(node.args) > index else node.kwargs.get("stride")
        if stride in (None, (), []):  # pooling default: the kernel size
            stride = node.args[1] if len(node.args) > 1 else node.kwargs.get("kernel_size")
        return tuple(stride) if isinstance(stride, (list, tuple)) else (stride,)
    if node.op == "call_function" and node.target is operator.getitem:
        index = node.args[1]
        spatial = _spatial_slices(index)
        if spatial:
            return tuple(index[i].step or 1 for i in spatial)
    return None


def _spatial_slices(index: object) -> list[int]:
    """Positions of the slices past (N, C) in a ``getitem`` index tuple."""
    if not isinstance(index, tuple) or len(index) < 3 or Ellipsis in index:
        return []
    return [i for i, item in enumerate(index) if i >= 2 and isinstance(item, slice)]


def set_node_stride(
    gm: fx.GraphModule, node: fx.Node, value: tuple[int, ...], op: str, name: str
) -> None:
    """Sets the stride of a functional conv/pool or the steps of a slice, and recompiles."""
    if node.op == "call_function" and node.target in _STRIDE_ARG:
        index = _STRIDE_ARG[node.target]
        if len(node.args) > index:
            node.args = (*node.args[:index], tuple(value), *node.args[index + 1 :])
        else:
            node.kwargs = {**node.kwargs, "stride": tuple(value)}
    elif node_stride(node) is not None:  # a slice: the slices past (N, C) are spatial
        index = list(node.args[1])
        for slot, step in zip(_spatial_slices(node.args[1]), value, strict=False):
            item = index[slot]
            index[slot] = slice(item.start, item.stop, None if step == 1 else step)
        node.args = (node.args[0], tuple(index), *node.args[2:])
    else:
        raise EditError(
            f"cannot {op} on {name!r}: the graph node {node.target!r} has no stride (only "
            "functional conv/pooling calls and strided slices do)"
        )
    gm.recompile()
