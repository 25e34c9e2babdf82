"""Small helpers for running a user's model without changing it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def device_and_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype an example input for ``model`` should have.

    The first floating parameter or buffer decides; a model without any runs on the CPU in the
    default dtype.
    """
    tensors = (*model.parameters(), *model.buffers())
    for tensor in tensors:
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    for tensor in tensors:
        return tensor.device, torch.get_default_dtype()
    return torch.device("cpu"), torch.get_default_dtype()


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Puts every submodule in eval mode and restores each one's own flag afterwards.

    Restoring per module keeps mixed modes (say, batch norms frozen in eval inside a training
    model) as they were, which ``model.train(was_training)`` would not.
    """
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield
    finally:
        for module, mode in modes:
            module.training = mode


def module_uses(model: nn.Module, module: nn.Module) -> list[str]:
    """Every dotted path under which ``module`` is registered in ``model`` (aliases included)."""
    return [path for path, m in model.named_modules(remove_duplicate=False) if m is module and path]


def replace_module(model: nn.Module, path: str, new: nn.Module) -> list[str]:
    """Replaces the submodule at ``path`` by ``new`` at every path that shares it.

    One module object registered under several paths (an aliased pooling layer) is replaced at
    each of them, so the model stays consistent. The package's one module-replacement helper.

    Args:
        model: The model to change in place (callers pass their own copy).
        path: Dotted path of the submodule (not the root).
        new: The replacement.

    Returns:
        The paths replaced, ``path`` among them.
    """
    old = model.get_submodule(path)
    paths = module_uses(model, old) or [path]
    for use in paths:
        parent_path, _, attribute = use.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        setattr(parent, attribute, new)
    return paths
