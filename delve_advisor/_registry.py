"""A registry keyed by type (looked up along the MRO) or by any hashable object."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

from delve_advisor.exceptions import DuplicateRegistrationError

V = TypeVar("V")


def _describe(key: Hashable) -> str:
    if isinstance(key, type):
        return f"{key.__module__}.{key.__qualname__}"
    name = getattr(key, "__qualname__", None) or getattr(key, "__name__", None)
    if name is not None:
        return f"{getattr(key, '__module__', '?')}.{name}"
    return repr(key)


class TypeRegistry(Generic[V]):
    """Maps types (and other hashable keys such as functions) to values.

    A type is looked up along its MRO, so a subclass inherits its parent's entry unless it has
    one of its own. Registering a key twice is an error unless ``override=True``.

    Args:
        kind: What the registry holds, used in error messages ("layer handler").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[Hashable, V] = {}

    def register(self, key: Hashable, value: V, *, override: bool = False) -> None:
        """Adds ``value`` under ``key``.

        Raises:
            DuplicateRegistrationError: ``key`` is registered already and ``override`` is False.
        """
        if key in self._entries and not override:
            raise DuplicateRegistrationError(
                f"a {self.kind} is already registered for {_describe(key)}; "
                "pass override=True to replace it"
            )
        self._entries[key] = value

    def unregister(self, key: Hashable) -> None:
        """Removes the entry for ``key`` (no error if absent)."""
        self._entries.pop(key, None)

    def lookup(self, key: Hashable) -> V | None:
        """Returns the entry for ``key``; for a type, the nearest one along its MRO."""
        if isinstance(key, type):
            for klass in key.__mro__:
                if klass in self._entries:
                    return self._entries[klass]
            return None
        try:
            return self._entries.get(key)
        except TypeError:  # unhashable
            return None

    def __contains__(self, key: Hashable) -> bool:
        return self.lookup(key) is not None

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._entries)

    def names(self) -> list[str]:
        """The registered keys, described for error messages."""
        return sorted(_describe(k) for k in self._entries)
