"""Receptive-field rules: what each module type or function does to r, j and the spatial layout.

A rule is either an op description (:class:`WindowOp`, :class:`TransposedOp`,
:class:`UpsampleOp`, :class:`GlobalOp`, :class:`PointwiseOp`, :class:`MergeOp`) used for every
call, or a callable that receives a :class:`RuleContext` and returns one. Rules live in a
:class:`~delve_advisor._registry.TypeRegistry`: module types are looked up along the MRO (a
subclass of ``nn.Conv2d`` inherits the convolution rule), functions and tensor methods exactly.
"""

from __future__ import annotations

import math
import operator
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import torch
import torch.nn.functional as F
from torch import nn

from delve_advisor._registry import TypeRegistry, register_or_decorate
from delve_advisor.exceptions import InvalidArgumentError

__all__ = [
    "GlobalOp",
    "MergeOp",
    "PointwiseOp",
    "RFOp",
    "RuleContext",
    "TransposedOp",
    "UpsampleOp",
    "WindowOp",
    "get_rf_rule",
    "list_rf_rules",
    "register_rf_rule",
    "unregister_rf_rule",
]

_IntOrTuple = Union[int, Sequence[int]]  # noqa: UP007


def _per_axis(value: Any, nd: int, what: str) -> tuple:
    """Expands an int (or a 1-tuple) to one value per spatial axis."""
    if isinstance(value, (int, float)):
        return (value,) * nd
    values = tuple(value)
    if len(values) == 1:
        return values * nd
    if len(values) != nd:
        raise InvalidArgumentError(
            f"{what} has {len(values)} values {values}, the input has {nd} spatial axes"
        )
    return values


@dataclass(frozen=True)
class WindowOp:
    """A sliding window (convolution, pooling): ``r ← r + d·(k - 1)·j`` and ``j ← j·s``.

    Args:
        kernel: Kernel size, one int for every axis or one per axis (h, w).
        stride: Stride, int or per axis.
        dilation: Dilation, int or per axis.

    Example:
        >>> from delve_advisor.graph import receptive_field
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, dilation=4))
        >>> receptive_field(net, (1, 16, 16)).layer("0").r_max  # r = 1 + 4 * (3 - 1)
        (9, 9)
    """

    kernel: _IntOrTuple
    stride: _IntOrTuple = 1
    dilation: _IntOrTuple = 1


@dataclass(frozen=True)
class TransposedOp:
    """A transposed convolution: ``r ← r + (⌈k'/s⌉ - 1)·j`` and ``j ← j / s``.

    ``k' = d·(k - 1) + 1`` is the dilated kernel extent.

    Args:
        kernel: Kernel size, int or per axis.
        stride: Stride (the upsampling factor), int or per axis.
        dilation: Dilation, int or per axis.

    Example:
        >>> op = TransposedOp(kernel=4, stride=2)
        >>> op.kernel, op.stride
        (4, 2)
    """

    kernel: _IntOrTuple
    stride: _IntOrTuple = 1
    dilation: _IntOrTuple = 1


@dataclass(frozen=True)
class UpsampleOp:
    """Upsampling by ``scale``: ``r ← r + extra·j``, then ``j ← j / scale``.

    Args:
        scale: Upsampling factor, a number or one per axis (may be fractional).
        extra: Input pixels each output reads beyond one: 0 for nearest, 1 for (bi)linear,
            3 for bicubic.

    Example:
        >>> UpsampleOp(scale=2, extra=1).extra  # bilinear reads one pixel more
        1
    """

    scale: float | Sequence[float]
    extra: int = 0


@dataclass(frozen=True)
class GlobalOp:
    """Every output sees the whole input (global pooling, attention, flatten→linear): r = ∞.

    Example:
        >>> from delve_advisor.graph import receptive_field
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.AdaptiveAvgPool2d(1))
        >>> receptive_field(net, (1, 16, 16)).layer("1").is_global
        True
    """


@dataclass(frozen=True)
class PointwiseOp:
    """Each output position reads only the same position (activation, norm, dropout, padding).

    Args:
        axes: The tensor dimensions that hold the spatial axes after the op (h, w order), when
            the op moves them (a permute); None keeps the input's layout.

    Example:
        >>> get_rf_rule(torch.nn.ReLU) == PointwiseOp()
        True
    """

    axes: tuple[int, ...] | None = None


