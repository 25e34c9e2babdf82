"""Shape-only forward passes on the meta device, without the slow reference kernels.

On the meta device torch computes output shapes with Python reference implementations; for
normalisations and some activations that costs about a millisecond per call, 50-100x what the
same call costs on a small real CPU tensor, and it is most of the time the package spends
verifying and measuring edited copies. :func:`shape_only` short-circuits those calls when every
tensor is a plain meta tensor that needs no gradient: it checks what the real kernel checks
(channel counts, normalised shapes) and returns an empty tensor of the exact shape, dtype and
strides. Anything else (real tensors, fx proxies, fake or subclassed tensors, tensors that
need a gradient) runs the normal way.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode


def _plain_meta(value: Any) -> bool:
    """A plain (not subclassed, not fake) floating meta tensor."""
    return (
        type(value) in (torch.Tensor, torch.nn.Parameter)
        and value.device.type == "meta"
        and value.is_floating_point()
    )


def _contiguous(x: torch.Tensor) -> torch.Tensor:
    """What a kernel that works on a contiguous copy returns (the normalisations do)."""
    return torch.empty(x.shape, dtype=x.dtype, device=x.device)


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _numel_check(op: str, what: str, tensor: Any, expected: int) -> None:
    if tensor is not None and tensor.numel() != expected:
        raise RuntimeError(f"{op}: {what} should contain {expected} elements not {tensor.numel()}")


def _elementwise(inplace_index: int | None) -> Callable[[torch.Tensor, tuple, dict], Any]:
    """A rule for an activation: same shape, dtype and strides; the input itself in place."""

    def rule(x: torch.Tensor, args: tuple, kwargs: dict) -> Any:
        inplace = inplace_index is not None and bool(
            _arg(args, kwargs, inplace_index, "inplace", False)
        )
        return x if inplace else torch.empty_like(x)

    return rule


def _batch_norm(x: torch.Tensor, args: tuple, kwargs: dict) -> Any:
    # F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    if x.dim() < 2:
        return NotImplemented  # let torch raise its own error
    channels = x.shape[1]
    training = bool(_arg(args, kwargs, 5, "training", False))
    if training and math.prod(x.shape) // channels == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {x.size()}"
        )
    for index, name in enumerate(("running_mean", "running_var", "weight", "bias"), start=1):
        _numel_check("batch_norm", name, _arg(args, kwargs, index, name, None), channels)
    return torch.empty_like(x)


def _layer_norm(x: torch.Tensor, args: tuple, kwargs: dict) -> Any:
    # F.layer_norm(input, normalized_shape, weight, bias, eps)
    shape = _arg(args, kwargs, 1, "normalized_shape", None)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if not shape or tuple(x.shape[-len(shape) :]) != shape:
        return NotImplemented  # torch's own message names the shapes
    for index, name in ((2, "weight"), (3, "bias")):
        tensor = _arg(args, kwargs, index, name, None)
        if tensor is not None and tuple(tensor.shape) != shape:
            return NotImplemented
    return _contiguous(x)


def _group_norm(x: torch.Tensor, args: tuple, kwargs: dict) -> Any:
    # F.group_norm(input, num_groups, weight, bias, eps)
    groups = _arg(args, kwargs, 1, "num_groups", None)
    if x.dim() < 2 or not isinstance(groups, int) or groups < 1 or x.shape[1] % groups:
        return NotImplemented
    for index, name in ((2, "weight"), (3, "bias")):
        _numel_check("group_norm", name, _arg(args, kwargs, index, name, None), x.shape[1])
    return _contiguous(x)


# The calls whose meta kernels are slow in every model of the torchvision zoo, each with the rule
# that gives its output. Keyed by the function object torch hands to __torch_function__.
_RULES: dict[Callable[..., Any], Callable[[torch.Tensor, tuple, dict], Any]] = {
    F.batch_norm: _batch_norm,
    F.layer_norm: _layer_norm,
    F.group_norm: _group_norm,
    F.relu: _elementwise(1),
    F.relu6: _elementwise(1),
    F.hardtanh: _elementwise(3),
    F.hardswish: _elementwise(1),
    F.hardsigmoid: _elementwise(1),
    F.gelu: _elementwise(None),
}


class _ShapeOnly(TorchFunctionMode):
    def __torch_function__(
        self, func: Any, types: Sequence[type], args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = kwargs or {}
        rule = _RULES.get(func)
        if rule is not None:
            x = args[0] if args else kwargs.get("input")
            tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
            grad = torch.is_grad_enabled()
            if _plain_meta(x) and all(
                t.device.type == "meta" and not (grad and t.requires_grad) for t in tensors
            ):
                out = rule(x, args, kwargs)
                if out is not NotImplemented:
                    return out
        return func(*args, **kwargs)


@contextmanager
def shape_only() -> Iterator[None]:
    """Within this block, slow meta-device calls return their output shapes directly.

    Only plain floating meta tensors that need no gradient take the short cut, so it is safe
    around any forward pass: on real tensors it changes nothing.
    """
    with _ShapeOnly():
        yield


def meta_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose parameters and buffers live on the meta device.

    No weights are copied, so this is cheap even for large models; shapes, strides and the
    module tree are those of ``model``.
    """
    memo: dict[int, object] = {}
    for tensor in (*model.parameters(), *model.buffers()):
        meta = torch.empty_like(tensor, device="meta")
        if isinstance(tensor, nn.Parameter):
            meta = nn.Parameter(meta, requires_grad=tensor.requires_grad)
        memo[id(tensor)] = meta
    return copy.deepcopy(model, memo)


def on_meta(model: nn.Module) -> bool:
    """Whether every parameter and buffer of ``model`` is on the meta device (and there is one)."""
    tensors = (*model.parameters(), *model.buffers())
    return bool(tensors) and all(t.device.type == "meta" for t in tensors)
