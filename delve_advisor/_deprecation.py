"""Deprecated names: aliases that keep old imports working and warn with the new name."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

C = TypeVar("C", bound=Callable[..., Any])


def warn_deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Emits the one DeprecationWarning wording: ``<old> is deprecated; use <new> instead``."""
    warnings.warn(
        f"{old} is deprecated; use {new} instead", DeprecationWarning, stacklevel=stacklevel
    )


def deprecated_function(func: C, old: str, new: str) -> C:
    """Returns ``func`` wrapped so that each call first warns that ``old`` is now ``new``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        warn_deprecated(old, new)
        return func(*args, **kwargs)

    wrapper.__doc__ = f"Deprecated alias of :func:`{new}` (warns)."
    return wrapper  # type: ignore[return-value]


def deprecated_attributes(
    module: str, aliases: Mapping[str, tuple[Any, str]]
) -> Callable[[str], Any]:
    """Builds a module ``__getattr__`` that serves ``aliases`` (old name → (object, new name)).

    Each access warns with a DeprecationWarning that names the replacement.
    """

    def __getattr__(name: str) -> Any:
        if name in aliases:
            value, new = aliases[name]
            warn_deprecated(f"{module}.{name}", new)
            return value
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
