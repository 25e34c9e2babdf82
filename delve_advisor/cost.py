"""Cost of a model: parameter counts and FLOPs per layer, measured at one input size.

FLOPs are counted with :class:`torch.utils.flop_counter.FlopCounterMode` on one forward pass at
batch size 1, in eval mode and without gradients. That counter follows the usual convention: a
multiply-add is 2 FLOPs (a ``Conv2d`` costs ``2·C_in·C_out·k_h·k_w·H_out·W_out / groups``, a
``Linear`` ``2·in·out``), bias additions, activations, normalisation and pooling count 0, and
operations it has no formula for count 0.

Per-layer attribution. ``FlopCounterMode.get_flop_counts()`` keys its rows by a name built by its
``ModuleTracker``: the root is named after its class (``"ResNet"``) and every child is
``"<parent name>.<attribute>"`` (``"ResNet.layer1.0.conv1"``), plus a ``"Global"`` row. Stripping
the root class name gives the dotted path in most models, but the scheme breaks down for a module
registered under two paths (it keeps whichever name it assigned last) and for a root class named
``Global``. :func:`layer_costs` therefore does not parse those names: it registers its own forward
pre- and post-hooks on every leaf module and records how much the counter's running total grew
while that module ran, keyed by the module object and reported under its ``named_modules()``
path. Repeated calls of one module (a ``ReLU`` used twice) are summed and counted in ``calls``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from delve_advisor._failures import SIZE_ERROR_TYPES, is_input_size_error
from delve_advisor._hooks import Hooks
from delve_advisor._meta import shape_only
from delve_advisor._modules import eval_mode
from delve_advisor.exceptions import InputSizeError, InvalidArgumentError

__all__ = ["count_parameters", "layer_costs", "total_flops"]

_COLUMNS = ["module_path", "type", "params", "flops", "calls", "output_shape"]


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Counts the parameters of a module and its submodules, each shared tensor once.

    Args:
        module: The module to count.
        trainable_only: Count only parameters with ``requires_grad``.

    Returns:
        The number of scalar parameters.

    Raises:
        InvalidArgumentError: ``module`` is not an ``nn.Module``.

    Example:
        >>> count_parameters(torch.nn.Linear(3, 2))
        8
    """
    if not isinstance(module, nn.Module):
        raise InvalidArgumentError(
            f"count_parameters expects an nn.Module, got {type(module).__name__}"
        )
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _check_input_size(input_size: Sequence[int]) -> tuple[int, ...]:
    if isinstance(input_size, int) or not isinstance(input_size, Sequence):
        raise InputSizeError(
            f"input_size must be the shape of one sample, e.g. (3, 224, 224), got {input_size!r}"
        )
    dims = tuple(input_size)
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise InputSizeError(
            f"input_size must be a non-empty tuple of positive ints such as (3, 224, 224), "
            f"got {input_size!r}"
        )
    return dims


def _resolve(
    model: nn.Module, device: str | torch.device | None
) -> tuple[nn.Module, torch.device, torch.dtype]:
    """Returns the module to run (a copy when it must move), its device and its float dtype."""
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(f"expected an nn.Module, got {type(model).__name__}")
    tensors = [*model.parameters(), *model.buffers()]
    here = tensors[0].device if tensors else torch.device("cpu")
    dtype = next((t.dtype for t in tensors if t.is_floating_point()), torch.get_default_dtype())
    if device is None:
        return model, here, dtype
    target = torch.device(device)
    if target.type == here.type and (target.index is None or target.index == here.index):
        return model, here, dtype
    return copy.deepcopy(model).to(target), target, dtype


def _shape_of(output: Any) -> tuple | None:
    """Per-sample shape of a module output (batch dimension dropped); nested for tuples."""
    if isinstance(output, torch.Tensor):
        return tuple(output.shape[1:]) if output.dim() > 0 else ()
    if isinstance(output, (tuple, list)):
        return tuple(_shape_of(o) for o in output)
    return None


