"""Scaling the width of a model: which layers' channels follow, and their resized copies.

The model's fx graph is walked once. Every tensor belongs to a *width class*: a conv or Linear
starts a new one, pointwise ops, norms and pooling pass theirs on, and merges (``add``,
``mul``, ...) unite the classes of their inputs, so the branches of a residual block share one
width. A class is *fixed* (keeps its width) when it holds the model's input, reaches the
model's output, or comes from or leads to a layer outside the scope; every other class is
scaled by the same rule, so tensors that meet keep equal shapes.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

import torch
from torch import fx, nn

from delve_advisor._modules import replace_module
from delve_advisor.edits._targets import CONV_FUNCTIONS, _node_name, _trace
from delve_advisor.exceptions import EditError

_CHANNEL = (nn.modules.conv._ConvNd, nn.Linear)
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
_MERGES = frozenset(
    {operator.add, operator.iadd, operator.mul, operator.imul, operator.sub, operator.truediv,
     torch.add, torch.mul, torch.sub, "add", "add_", "mul", "mul_", "sub", "sub_"}
)  # fmt: skip
_CONCATS = frozenset({torch.cat, torch.concat, torch.stack, "cat"})
_FUNCTIONAL = CONV_FUNCTIONS | {torch.nn.functional.linear}


def scaled(channels: int, factor: float) -> int:
    """The new width of ``channels`` features: ``max(1, round(channels * factor))``."""
    return max(1, round(channels * factor))


class _Classes:
    """Union-find over width classes, with a fixed flag per root."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.fixed: list[bool] = []

    def new(self, fixed: bool = False) -> int:
        self.parent.append(len(self.parent))
        self.fixed.append(fixed)
        return len(self.parent) - 1

    def root(self, c: int) -> int:
        while self.parent[c] != c:
            self.parent[c] = self.parent[self.parent[c]]
            c = self.parent[c]
        return c

    def union(self, a: int, b: int) -> int:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self.parent[rb] = ra
            self.fixed[ra] = self.fixed[ra] or self.fixed[rb]
        return ra

    def fix(self, c: int) -> None:
        self.fixed[self.root(c)] = True

    def is_fixed(self, c: int) -> bool:
        return self.fixed[self.root(c)]