@dataclass(frozen=True)
class MergeOp:
    """Combines several tensors (add, cat, mul): r_min = min, r_max = max over the inputs.

    Args:
        gate: True for a multiplicative gate (``x * sigmoid(g)``): inputs that are global and
            broadcast over space (a squeeze-excitation gate) do not change the result.

    Example:
        >>> get_rf_rule(torch.add)
        MergeOp(gate=False)
    """

    gate: bool = False


RFOp = Union[WindowOp, TransposedOp, UpsampleOp, GlobalOp, PointwiseOp, MergeOp]  # noqa: UP007
_OP_TYPES = (WindowOp, TransposedOp, UpsampleOp, GlobalOp, PointwiseOp, MergeOp)


@dataclass(frozen=True)
class TensorInfo:
    """Shape and dtype of a tensor argument, as seen by a rule.

    Example:
        >>> TensorInfo(shape=(1, 3, 8, 8), dtype=torch.float32).shape
        (1, 3, 8, 8)
    """

    shape: tuple[int, ...]
    dtype: torch.dtype | None = None


@dataclass
class RuleContext:
    """What a rule sees about one call.

    Attributes:
        target: The module instance, or the function (tensor methods as ``torch.Tensor.<name>``).
        args: Positional arguments; tensors appear as :class:`TensorInfo`.
        kwargs: Keyword arguments; tensors appear as :class:`TensorInfo`.
        input_shapes: Shapes of the tensor inputs that come from the graph, in argument order.
        output_shape: Shape of the (first) output tensor, or None.
        axes: The dimensions holding the spatial axes in the first spatial input, or None.
        nd: Number of spatial axes of the model input.

    Example:
        >>> ctx = RuleContext(target=torch.nn.MaxPool2d(2), input_shapes=[(1, 3, 8, 8)])
        >>> WindowOp(kernel=ctx.target.kernel_size, stride=ctx.target.stride).stride
        2
    """

    target: Any
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    output_shape: tuple[int, ...] | None = None
    axes: tuple[int, ...] | None = None
    nd: int = 2

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        """Returns the argument given by position ``index`` or keyword ``name``."""
        if name in self.kwargs:
            return self.kwargs[name]
        if index < len(self.args):
            return self.args[index]
        return default

    @property
    def input_spatial(self) -> tuple[int, ...] | None:
        """Spatial sizes of the first spatial input, or None."""
        if self.axes is None or not self.input_shapes:
            return None
        return tuple(self.input_shapes[0][a] for a in self.axes)

    @property
    def output_spatial(self) -> tuple[int, ...] | None:
        """Spatial sizes of the output, assuming it keeps the input's layout, or None."""
        if self.axes is None or self.output_shape is None:
            return None
        if len(self.output_shape) <= max(self.axes):
            return None
        return tuple(self.output_shape[a] for a in self.axes)


Rule = Union[RFOp, Callable[[RuleContext], RFOp]]  # noqa: UP007

_RULES: TypeRegistry[Rule] = TypeRegistry("receptive-field rule", list_hint="list_rf_rules()")


def _check_rule(rule: Any) -> Rule:
    if not isinstance(rule, _OP_TYPES) and not callable(rule):
        raise InvalidArgumentError(
            f"rule must be an op (WindowOp, TransposedOp, UpsampleOp, GlobalOp, PointwiseOp, "
            f"MergeOp) or a callable returning one; got {type(rule).__name__}"
        )
    return rule


_SWIN = "torchvision.models.swin_transformer"
_swin_registered = False


def _register_library_rules() -> None:
    """Registers the rules for torchvision's windowed-attention blocks once torchvision's Swin
    module is loaded (a model built from it has loaded it).

    Importing torchvision here instead would add about 2 s to every ``import delve_advisor``
    (torchvision.ops loads torch._dynamo). Attention is global (DESIGN.md); a rule the user
    registered first for one of these classes is kept.
    """
    global _swin_registered
    swin = sys.modules.get(_SWIN)
    if _swin_registered or swin is None:
        return
    _swin_registered = True
    rules: dict[Any, Rule] = {
        swin.ShiftedWindowAttention: GlobalOp(),
        swin.PatchMerging: WindowOp(2, 2),
    }
    if hasattr(swin, "ShiftedWindowAttentionV2"):
        rules[swin.ShiftedWindowAttentionV2] = GlobalOp()
        rules[swin.PatchMergingV2] = WindowOp(2, 2)
    registered = set(_RULES.keys())
    for key, rule in rules.items():
        if key not in registered:
            _RULES.register(key, rule)