def _run_counted(
    model: nn.Module,
    dims: tuple[int, ...],
    device: str | torch.device | None,
    leaves: bool,
) -> tuple[int, dict[nn.Module, list[Any]]]:
    """One eval-mode forward at batch 1 under a FLOP counter; per-leaf totals if ``leaves``."""
    run_model, dev, dtype = _resolve(model, device)
    stats: dict[nn.Module, list[Any]] = {}
    counter = FlopCounterMode(display=False)
    with Hooks() as hooks:
        if leaves:
            starts: dict[nn.Module, list[int]] = {}

            def pre_hook(module: nn.Module, args: Any) -> None:
                starts.setdefault(module, []).append(counter.get_total_flops())

            def post_hook(module: nn.Module, args: Any, output: Any) -> None:
                flops = counter.get_total_flops() - starts[module].pop()
                entry = stats.setdefault(module, [0, 0, None])
                entry[0] += flops
                entry[1] += 1
                if entry[2] is None:
                    entry[2] = _shape_of(output)

            for module in run_model.modules():
                if next(module.children(), None) is None:
                    hooks.forward_pre(module, pre_hook)
                    hooks.forward(module, post_hook)
        x = torch.zeros((1, *dims), device=dev, dtype=dtype)
        try:
            with eval_mode(run_model), torch.no_grad(), counter, shape_only():
                run_model(x)
        except SIZE_ERROR_TYPES as error:
            if not is_input_size_error(error):
                raise
            shape = ", ".join(map(str, dims))
            raise InputSizeError(
                f"{type(model).__name__} cannot run on an input of shape (1, {shape}): {error}"
            ) from error
    if run_model is not model:
        # Statistics were keyed by the copy's modules; re-key them by the original's.
        originals = dict(zip(run_model.modules(), model.modules(), strict=True))
        stats = {originals[m]: v for m, v in stats.items()}
    return counter.get_total_flops(), stats


def total_flops(
    model: nn.Module, input_size: Sequence[int], device: str | torch.device | None = None
) -> int:
    """Measures the FLOPs of one forward pass at batch size 1.

    Args:
        model: The model; it is run in eval mode without gradients and its modes are restored.
        input_size: Shape of one sample without the batch dimension, e.g. ``(3, 224, 224)``.
        device: Where to run; ``None`` runs where the model's parameters are. A different device
            runs on a copy, the model itself is not moved. ``"meta"`` counts without computing
            anything (fast at large sizes; fails for models whose forward reads tensor values).

    Returns:
        The FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode`` (multiply-add = 2).

    Raises:
        InputSizeError: ``input_size`` is malformed or the model cannot run on it.
        InvalidArgumentError: ``model`` is not an ``nn.Module``.

    Example:
        >>> total_flops(torch.nn.Linear(4, 3), (4,))
        24
    """
    total, _ = _run_counted(model, _check_input_size(input_size), device, leaves=False)
    return total


def layer_costs(
    model: nn.Module, input_size: Sequence[int], device: str | torch.device | None = None
) -> pd.DataFrame:
    """Tabulates parameters, FLOPs and output shape of every leaf module.

    A leaf is a module without children. Its FLOPs are those counted while it ran (summed over
    repeated calls); operations outside any leaf (functional calls in a container's
    ``forward``, such as attention matmuls or residual additions) are reported in
    ``df.attrs["unattributed_flops"]``, so that ``df.flops.sum() + unattributed == total``.

    Args:
        model: The model; it is run in eval mode without gradients and its modes are restored.
        input_size: Shape of one sample without the batch dimension, e.g. ``(3, 224, 224)``.
        device: Where to run; ``None`` runs where the model's parameters are, another device
            runs on a copy (``"meta"`` counts without computing, see :func:`total_flops`).

    Returns:
        One row per leaf in ``named_modules()`` order with columns ``module_path`` (dotted
        name), ``type`` (class name), ``params`` (the leaf's own parameters), ``flops``,
        ``calls`` (0 for a leaf the forward pass never reached) and ``output_shape`` (per-sample
        shape of its first output, batch dimension dropped; ``None`` when not called).
        ``attrs`` holds ``total_flops``, ``unattributed_flops`` and ``input_size``.

    Raises:
        InputSizeError: ``input_size`` is malformed or the model cannot run on it.
        InvalidArgumentError: ``model`` is not an ``nn.Module``.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU())
        >>> df = layer_costs(model, (1, 5, 5))
        >>> df[["module_path", "flops"]].values.tolist()
        [['0', 324], ['1', 0]]
    """
    dims = _check_input_size(input_size)
    total, stats = _run_counted(model, dims, device, leaves=True)
    rows = []
    for path, module in model.named_modules():
        if next(module.children(), None) is not None:
            continue
        flops, calls, shape = stats.get(module, [0, 0, None])
        params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append([path, type(module).__name__, params, int(flops), calls, shape])
    df = pd.DataFrame(rows, columns=_COLUMNS)
    df = df.astype({"params": "int64", "flops": "int64", "calls": "int64"})
    df.attrs["total_flops"] = int(total)
    df.attrs["unattributed_flops"] = int(total - int(df["flops"].sum()))
    df.attrs["input_size"] = dims
    return df