def _nodes(value: Any) -> Iterable[fx.Node]:
    if isinstance(value, fx.Node):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _nodes(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _nodes(v)


def _in_scope(path: str, scope: str) -> bool:
    return not scope or path == scope or path.startswith(scope + ".")


def _resized(old: nn.Module, path: str, new_in: int, new_out: int) -> nn.Module:
    """A fresh layer like ``old`` with ``new_in`` input and ``new_out`` output features."""
    factory = {"device": old.weight.device, "dtype": old.weight.dtype}
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(new_in, new_out, bias=old.bias is not None, **factory)
    elif isinstance(old, nn.modules.conv._ConvNd):
        groups = old.groups
        depthwise = groups > 1 and groups == old.in_channels
        if depthwise:  # groups follow the channels
            groups = new_in
        if new_in % groups or new_out % groups:
            raise EditError(
                f"scale_width on {path!r}: a conv with groups={old.groups} and "
                f"{old.in_channels}→{old.out_channels} channels would get {new_in}→{new_out} "
                f"channels, not divisible by {groups} groups; pick a factor that keeps them "
                "divisible or leave this module out of the scope (module=...)"
            )
        multiplier = old.out_channels // old.groups
        if depthwise and new_out != new_in * multiplier:
            raise EditError(
                f"scale_width on {path!r}: a depthwise conv with channel multiplier "
                f"{multiplier} would need {new_in * multiplier} outputs, the rule gives "
                f"{new_out}; pick another factor"
            )
        kwargs = {
            "kernel_size": old.kernel_size,
            "stride": old.stride,
            "padding": old.padding,
            "dilation": old.dilation,
            "groups": groups,
            "bias": old.bias is not None,
            "padding_mode": old.padding_mode,
            **factory,
        }
        if old.transposed:
            kwargs["output_padding"] = old.output_padding
        new = type(old)(new_in, new_out, **kwargs)
    else:  # pragma: no cover - callers pass channel layers only
        raise EditError(f"scale_width on {path!r}: cannot resize a {type(old).__name__}")
    new.train(old.training)
    return new


def _resized_norm(old: nn.Module, path: str, features: int) -> nn.Module:
    """A fresh norm layer like ``old`` over ``features`` channels."""
    tensor = next(iter((*old.parameters(), *old.buffers())), None)
    factory = {} if tensor is None else {"device": tensor.device}
    if tensor is not None and tensor.is_floating_point():
        factory["dtype"] = tensor.dtype
    if isinstance(old, nn.modules.batchnorm._NormBase):
        new: nn.Module = type(old)(
            features,
            eps=old.eps,
            momentum=old.momentum,
            affine=old.affine,
            track_running_stats=old.track_running_stats,
            **factory,
        )
    elif isinstance(old, nn.GroupNorm):
        if features % old.num_groups:
            raise EditError(
                f"scale_width on {path!r}: a GroupNorm with {old.num_groups} groups cannot "
                f"normalise {features} channels (not divisible); pick another factor"
            )
        new = nn.GroupNorm(old.num_groups, features, old.eps, old.affine, **factory)
    else:
        shape = tuple(old.normalized_shape)
        if len(shape) != 1:
            raise EditError(
                f"scale_width on {path!r}: a LayerNorm over {shape} cannot follow a width "
                "change; only one normalised (feature) dimension is supported"
            )
        new = nn.LayerNorm(
            features,
            eps=old.eps,
            elementwise_affine=old.elementwise_affine,
            bias=getattr(old, "bias", None) is not None,
            **factory,
        )
    new.train(old.training)
    return new


def scale_model_width(model: nn.Module, factor: float, scope: str, op: str) -> nn.Module:
    """Replaces every hidden conv / Linear / norm in ``scope`` by a copy ``factor`` times as wide.

    Raises:
        EditError: The model cannot be traced, or a layer's width cannot follow (a
            concatenation, an unsupported layer with parameters, groups that do not divide).
    """
    where = f"{op} on {scope!r}" if scope else f"{op} on the whole model"
    try:
        graph = model.graph if isinstance(model, fx.GraphModule) else _trace(model)
    except Exception as error:
        raise EditError(
            f"{where}: torch.fx cannot trace {type(model).__name__} ({type(error).__name__}: "
            f"{error}); width scaling follows the channels along the graph and needs a trace"
        ) from error
    modules = dict(model.named_modules())
    classes = _Classes()
    of: dict[fx.Node, int] = {}
    layers: dict[str, tuple[int, int]] = {}  # path -> (input class, output class)
    norms: dict[str, int] = {}
    for node in graph.nodes:
        inputs = [of[n] for n in _nodes((node.args, node.kwargs)) if n in of]
        if node.op in ("placeholder", "get_attr"):
            of[node] = classes.new(fixed=True)
        elif node.op == "output":
            for c in inputs:
                classes.fix(c)
        elif node.op == "call_module":
            path = str(node.target)
            module = modules[path]
            inside = _in_scope(path, scope)
            if isinstance(module, _CHANNEL):
                out = classes.new(fixed=not inside)
                source = inputs[0] if inputs else classes.new(fixed=True)
                if not inside:
                    classes.fix(source)
                if path in layers:  # one module called twice: its uses share widths
                    source = classes.union(layers[path][0], source)
                    out = classes.union(layers[path][1], out)
                layers[path] = (source, out)
                of[node] = out
            elif inputs:
                c = inputs[0]
                for other in inputs[1:]:
                    c = classes.union(c, other)
                if isinstance(module, _NORMS):
                    if not inside:
                        classes.fix(c)
                    norms[path] = classes.union(norms[path], c) if path in norms else c
                elif next(module.parameters(), None) is not None or not inside:
                    classes.fix(c)  # a layer whose width we cannot change, or out of scope
                of[node] = c
        else:  # call_function / call_method
            target = node.target
            if target in _CONCATS and inputs and not all(classes.is_fixed(c) for c in inputs):
                raise EditError(
                    f"{where}: the graph concatenates channels at {_node_name(node)!r} "
                    f"({target.__name__ if callable(target) else target}); rounded widths do "
                    "not add up to the rounded total, so the layers after it cannot follow. "
                    "Scale a part of the model without the concatenation (module=...)"
                )
            if target in _FUNCTIONAL and inputs:
                for c in inputs:
                    classes.fix(c)
            if not inputs:
                continue
            c = inputs[0]
            if target in _MERGES:
                for other in inputs[1:]:
                    c = classes.union(c, other)
            elif target in _CONCATS:
                c = classes.new(fixed=True)
            of[node] = c
    for path, (source, out) in layers.items():
        module = modules[path]
        old_in = module.in_features if isinstance(module, nn.Linear) else module.in_channels
        old_out = module.out_features if isinstance(module, nn.Linear) else module.out_channels
        new_in = old_in if classes.is_fixed(source) else scaled(old_in, factor)
        new_out = old_out if classes.is_fixed(out) else scaled(old_out, factor)
        if (new_in, new_out) != (old_in, old_out):
            replace_module(model, path, _resized(module, path, new_in, new_out))
    for path, c in norms.items():
        module = modules[path]
        if classes.is_fixed(c):
            continue
        if isinstance(module, nn.modules.batchnorm._NormBase):
            old = module.num_features
        elif isinstance(module, nn.GroupNorm):
            old = module.num_channels
        else:
            old = module.normalized_shape[-1]
        replace_module(model, path, _resized_norm(module, path, scaled(old, factor)))
    if isinstance(model, fx.GraphModule):
        model.recompile()
    return model
