"""The one hook scaffold: registers forward (pre-)hooks and removes every handle it made.

Used as a context manager, the hooks live for the ``with`` block and are removed on the way out
whatever happens inside (a normal exit, bad input, a module that raises). An owner that keeps
hooks across calls (the saturation tracker keeps them until ``close()``) holds a
:class:`Hooks` and calls :meth:`Hooks.remove` itself, typically from its own ``finally`` or
``close``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from torch import nn
from torch.utils.hooks import RemovableHandle

__all__ = ["Hooks"]


class Hooks:
    """A set of forward hooks and forward pre-hooks on modules, removed together.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> seen = []
        >>> layer = nn.Linear(2, 2)
        >>> with Hooks() as hooks:
        ...     _ = hooks.forward(layer, lambda module, args, output: seen.append(output.shape))
        ...     _ = layer(torch.zeros(1, 2))
        >>> seen, len(layer._forward_hooks)
        ([torch.Size([1, 2])], 0)
    """

    def __init__(self) -> None:
        self._handles: list[RemovableHandle] = []

    def forward(self, module: nn.Module, hook: Callable[..., Any]) -> RemovableHandle:
        """Registers ``hook`` as a forward hook of ``module``; returns its handle."""
        handle = module.register_forward_hook(hook)
        self._handles.append(handle)
        return handle

    def forward_pre(self, module: nn.Module, hook: Callable[..., Any]) -> RemovableHandle:
        """Registers ``hook`` as a forward pre-hook of ``module``; returns its handle."""
        handle = module.register_forward_pre_hook(hook)
        self._handles.append(handle)
        return handle

    def remove(self) -> None:
        """Removes every hook registered through this object. Safe to call twice."""
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.remove()

    def __len__(self) -> int:
        return len(self._handles)

    def __enter__(self) -> Hooks:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()