def register_rf_rule(
    type_or_function: Any, rule: Rule | None = None, *, override: bool = False
) -> Any:
    """Registers what a module type or a function does to the receptive field.

    Args:
        type_or_function: An ``nn.Module`` subclass (subclasses inherit the rule) or a function
            called in ``forward`` (``torch.roll``, ``F.pixel_shuffle``; tensor methods as
            ``torch.Tensor.<name>``). A registered module type is kept as one node in the graph.
        rule: An op description (``WindowOp(kernel=3, stride=2)``, ``GlobalOp()``, …) used for
            every call, or a callable taking a :class:`RuleContext` and returning one; omit it
            to get a decorator for such a callable.
        override: Replace an existing rule for the same key instead of raising.

    Returns:
        ``rule``, or a decorator that registers and returns the function it decorates.

    Raises:
        InvalidArgumentError: ``rule`` is neither an op description nor callable.
        DuplicateRegistrationError: A rule is registered for the key and ``override`` is False.

    Example:
        >>> import torch
        >>> class Blur(torch.nn.Module):
        ...     def forward(self, x):
        ...         return x
        >>> _ = register_rf_rule(Blur, WindowOp(kernel=5))
        >>> unregister_rf_rule(Blur)
        >>> @register_rf_rule(Blur)
        ... def blur_rule(ctx):
        ...     return WindowOp(kernel=5)
        >>> get_rf_rule(Blur) is blur_rule
        True
        >>> unregister_rf_rule(Blur)
    """
    _register_library_rules()
    return register_or_decorate(
        _RULES, type_or_function, rule, override=override, check=_check_rule
    )


def unregister_rf_rule(type_or_function: Any) -> None:
    """Removes the rule registered for exactly ``type_or_function``.

    Raises:
        UnknownNameError: Nothing is registered for that key; the message lists the keys.

    Example:
        >>> class Shift(torch.nn.Module):
        ...     def forward(self, x):
        ...         return x
        >>> _ = register_rf_rule(Shift, PointwiseOp())
        >>> unregister_rf_rule(Shift)
        >>> get_rf_rule(Shift) is None
        True
    """
    _register_library_rules()
    _RULES.unregister(type_or_function)


def list_rf_rules() -> list[str]:
    """The module types and functions that have a receptive-field rule, named and sorted.

    Example:
        >>> "torch.nn.modules.conv._ConvNd" in list_rf_rules()
        True
    """
    _register_library_rules()
    return _RULES.names()


def get_rf_rule(type_or_function: Any) -> Rule | None:
    """Returns the rule registered for a module type (along its MRO) or a function, or None.

    Example:
        >>> get_rf_rule(torch.nn.ReLU)
        PointwiseOp(axes=None)
    """
    _register_library_rules()
    return _RULES.lookup(type_or_function)


def resolve_rule(rule: Rule, ctx: RuleContext) -> RFOp:
    """Applies ``rule`` to ``ctx`` and returns the op description."""
    op = rule if isinstance(rule, _OP_TYPES) else rule(ctx)
    if not isinstance(op, _OP_TYPES):
        raise InvalidArgumentError(
            f"the receptive-field rule for {ctx.target!r} returned {op!r}, not an op description"
        )
    return op


# --------------------------------------------------------------------------- built-in rules


def _conv_module(ctx: RuleContext) -> RFOp:
    m = ctx.target
    return WindowOp(m.kernel_size, m.stride, m.dilation)


def _conv_transpose_module(ctx: RuleContext) -> RFOp:
    m = ctx.target
    return TransposedOp(m.kernel_size, m.stride, m.dilation)


def _pool_module(ctx: RuleContext) -> RFOp:
    m = ctx.target
    stride = m.stride if m.stride not in (None, ()) else m.kernel_size
    return WindowOp(m.kernel_size, stride, getattr(m, "dilation", 1))


