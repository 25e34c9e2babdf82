"""Fallback capture: the dataflow read from the autograd graph of one real forward pass.

Used when ``torch.fx`` cannot trace a model (Python control flow on tensor values). Leaf modules
are named by forward hooks (removed in ``finally``); functional ops are named after their
autograd node (``ConvolutionBackward0`` → ``convolution``) and keep their saved arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from delve_advisor._failures import is_input_size_error, name_failing_module
from delve_advisor._hooks import Hooks
from delve_advisor.exceptions import GraphCaptureError, InputSizeError
from delve_advisor.graph import rules as R
from delve_advisor.graph.captured import CapturedNode
from delve_advisor.graph.rules import RuleContext, get_rf_rule

_INPUT = "input"


def _window(g: Any) -> R.RFOp:
    stride = tuple(g._saved_stride) or tuple(g._saved_kernel_size)
    return R.WindowOp(tuple(g._saved_kernel_size), stride, tuple(getattr(g, "_saved_dilation", 1)))


def _convolution(g: Any) -> R.RFOp:
    kernel = tuple(g._saved_weight.shape[2:])
    if g._saved_transposed:
        return R.TransposedOp(kernel, tuple(g._saved_stride), tuple(g._saved_dilation))
    return R.WindowOp(kernel, tuple(g._saved_stride), tuple(g._saved_dilation))


def _static(op: R.RFOp) -> Callable[[Any], R.RFOp]:
    return lambda g: op


def _dims(g: Any) -> R.Rule:
    dims = list(g._saved_dim)
    return lambda ctx: R._feature_dims_rule(dims, ctx)


def _dim(g: Any) -> R.Rule:
    dim = g._saved_dim
    return lambda ctx: R._feature_dims_rule([dim], ctx)


def _permute(g: Any) -> R.Rule:
    dims = list(g._saved_dims)

    def rule(ctx: RuleContext) -> R.RFOp:
        if ctx.axes is None:
            return R.PointwiseOp()
        rank = len(ctx.input_shapes[0])
        order = [d % rank for d in dims]
        return R.PointwiseOp(axes=tuple(order.index(a) for a in ctx.axes))

    return rule


def _transpose(g: Any) -> R.Rule:
    d0, d1 = g._saved_dim0, g._saved_dim1

    def rule(ctx: RuleContext) -> R.RFOp:
        if ctx.axes is None:
            return R.PointwiseOp()
        rank = len(ctx.input_shapes[0])
        swap = {d0 % rank: d1 % rank, d1 % rank: d0 % rank}
        return R.PointwiseOp(axes=tuple(swap.get(a, a) for a in ctx.axes))

    return rule


def _upsample(mode: str) -> Callable[[Any], R.Rule]:
    return lambda g: lambda ctx: R._upsample_from_shapes(ctx, mode)


# autograd node class name (exact, trailing version digit removed) -> rule factory
_BY_NODE: dict[str, Callable[[Any], Any]] = {
    "Convolution": _convolution,
    "MaxPool1DWithIndices": _window,
    "MaxPool2DWithIndices": _window,
    "MaxPool3DWithIndices": _window,
    "AvgPool2D": _window,
    "AvgPool3D": _window,
    "AdaptiveAvgPool2D": lambda g: R._adaptive,
    "AdaptiveAvgPool3D": lambda g: R._adaptive,
    "AdaptiveMaxPool2D": lambda g: R._adaptive,
    "AdaptiveMaxPool3D": lambda g: R._adaptive,
    "UpsampleNearest1D": _upsample("nearest"),
    "UpsampleNearest2D": _upsample("nearest"),
    "UpsampleNearest3D": _upsample("nearest"),
    "UpsampleNearestExact2D": _upsample("nearest"),
    "UpsampleLinear1D": _upsample("linear"),
    "UpsampleBilinear2D": _upsample("bilinear"),
    "UpsampleTrilinear3D": _upsample("trilinear"),
    "UpsampleBicubic2D": _upsample("bicubic"),
    "Add": _static(R.MergeOp()),
    "Sub": _static(R.MergeOp()),
    "Cat": _static(R.MergeOp()),
    "Stack": _static(R.MergeOp()),
    "Mul": _static(R.MergeOp(gate=True)),
    "Div": _static(R.MergeOp(gate=True)),
    "Mean": lambda g: _dims(g) if hasattr(g, "_saved_dim") else R.GlobalOp(),
    "Sum": lambda g: _dims(g) if hasattr(g, "_saved_dim") else R.GlobalOp(),
    "Softmax": _dim,
    "LogSoftmax": _dim,
    "Mm": _static(R.GlobalOp()),
    "Bmm": _static(R.GlobalOp()),
    "Addmm": lambda g: R._last_dim,
    "Permute": _permute,
    "Transpose": _transpose,
}
_RESHAPES = {"View", "Reshape", "ReshapeAlias", "UnsafeView", "Unsqueeze", "Squeeze", "Expand"}
_RESHAPES |= {"Split", "SplitWithSizes", "Slice", "Select", "Clone", "Unbind", "Chunk"}


def _node_op(grad_fn: Any) -> str:
    return re.sub(r"Backward\d*$", "", type(grad_fn).__name__)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        return _first_tensor(list(value.values()))
    return None


def autograd_nodes(
    model: nn.Module, example: torch.Tensor, leaf_types: tuple[type, ...]
) -> list[CapturedNode]:
    """Runs one forward pass with gradients and reads the graph back from ``grad_fn`` links."""
    if not example.is_floating_point():
        raise GraphCaptureError("autograd capture needs a floating-point model and input")
    x = example.detach().clone().requires_grad_(True)
    by_output: dict[Any, tuple[str, nn.Module, list[Any]]] = {}
    current: list[tuple[str, list[Any]]] = []  # modules being run, with their input sources

    def is_leaf(m: nn.Module) -> bool:
        return (
            isinstance(m, leaf_types)
            or get_rf_rule(type(m)) is not None
            or next(m.children(), None) is None
        )

    def source(t: Any) -> Any:
        if not isinstance(t, torch.Tensor):
            return None
        if t is x:
            return _INPUT
        return t.grad_fn

    def pre_hook(path: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple) -> None:
            # read the sources before the module runs: an in-place module rewrites grad_fn
            current.append((path, [s for s in (source(i) for i in inputs) if s is not None]))

        return hook

    def post_hook(path: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            sources = current.pop()[1] if current else []
            t = _first_tensor(output)
            if t is None or t.grad_fn is None:
                return
            if (
                t.grad_fn in by_output or t.grad_fn in sources
            ):  # same node: an in-place module such as ReLU(inplace)
                return
            by_output[t.grad_fn] = (path, module, sources)

        return hook

    with Hooks() as hooks:
        for path, module in model.named_modules():
            if path and is_leaf(module):
                hooks.forward_pre(module, pre_hook(path))
                hooks.forward(module, post_hook(path))
        try:
            with torch.enable_grad():
                output = model(x)
        except Exception as exc:
            where = current[-1][0] if current else type(model).__name__
            if not is_input_size_error(exc):
                name_failing_module(exc, where, "graph capture")
                raise
            raise InputSizeError(
                f"input size {tuple(example.shape[1:])} does not fit the model: the forward pass "
                f"fails at layer '{where}': {exc}. Use a larger input_size (or check the number "
                "of channels)."
            ) from exc

    root = _first_tensor(output)
    if root is None or root.grad_fn is None:
        raise GraphCaptureError(
            "autograd capture found no graph: the model's output does not depend on its input "
            "through differentiable operations"
        )
    return _build(root.grad_fn, x, by_output)


def _build(
    root: Any, x: torch.Tensor, by_output: dict[Any, tuple[str, nn.Module, list[Any]]]
) -> list[CapturedNode]:
    preds: dict[Any, list[Any]] = {}
    stack = [root]
    while stack:
        g = stack.pop()
        if g in preds or g is _INPUT:
            continue
        if g in by_output:
            found = list(by_output[g][2])
        else:
            found = []
            for nf, _ in g.next_functions:
                if nf is None:
                    continue
                if type(nf).__name__ == "AccumulateGrad":
                    if nf.variable is x:
                        found.append(_INPUT)
                    continue
                found.append(nf)
        preds[g] = found
        stack.extend(found)

    # forward order = creation order of autograd nodes; inputs are always created first
    data: dict[Any, bool] = {_INPUT: True}
    ordered = []
    for g in sorted(preds, key=lambda node: node._sequence_nr()):
        data[g] = any(data.get(p, False) for p in preds[g])
        if data[g]:
            ordered.append(g)
    names: dict[Any, str] = {_INPUT: "x"}
    uses: dict[str, int] = {}
    shapes: dict[Any, tuple[int, ...]] = {_INPUT: tuple(x.shape)}
    nodes = [CapturedNode("x", "input", "input", None, None, [], output_shape=tuple(x.shape))]
    for g in ordered:
        meta = g._input_metadata
        shapes[g] = tuple(meta[0].shape) if meta else None
        inputs = [p for p in preds[g] if data.get(p)]
        if g in by_output:
            path, module, _ = by_output[g]
            base, kind, op, target, rule, mpath = (
                path,
                "module",
                type(module).__name__,
                module,
                None,
                path,
            )
        else:
            op = _node_op(g)
            base, kind, target, mpath = _snake(op), "function", g, None
            factory = _BY_NODE.get(op)
            rule = (
                factory(g)
                if factory is not None
                else (R._reshape_like if op in _RESHAPES else None)
            )
            op = _snake(op)
        k = uses.get(base, 0)
        uses[base] = k + 1
        name = base if k == 0 else f"{base}:{k}" if kind == "module" else f"{base}_{k}"
        names[g] = name
        nodes.append(
            CapturedNode(
                name=name,
                kind=kind,
                op=op,
                target=target,
                module_path=mpath,
                inputs=[names[p] for p in inputs],
                input_shapes=[shapes[p] for p in inputs],
                output_shape=shapes[g],
                rule=rule,
            )
        )
    return nodes
