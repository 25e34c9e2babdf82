"""The :class:`Edit` base class and the registry of edit operations (``op`` name ↔ class)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, overload

from torch import nn

from delve_advisor._registry import TypeRegistry
from delve_advisor.exceptions import InvalidArgumentError, UnknownNameError

__all__ = ["Edit", "edit_from_dict", "list_edits", "register_edit", "unregister_edit"]

E = TypeVar("E", bound=type["Edit"])


def _plain(value: Any) -> Any:
    """Tuples become lists, recursively: the JSON / YAML form of a value."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _frozen(value: Any) -> Any:
    """Lists become tuples, recursively: the value an :class:`Edit` holds."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _frozen(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Edit(ABC):
    """One change to a model, identified by the module (or graph node) it touches.

    Subclasses set the class attribute ``op`` (the name in edit files) and implement
    :meth:`check` (validation of ``module`` and ``value``, called by the constructor) and
    :meth:`apply`. Edits are immutable values: lists in ``value`` are stored as tuples.

    Attributes:
        module: Dotted module path, the name of a node of the captured graph (a functional
            op such as ``"max_pool2d"``), or ``"input"`` for changes to the data.
        value: The operation's parameter (JSON-compatible), or None.

    Example:
        >>> from delve_advisor.edits import SetStride
        >>> SetStride("conv1", [1, 1]).to_dict()
        {'op': 'set_stride', 'module': 'conv1', 'value': [1, 1]}
    """

    module: str
    value: Any = None
    op: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if not isinstance(self.module, str):
            raise InvalidArgumentError(
                f"{self.op or type(self).__name__}: module must be a dotted module path (str), "
                f"got {self.module!r}"
            )
        object.__setattr__(self, "value", _frozen(self.value))
        self.check()

    def check(self) -> None:
        """Validates ``module`` and ``value``; the constructor calls it.

        Raises:
            InvalidArgumentError: A field is invalid; the message names the field and the value.
        """
        return None

    @abstractmethod
    def apply(self, model: nn.Module) -> nn.Module | None:
        """Changes ``model`` in place (callers pass a copy).

        Returns:
            The edited model: ``model`` itself (or None, meaning the same), or a new module
            that replaces it (a ``torch.fx.GraphModule`` after a graph rewrite).

        Raises:
            EditError: The edit cannot be applied safely; names the module and the reason.
        """

    def to_dict(self) -> dict[str, Any]:
        """The edit as plain data: ``{"op": ..., "module": ..., "value": ...}``."""
        out: dict[str, Any] = {"op": self.op, "module": self.module}
        if self.value is not None:
            out["value"] = _plain(self.value)
        return out

    def _fail(self, field: str, message: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"{self.op} on {self.module!r}: {field} {message}")


_EDITS: TypeRegistry[type[Edit]] = TypeRegistry("edit operation")


@overload
def register_edit(cls: E, *, override: bool = False) -> E: ...
@overload
def register_edit(cls: None = None, *, override: bool = False) -> Callable[[E], E]: ...
def register_edit(cls: Any = None, *, override: bool = False) -> Any:
    """Registers an :class:`Edit` subclass under its ``op`` name; usable as a decorator.

    Args:
        cls: The class; omitted when used as ``@register_edit(override=True)``.
        override: Replace an operation registered under the same name.

    Returns:
        ``cls`` (or a decorator that registers its argument).

    Raises:
        DuplicateRegistrationError: The ``op`` name is taken and ``override`` is False.
        InvalidArgumentError: ``cls`` is not an Edit subclass with a non-empty ``op``.

    Example:
        >>> from delve_advisor.edits import Edit, list_edits, register_edit, unregister_edit
        >>> @register_edit
        ... class Freeze(Edit):
        ...     op = "freeze"
        ...     def apply(self, model):
        ...         model.get_submodule(self.module).requires_grad_(False)
        >>> "freeze" in list_edits()
        True
        >>> unregister_edit("freeze")
    """
    if cls is None:
        return lambda klass: register_edit(klass, override=override)
    if not (isinstance(cls, type) and issubclass(cls, Edit) and cls.op):
        raise InvalidArgumentError(f"expected an Edit subclass with an `op` name, got {cls!r}")
    _EDITS.register(cls.op, cls, override=override)
    return cls


def unregister_edit(op: str) -> None:
    """Removes the edit operation registered as ``op``.

    Raises:
        UnknownNameError: No operation has that name; the message lists the valid ones.

    Example:
        >>> from delve_advisor.edits import unregister_edit
        >>> unregister_edit("no_such_op")
        Traceback (most recent call last):
        ...
        delve_advisor.exceptions.UnknownNameError: unknown edit op 'no_such_op'; valid: ...
    """
    if _EDITS.lookup(op) is None:
        raise _unknown(op)
    _EDITS.unregister(op)


def list_edits() -> list[str]:
    """The registered ``op`` names, sorted.

    Example:
        >>> from delve_advisor.edits import list_edits
        >>> "set_stride" in list_edits()
        True
    """
    return sorted(str(k) for k in _EDITS)


def _unknown(op: Any) -> UnknownNameError:
    return UnknownNameError(f"unknown edit op {op!r}; valid: {', '.join(list_edits())}")


def edit_from_dict(data: Mapping[str, Any] | Edit) -> Edit:
    """Builds an edit from its plain-data form (an :class:`Edit` is returned as it is).

    Raises:
        UnknownNameError: ``op`` is not registered; the message lists the valid ones.
        InvalidArgumentError: ``op`` or ``module`` is missing, or the edit's own checks fail.

    Example:
        >>> from delve_advisor.edits import edit_from_dict
        >>> edit_from_dict({"op": "set_stride", "module": "conv1", "value": [1, 1]})
        SetStride(module='conv1', value=(1, 1))
    """
    if isinstance(data, Edit):
        return data
    if not isinstance(data, Mapping) or "op" not in data:
        raise InvalidArgumentError(
            f"an edit needs the keys 'op' and 'module' (and usually 'value'), got {data!r}"
        )
    cls = _EDITS.lookup(data["op"])
    if cls is None:
        raise _unknown(data["op"])
    module = data.get("module", getattr(cls, "default_module", None))
    if module is None:
        raise InvalidArgumentError(
            f"an edit needs the keys 'op' and 'module' (and usually 'value'), got {dict(data)!r}"
        )
    unknown = set(data) - {"op", "module", "value"}
    if unknown:
        raise InvalidArgumentError(
            f"{data['op']} on {module!r}: unknown keys {sorted(unknown)}; an edit has only "
            "'op', 'module' and 'value'"
        )
    return cls(module=module, value=data.get("value"))
