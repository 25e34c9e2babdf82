"""Graph capture: records a model's dataflow with real shapes, without changing the model.

The first choice is ``torch.fx`` symbolic tracing (modules as nodes, functional ops as their own
nodes) followed by one forward pass of an example input that records every node's output shape.
Models that fx cannot trace (Python control flow on tensor values) fall back to tracing the
autograd graph of one real forward pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import fx, nn

from delve_advisor._failures import is_input_size_error, name_failing_module, names_module
from delve_advisor._meta import shape_only
from delve_advisor._modules import device_and_dtype, eval_mode
from delve_advisor.exceptions import GraphCaptureError, InputSizeError
from delve_advisor.graph._autograd import autograd_nodes
from delve_advisor.graph.captured import CapturedGraph, CapturedNode
from delve_advisor.graph.rules import TensorInfo, get_rf_rule

__all__ = ["CapturedGraph", "CapturedNode", "capture_graph"]

_log = logging.getLogger(__name__)

FX = "torch.fx"
AUTOGRAD = "autograd"


def _summary(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return TensorInfo(tuple(value.shape), value.dtype)
    if isinstance(value, (tuple, list)) and not isinstance(value, torch.Size):
        return type(value)(_summary(v) for v in value) if type(value) in (tuple, list) else value
    return value


def _first_shape(summary: Any) -> tuple[int, ...] | None:
    if isinstance(summary, TensorInfo):
        return summary.shape
    if isinstance(summary, (tuple, list)) and not isinstance(summary, torch.Size):
        for item in summary:
            shape = _first_shape(item)
            if shape is not None:
                return shape
    return None


def _carries_tensor(summary: Any) -> bool:
    return _first_shape(summary) is not None


class _LeafTracer(fx.Tracer):
    def __init__(self, leaf_types: tuple[type, ...]) -> None:
        super().__init__()
        self._leaf_types = leaf_types

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, self._leaf_types):
            return True
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        if get_rf_rule(type(m)) is not None:
            return True
        return super().is_leaf_module(m, module_qualified_name)


def _size_error(
    name: str, node: CapturedNode | None, input_shape: tuple, exc: BaseException
) -> InputSizeError:
    detail = ""
    if node is not None and node.input_shapes:
        detail = f" (its input feature map has shape {tuple(node.input_shapes[0])})"
    return InputSizeError(
        f"input size {tuple(input_shape[1:])} does not fit the model: the feature map vanishes "
        f"or the op fails at layer '{name}'{detail}: {exc}. Use a larger input_size (or check "
        "the number of channels)."
    )


def _fx_capture(
    model: nn.Module,
    example: torch.Tensor,
    leaf_types: tuple[type, ...],
    graph: fx.Graph | None = None,
) -> CapturedGraph:
    if graph is None:
        graph = _LeafTracer(leaf_types).trace(model)
    modules = dict(model.named_modules())
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise GraphCaptureError(
            f"the model's forward takes {len(placeholders)} tensor arguments; receptive-field "
            "analysis needs a forward(x) with exactly one image input"
        )

    names: dict[fx.Node, str] = {}
    captured: dict[fx.Node, CapturedNode] = {}
    constant: set[fx.Node] = set()
    uses: dict[str, int] = {}
    order: list[CapturedNode] = []

    def name_of(node: fx.Node) -> str:
        if node.op == "call_module":
            base = str(node.target)
        else:
            stack = node.meta.get("nn_module_stack") or {}
            parent = next(reversed(stack.values()))[0] if stack else ""
            base = f"{parent}.{node.name}" if parent else node.name
        k = uses.get(base, 0)
        uses[base] = k + 1
        return base if k == 0 else f"{base}:{k}"

    summaries: dict[fx.Node, Any] = {}
    env: dict[fx.Node, Any] = {}
    last_use: dict[fx.Node, list[fx.Node]] = {}
    seen: set[fx.Node] = set()
    for node in reversed(graph.nodes):  # free each value after its last use
        for used in node.all_input_nodes:
            if used not in seen:
                seen.add(used)
                last_use.setdefault(node, []).append(used)

    for node in graph.nodes:
        if node.op == "output":
            continue
        try:
            with shape_only():
                value = _run_node(node, env, example, model, modules)
        except Exception as exc:
            where = name_of(node)
            if not is_input_size_error(exc):
                name_failing_module(exc, where, "graph capture")
                raise
            pending = _pending_node(node, names, summaries, constant, modules)
            raise _size_error(where, pending, example.shape, exc) from exc
        env[node] = value
        summary = _summary(value)
        summaries[node] = summary
        for used in last_use.get(node, ()):
            env.pop(used, None)
        if not _carries_tensor(summary):
            continue
        if node.op == "get_attr":
            constant.add(node)
            continue
        data_inputs = [
            n
            for n in node.all_input_nodes
            if n in summaries and _carries_tensor(summaries[n]) and n not in constant
        ]
        if node.op != "placeholder" and not data_inputs:
            constant.add(node)
            continue
        cnode = _pending_node(node, names, summaries, constant, modules)
        cnode.output_shape = _first_shape(summary)
        shape = cnode.output_shape
        if (
            shape is not None
            and 0 in shape
            and cnode.input_shapes
            and 0 not in cnode.input_shapes[0]
        ):
            raise _size_error(
                name_of(node), cnode, example.shape, RuntimeError(f"output shape {shape}")
            )
        cnode.name = name_of(node)
        names[node] = cnode.name
        captured[node] = cnode
        order.append(cnode)
    return CapturedGraph(order, FX, tuple(example.shape), fx_graph=graph)


def _fetch_attr(model: nn.Module, target: str) -> Any:
    value: Any = model
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _run_node(
    node: fx.Node,
    env: dict[fx.Node, Any],
    example: torch.Tensor,
    model: nn.Module,
    modules: dict[str, nn.Module],
) -> Any:
    """Executes one fx node on real values (what ``fx.Interpreter`` does, without a GraphModule)."""
    if node.op == "placeholder":
        return example
    if node.op == "get_attr":
        return _fetch_attr(model, str(node.target))
    args = fx.node.map_arg(node.args, env.__getitem__)
    kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
    if node.op == "call_module":
        return modules[str(node.target)](*args, **kwargs)
    if node.op == "call_method":
        self_obj, *rest = args
        return getattr(self_obj, str(node.target))(*rest, **kwargs)
    return node.target(*args, **kwargs)


def _pending_node(
    node: fx.Node,
    names: dict[fx.Node, str],
    summaries: dict[fx.Node, Any],
    constant: set[fx.Node],
    modules: dict[str, nn.Module],
) -> CapturedNode:
    data_inputs = [n for n in node.all_input_nodes if n in names and n not in constant]

    def convert(arg: Any) -> Any:
        return summaries.get(arg) if isinstance(arg, fx.Node) else arg

    args = fx.node.map_aggregate(node.args, convert)
    kwargs = fx.node.map_aggregate(node.kwargs, convert)
    if node.op == "placeholder":
        kind, op, target, path = "input", "input", None, None
    elif node.op == "call_module":
        target = modules[str(node.target)]
        kind, op, path = "module", type(target).__name__, str(node.target)
    elif node.op == "call_method":
        kind, op, path = "method", str(node.target), None
        target = getattr(torch.Tensor, str(node.target), str(node.target))
    else:
        target = node.target
        kind, path = "function", None
        op = getattr(target, "__name__", None) or str(target)
    return CapturedNode(
        name=str(node.name),
        kind=kind,
        op=op,
        target=target,
        module_path=path,
        inputs=[names[n] for n in data_inputs],
        args=tuple(args),
        kwargs=dict(kwargs),
        input_shapes=[_first_shape(summaries[n]) for n in data_inputs],
    )


# ------------------------------------------------------------------------- autograd capture


def _autograd_capture(
    model: nn.Module, example: torch.Tensor, leaf_types: tuple[type, ...]
) -> CapturedGraph:
    """Captures the dataflow from the autograd graph of one real forward pass."""
    return CapturedGraph(autograd_nodes(model, example, leaf_types), AUTOGRAD, tuple(example.shape))


def reshape_graph(
    model: nn.Module, captured: CapturedGraph, input_size: Sequence[int]
) -> CapturedGraph | None:
    """Re-propagates shapes through an fx capture's traced graph at another input size.

    Runs on ``model`` as given (pass a meta-device copy to skip all arithmetic); no new trace.

    Returns:
        The capture at ``input_size``, or None when ``captured`` has no fx graph.

    Raises:
        InputSizeError: The forward pass fails at a layer (the message names it).
    """
    if captured.fx_graph is None:
        return None
    device, dtype = device_and_dtype(model)
    example = torch.zeros((1, *input_size), device=device, dtype=dtype)
    with eval_mode(model), torch.no_grad():
        return _fx_capture(model, example, (), graph=captured.fx_graph)


def capture_graph(
    model: nn.Module,
    input_size: Sequence[int],
    leaf_modules: Sequence[type] = (),
    method: str | None = None,
) -> CapturedGraph:
    """Captures a model's dataflow graph with the real shape of every node's output.

    The model runs once, in eval mode, on a random input of shape ``(1, *input_size)`` on its
    own device and dtype; the model is not modified and every module's train/eval flag is
    restored.

    Args:
        model: The model.
        input_size: ``(C, H, W)`` (or ``(C, L)``, ``(C, D, H, W)``) without the batch.
        leaf_modules: Module types to keep as single nodes instead of tracing through them.
        method: "torch.fx" or "autograd" to force one capture; None tries fx first.

    Returns:
        The captured graph; ``method`` says which capture was used.

    Raises:
        InputSizeError: The forward pass fails at a layer (the message names it).
        GraphCaptureError: No capture method can record the graph.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
        >>> [(n.name, n.output_shape) for n in capture_graph(net, (1, 8, 8)).nodes]
        [('input_1', (1, 1, 8, 8)), ('0', (1, 2, 6, 6)), ('1', (1, 2, 6, 6))]
    """
    device, dtype = device_and_dtype(model)
    example = torch.rand((1, *input_size), device=device, dtype=dtype)
    leaf_types = tuple(leaf_modules)
    errors: list[str] = []
    with eval_mode(model):
        if method in (None, FX):
            try:
                with torch.no_grad():
                    return _fx_capture(model, example, leaf_types)
            except InputSizeError:
                raise
            except GraphCaptureError:
                raise
            except Exception as exc:
                if names_module(exc) is not None:  # the model itself failed, not the tracer
                    raise
                if method == FX:
                    raise GraphCaptureError(f"torch.fx cannot trace the model: {exc}") from exc
                errors.append(f"torch.fx: {type(exc).__name__}: {exc}")
                _log.info("torch.fx tracing failed (%s); falling back to the autograd graph", exc)
        try:
            graph = _autograd_capture(model, example, leaf_types)
        except (InputSizeError, GraphCaptureError) as exc:
            if errors:
                raise type(exc)(f"{exc} (before that, {errors[0]})") from exc
            raise
        graph.notes.extend(errors)
        return graph
