"""One registry form for every extension point: a registry keyed by type (looked up along the
MRO) or by name, and the helper behind every ``register_*`` function.

Every public registry follows the same vocabulary:

- ``register_<thing>(key, value=None, *, override=False)`` registers ``value`` under ``key``;
  called without ``value`` it returns a decorator. A key registered twice is a
  :class:`~delve_advisor.exceptions.DuplicateRegistrationError` unless ``override=True``.
- ``list_<things>()`` lists the registered keys.
- ``unregister_<thing>(key)`` removes a key; an unknown key is an
  :class:`~delve_advisor.exceptions.UnknownNameError` that lists the registered ones.
- Types are looked up along their MRO, so a subclass inherits its parent's entry.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

from delve_advisor.exceptions import DuplicateRegistrationError, UnknownNameError

V = TypeVar("V")
T = TypeVar("T")


def describe_key(key: Hashable) -> str:
    """Names a registry key for messages: ``module.QualName`` for types and functions."""
    if isinstance(key, type):
        return f"{key.__module__}.{key.__qualname__}"
    name = getattr(key, "__qualname__", None) or getattr(key, "__name__", None)
    if name is not None:
        module = getattr(key, "__module__", None)
        if module is None:  # a method descriptor such as torch.Tensor.add
            module = getattr(getattr(key, "__objclass__", None), "__module__", None) or "?"
        return f"{module}.{name}"
    return repr(key)


class TypeRegistry(Generic[V]):
    """Maps types (and other hashable keys such as names or functions) to values.

    A type is looked up along its MRO, so a subclass inherits its parent's entry unless it has
    one of its own. Registering a key twice is an error unless ``override=True``.

    Args:
        kind: What the registry holds, used in error messages ("layer handler").
        list_hint: The public function that lists the keys, named in error messages
            (``"list_layer_handlers()"``).
    """

    def __init__(self, kind: str, list_hint: str | None = None) -> None:
        self.kind = kind
        self.list_hint = list_hint
        self._entries: dict[Hashable, V] = {}

    def register(self, key: Hashable, value: V, *, override: bool = False) -> None:
        """Adds ``value`` under ``key``.

        Raises:
            DuplicateRegistrationError: ``key`` is registered already and ``override`` is False.
        """
        if key in self._entries and not override:
            raise DuplicateRegistrationError(
                f"a {self.kind} is already registered for {describe_key(key)}; "
                "pass override=True to replace it"
            )
        self._entries[key] = value

    def unregister(self, key: Hashable, *, missing_ok: bool = False) -> None:
        """Removes the entry for ``key`` itself (not one inherited along the MRO).

        Raises:
            UnknownNameError: ``key`` is not registered and ``missing_ok`` is False; the message
                lists the registered keys.
        """
        try:
            known = key in self._entries
        except TypeError:  # unhashable
            known = False
        if not known:
            if missing_ok:
                return
            raise self.unknown(key)
        del self._entries[key]

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

    def get(self, key: Hashable) -> V:
        """Returns the entry for ``key`` like :meth:`lookup`, or raises.

        Raises:
            UnknownNameError: Nothing is registered for ``key`` (nor, for a type, along its MRO).
        """
        value = self.lookup(key)
        if value is None:
            raise self.unknown(key)
        return value

    def unknown(self, key: Hashable) -> UnknownNameError:
        """The error for a key that is not registered, listing the registered ones."""
        hint = f" (see {self.list_hint})" if self.list_hint else ""
        return UnknownNameError(
            f"no {self.kind} is registered for {describe_key(key)}; registered: "
            f"{self.names()}{hint}"
        )

    def __contains__(self, key: Hashable) -> bool:
        return self.lookup(key) is not None

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[Hashable]:
        """The registered keys, in registration order."""
        return list(self._entries)

    def names(self) -> list[str]:
        """The registered keys, described for error messages, sorted."""
        return sorted(describe_key(k) for k in self._entries)


def register_or_decorate(
    registry: TypeRegistry[Any],
    key: Hashable,
    value: T | None,
    *,
    override: bool,
    check: Callable[[Any], Any] | None = None,
) -> Any:
    """Registers ``value`` under ``key``, or returns a decorator that does when ``value`` is None.

    The one implementation behind every ``register_*`` function.

    Args:
        registry: Where to register.
        key: The key (a type, a function or a name).
        value: What to register; None returns a decorator that registers what it decorates.
        override: Replace an existing entry instead of raising.
        check: Called with the value before registering; returns the entry to store (or raises).

    Returns:
        ``value``, or the decorator.
    """

    def register(item: T) -> T:
        entry = check(item) if check is not None else item
        registry.register(key, entry, override=override)
        return item

    if value is None:
        return register
    return register(value)