def _adaptive(ctx: RuleContext) -> RFOp:
    """Adaptive pooling, read from the real shapes: identity, global, a window or a repeat."""
    sizes_in, sizes_out = ctx.input_spatial, ctx.output_spatial
    if sizes_in is None or sizes_out is None:
        return GlobalOp()
    if sizes_in == sizes_out:
        return PointwiseOp()
    if all(o == 1 for o in sizes_out):
        return GlobalOp()
    kernels, strides, scales, extra = [], [], [], 0
    upsample = all(o >= i for i, o in zip(sizes_in, sizes_out, strict=False))
    for i, o in zip(sizes_in, sizes_out, strict=False):
        # window of output k: [floor(k·i/o), ceil((k+1)·i/o))
        widths = [math.ceil((k + 1) * i / o) - (k * i) // o for k in range(o)]
        kernels.append(max(widths))
        strides.append(i / o)
        scales.append(o / i)
        extra = max(extra, max(widths) - 1)
    if upsample:
        return UpsampleOp(tuple(scales), extra=extra)
    return WindowOp(tuple(kernels), tuple(int(s) if s == int(s) else s for s in strides), 1)


def _upsample_from_shapes(ctx: RuleContext, mode: str | None) -> RFOp:
    sizes_in, sizes_out = ctx.input_spatial, ctx.output_spatial
    if sizes_in is None or sizes_out is None:
        return PointwiseOp()
    scale = tuple(o / i for i, o in zip(sizes_in, sizes_out, strict=False))
    extra = {"nearest": 0, "nearest-exact": 0, "area": 0, "bicubic": 3}.get(mode or "nearest", 1)
    if mode == "area":  # area interpolation is adaptive average pooling
        return _adaptive(ctx)
    return UpsampleOp(scale, extra=extra)


def _upsample_module(ctx: RuleContext) -> RFOp:
    return _upsample_from_shapes(ctx, ctx.target.mode)


def _interpolate_fn(ctx: RuleContext) -> RFOp:
    return _upsample_from_shapes(ctx, ctx.arg(3, "mode", "nearest"))


def _pixel_shuffle_module(ctx: RuleContext) -> RFOp:
    return UpsampleOp(ctx.target.upscale_factor, extra=0)


def _pixel_unshuffle_module(ctx: RuleContext) -> RFOp:
    f = ctx.target.downscale_factor
    return WindowOp(f, f, 1)


def _feature_dims_rule(dims: Sequence[int] | None, ctx: RuleContext) -> RFOp:
    """Global when the op mixes along a spatial dimension, pointwise otherwise."""
    if ctx.axes is None or not ctx.input_shapes:
        return PointwiseOp()
    rank = len(ctx.input_shapes[0])
    if dims is None:
        return GlobalOp()
    normalized = {d % rank for d in dims}
    return GlobalOp() if normalized & set(ctx.axes) else PointwiseOp()


def _last_dim(ctx: RuleContext) -> RFOp:
    return _feature_dims_rule([-1], ctx)


def _softmax_module(ctx: RuleContext) -> RFOp:
    dim = ctx.target.dim
    return _feature_dims_rule(None if dim is None else [dim], ctx)


def _layer_norm_module(ctx: RuleContext) -> RFOp:
    return PointwiseOp()  # DESIGN.md: normalisations are pointwise


def _dims_arg(ctx: RuleContext, index: int = 1, name: str = "dim") -> RFOp:
    dim = ctx.arg(index, name, None)
    if dim is None:
        return GlobalOp()
    return _feature_dims_rule([dim] if isinstance(dim, int) else list(dim), ctx)


def _conv_fn(ctx: RuleContext) -> RFOp:
    weight = ctx.arg(1, "weight")
    kernel = tuple(weight.shape[2:])
    return WindowOp(kernel, ctx.arg(3, "stride", 1), ctx.arg(5, "dilation", 1))


def _conv_transpose_fn(ctx: RuleContext) -> RFOp:
    weight = ctx.arg(1, "weight")
    kernel = tuple(weight.shape[2:])
    return TransposedOp(kernel, ctx.arg(3, "stride", 1), ctx.arg(7, "dilation", 1))


def _max_pool_fn(ctx: RuleContext) -> RFOp:
    kernel = ctx.arg(1, "kernel_size")
    stride = ctx.arg(2, "stride", None)
    if stride in (None, (), []):
        stride = kernel
    return WindowOp(kernel, stride, ctx.arg(4, "dilation", 1))


def _avg_pool_fn(ctx: RuleContext) -> RFOp:
    kernel = ctx.arg(1, "kernel_size")
    stride = ctx.arg(2, "stride", None)
    if stride in (None, (), []):
        stride = kernel
    return WindowOp(kernel, stride, 1)


def _lp_pool_fn(ctx: RuleContext) -> RFOp:
    kernel = ctx.arg(2, "kernel_size")
    stride = ctx.arg(3, "stride", None)
    return WindowOp(kernel, kernel if stride in (None, (), []) else stride, 1)


def _pixel_shuffle_fn(ctx: RuleContext) -> RFOp:
    return UpsampleOp(ctx.arg(1, "upscale_factor"), extra=0)


def _pixel_unshuffle_fn(ctx: RuleContext) -> RFOp:
    f = ctx.arg(1, "downscale_factor")
    return WindowOp(f, f, 1)


def _softmax_fn(ctx: RuleContext) -> RFOp:
    return _dims_arg(ctx, 1, "dim")


def _register_builtins() -> None:
    from torch.nn.modules import activation, conv, dropout, padding, pooling

    pointwise = PointwiseOp()
    modules: dict[type, Rule] = {
        conv._ConvNd: _conv_module,
        conv._ConvTransposeNd: _conv_transpose_module,
        pooling._MaxPoolNd: _pool_module,
        pooling._AvgPoolNd: _pool_module,
        pooling._LPPoolNd: _pool_module,
        pooling._MaxUnpoolNd: _conv_transpose_module,
        pooling._AdaptiveAvgPoolNd: _adaptive,
        pooling._AdaptiveMaxPoolNd: _adaptive,
        nn.Upsample: _upsample_module,
        nn.PixelShuffle: _pixel_shuffle_module,
        nn.PixelUnshuffle: _pixel_unshuffle_module,
        nn.Linear: _last_dim,
        nn.Bilinear: _last_dim,
        nn.LazyLinear: _last_dim,
        nn.MultiheadAttention: GlobalOp(),
        nn.Transformer: GlobalOp(),
        nn.TransformerEncoder: GlobalOp(),
        nn.TransformerDecoder: GlobalOp(),
        nn.TransformerEncoderLayer: GlobalOp(),
        nn.TransformerDecoderLayer: GlobalOp(),
        nn.RNNBase: GlobalOp(),
        nn.Fold: GlobalOp(),
        nn.Unfold: GlobalOp(),
        nn.Softmax: _softmax_module,
        nn.Softmin: _softmax_module,
        nn.LogSoftmax: _softmax_module,
        nn.Softmax2d: pointwise,
        nn.LayerNorm: _layer_norm_module,
        nn.GroupNorm: pointwise,
        nn.LocalResponseNorm: pointwise,
        nn.modules.batchnorm._NormBase: pointwise,
        nn.CrossMapLRN2d: pointwise,
        nn.Identity: pointwise,
        nn.ChannelShuffle: pointwise,
        nn.Flatten: _flatten_module,
        nn.Unflatten: _reshape_like,
        dropout._DropoutNd: pointwise,
        padding._ConstantPadNd: pointwise,
        padding._ReflectionPadNd: pointwise,
        padding._ReplicationPadNd: pointwise,
    }
    if hasattr(nn, "RMSNorm"):
        modules[nn.RMSNorm] = pointwise
    if hasattr(padding, "_CircularPadNd"):
        modules[padding._CircularPadNd] = pointwise
    handled = {nn.MultiheadAttention, nn.Softmax, nn.Softmin, nn.LogSoftmax, nn.Softmax2d}
    for name in activation.__all__:
        klass = getattr(activation, name)
        if isinstance(klass, type) and issubclass(klass, nn.Module) and klass not in handled:
            modules[klass] = pointwise
    for key, rule in modules.items():
        _RULES.register(key, rule)

    def method(name: str) -> Any:
        return getattr(torch.Tensor, name)

    functions: dict[Any, Rule] = {}
    for fn in (torch.conv1d, torch.conv2d, torch.conv3d, F.conv1d, F.conv2d, F.conv3d):
        functions[fn] = _conv_fn
    for fn in (
        torch.conv_transpose1d,
        torch.conv_transpose2d,
        torch.conv_transpose3d,
        F.conv_transpose1d,
        F.conv_transpose2d,
        F.conv_transpose3d,
    ):
        functions[fn] = _conv_transpose_fn
    for fn in (
        F.max_pool1d,
        F.max_pool2d,
        F.max_pool3d,
        F.max_pool1d_with_indices,
        F.max_pool2d_with_indices,
        F.max_pool3d_with_indices,
        torch.max_pool1d,
        torch.max_pool2d,
        torch.max_pool3d,
    ):
        functions[fn] = _max_pool_fn
    for fn in (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, torch.avg_pool1d):
        functions[fn] = _avg_pool_fn
    for fn in (F.lp_pool1d, F.lp_pool2d):
        functions[fn] = _lp_pool_fn
    for fn in (
        F.adaptive_avg_pool1d,
        F.adaptive_avg_pool2d,
        F.adaptive_avg_pool3d,
        F.adaptive_max_pool1d,
        F.adaptive_max_pool2d,
        F.adaptive_max_pool3d,
        torch.adaptive_avg_pool1d,
        torch.adaptive_max_pool1d,
    ):
        functions[fn] = _adaptive
    for fn in (F.interpolate, F.upsample):
        functions[fn] = _interpolate_fn
    functions[F.upsample_nearest] = lambda ctx: _upsample_from_shapes(ctx, "nearest")
    functions[F.upsample_bilinear] = lambda ctx: _upsample_from_shapes(ctx, "bilinear")
    for fn in (F.pixel_shuffle, torch.pixel_shuffle):
        functions[fn] = _pixel_shuffle_fn
    for fn in (F.pixel_unshuffle, torch.pixel_unshuffle):
        functions[fn] = _pixel_unshuffle_fn
    for fn in (F.linear, torch.matmul, torch.bmm, torch.einsum, torch.mm, operator.matmul):
        functions[fn] = _last_dim if fn is F.linear else GlobalOp()
    functions[method("matmul")] = GlobalOp()
    functions[method("bmm")] = GlobalOp()
    functions[F.scaled_dot_product_attention] = GlobalOp()
    for fn in (F.softmax, F.log_softmax, F.softmin, torch.softmax, torch.log_softmax):
        functions[fn] = _softmax_fn
    functions[method("softmax")] = _softmax_fn
    functions[method("log_softmax")] = _softmax_fn
    for name in ("mean", "sum", "amax", "amin", "std", "var", "logsumexp", "prod", "norm"):
        functions[getattr(torch, name)] = _dims_arg
        functions[method(name)] = _dims_arg
    # max / min are reductions only when a dim is given; elementwise with a tensor argument
    for fn in (torch.max, torch.min, method("max"), method("min")):
        functions[fn] = _max_min
    for fn in (operator.add, operator.sub, operator.iadd, operator.isub, torch.add, torch.sub):
        functions[fn] = MergeOp()
    for name in ("add", "sub", "add_", "sub_"):
        functions[method(name)] = MergeOp()
    for fn in (operator.mul, operator.imul, operator.truediv, torch.mul, torch.div):
        functions[fn] = MergeOp(gate=True)
    for name in ("mul", "div", "mul_", "div_"):
        functions[method(name)] = MergeOp(gate=True)
    for fn in (torch.cat, torch.concat, torch.stack, torch.maximum, torch.minimum, torch.where):
        functions[fn] = MergeOp()
    for fn in (torch.flatten, method("flatten")):
        functions[fn] = _flatten_fn
    for fn in (torch.permute, method("permute")):
        functions[fn] = _permute_fn
    for fn in (torch.transpose, method("transpose"), torch.swapaxes, method("swapaxes")):
        functions[fn] = _transpose_fn
    for name in ("view", "reshape", "squeeze", "unsqueeze", "contiguous", "expand", "chunk"):
        functions[method(name)] = _reshape_like
    for fn in (torch.reshape, torch.squeeze, torch.unsqueeze, torch.chunk, torch.split):
        functions[fn] = _reshape_like
    functions[operator.getitem] = _reshape_like
    for key, rule in functions.items():
        if _RULES.lookup(key) is None:
            _RULES.register(key, rule)


def _max_min(ctx: RuleContext) -> RFOp:
    other = ctx.arg(1, "dim", None)
    if isinstance(other, TensorInfo):
        return MergeOp()
    if isinstance(other, int):
        return _feature_dims_rule([other], ctx)
    return GlobalOp()


# ------------------------------------------------------------------ layout (shape) operations


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def infer_axes(
    in_shape: Sequence[int], axes: tuple[int, ...] | None, out_shape: Sequence[int] | None
) -> tuple[int, ...] | None:
    """Finds where the spatial axes of ``in_shape`` went in ``out_shape`` after a reshape.

    Returns the dims of ``out_shape`` holding the spatial axes, or None when the reshape merged
    or split them (the spatial layout is lost).
    """
    if axes is None or out_shape is None:
        return None
    in_shape, out_shape = tuple(in_shape), tuple(out_shape)
    if in_shape == out_shape:
        return axes
    nd = len(axes)
    if list(axes) != list(range(axes[0], axes[0] + nd)):
        return None
    spatial = list(in_shape[axes[0] : axes[0] + nd])
    before, after = _prod(in_shape[: axes[0]]), _prod(in_shape[axes[0] + nd :])
    for start in range(len(out_shape) - nd + 1):
        if (
            list(out_shape[start : start + nd]) == spatial
            and _prod(out_shape[:start]) == before
            and _prod(out_shape[start + nd :]) == after
        ):
            return tuple(range(start, start + nd))
    # channel slicing (x[:, 0]) keeps trailing spatial axes and the batch
    trailing = tuple(range(len(in_shape) - nd, len(in_shape)))
    if (
        axes == trailing
        and len(out_shape) >= nd + 1
        and list(out_shape[-nd:]) == spatial
        and out_shape[0] == in_shape[0]
    ):
        return tuple(range(len(out_shape) - nd, len(out_shape)))
    return None


def _reshape_like(ctx: RuleContext) -> RFOp:
    if ctx.axes is None:
        return PointwiseOp()
    new = infer_axes(ctx.input_shapes[0], ctx.axes, ctx.output_shape)
    return GlobalOp() if new is None else PointwiseOp(axes=new)


def _flatten_range(ctx: RuleContext, start: int, end: int) -> RFOp:
    if ctx.axes is None:
        return PointwiseOp()
    rank = len(ctx.input_shapes[0])
    start, end = start % rank, end % rank
    if any(start <= a <= end for a in ctx.axes) and end > start:
        return GlobalOp()
    shift = max(0, end - start)
    return PointwiseOp(axes=tuple(a - shift if a > end else a for a in ctx.axes))


def _flatten_module(ctx: RuleContext) -> RFOp:
    return _flatten_range(ctx, ctx.target.start_dim, ctx.target.end_dim)


def _flatten_fn(ctx: RuleContext) -> RFOp:
    return _flatten_range(ctx, ctx.arg(1, "start_dim", 0), ctx.arg(2, "end_dim", -1))


def _permute_fn(ctx: RuleContext) -> RFOp:
    if ctx.axes is None:
        return PointwiseOp()
    dims = ctx.args[1:] if len(ctx.args) > 2 else ctx.arg(1, "dims")
    if isinstance(dims, int):
        dims = (dims,)
    rank = len(ctx.input_shapes[0])
    dims = [d % rank for d in dims]
    return PointwiseOp(axes=tuple(dims.index(a) for a in ctx.axes))


def _transpose_fn(ctx: RuleContext) -> RFOp:
    if ctx.axes is None:
        return PointwiseOp()
    rank = len(ctx.input_shapes[0])
    d0, d1 = ctx.arg(1, "dim0") % rank, ctx.arg(2, "dim1") % rank
    swap = {d0: d1, d1: d0}
    return PointwiseOp(axes=tuple(swap.get(a, a) for a in ctx.axes))


_register_builtins()
