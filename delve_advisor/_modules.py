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
