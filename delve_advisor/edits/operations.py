"""Edit operations: small, replayable changes to a copy of a model, recorded as plain data.

Each operation is a class registered under its ``op`` name, so an edit list such as
``[{"op": "set_stride", "module": "conv1", "value": [1, 1]}]`` can be saved, loaded and replayed.
Add your own with :func:`register_edit`.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import nn

from delve_advisor._registry import TypeRegistry
from delve_advisor.exceptions import EditError, InvalidArgumentError, UnknownNameError

__all__ = [
    "Edit",
    "ReplaceLinearInput",
    "ReplaceWithIdentity",
    "ResizeInput",
    "SetStride",
    "edit_from_dict",
    "get_module",
    "list_edits",
    "list_module_paths",
    "register_edit",
]


def list_module_paths(model: nn.Module) -> list[str]:
    """The dotted paths of every submodule (``named_modules()`` names, root excluded)."""
    return [name for name, _ in model.named_modules() if name]


def get_module(model: nn.Module, path: str) -> nn.Module:
    """Returns the submodule at ``path``.

    Raises:
        EditError: No such module; the message lists the nearest paths.
    """
    try:
        return model.get_submodule(path)
    except AttributeError:
        near = difflib.get_close_matches(path, list_module_paths(model), n=3)
        raise EditError(
            f"no module {path!r} in {type(model).__name__}; the nearest are {near} — list them "
            "with delve_advisor.edits.list_module_paths(model)"
        ) from None


def _set_module(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, child = path.rpartition(".")
    parent = get_module(model, parent_path) if parent_path else model
    setattr(parent, child, new)


@dataclass(frozen=True)
class Edit(ABC):
    """One change to a model, identified by the module it touches.

    Attributes:
        module: Dotted module path, or ``"input"`` for changes to the data.
        value: The operation's parameter (JSON-compatible), or None.
    """

    module: str
    value: Any = None
    op: ClassVar[str] = ""

    @abstractmethod
    def apply(self, model: nn.Module) -> None:
        """Changes ``model`` in place (callers pass a copy).

        Raises:
            EditError: The edit cannot be applied safely; names the module and the reason.
        """

    def to_dict(self) -> dict[str, Any]:
        """The edit as plain data: ``{"op": ..., "module": ..., "value": ...}``."""
        out: dict[str, Any] = {"op": self.op, "module": self.module}
        if self.value is not None:
            out["value"] = list(self.value) if isinstance(self.value, tuple) else self.value
        return out


class SetStride(Edit):
    """Sets the stride of a conv or pooling module (``value``: one int per spatial axis)."""

    op = "set_stride"

    def apply(self, model: nn.Module) -> None:
        module = get_module(model, self.module)
        if not hasattr(module, "stride"):
            raise EditError(
                f"cannot set_stride on {self.module!r}: a {type(module).__name__} has no stride"
            )
        value = self.value
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and v >= 1 for v in value
        ):
            raise EditError(
                f"set_stride on {self.module!r}: value must be a list of ints >= 1, got {value!r}"
            )
        old = module.stride
        if isinstance(old, int):
            module.stride = value[0] if len(set(value)) == 1 else tuple(value)
        else:
            if len(old) != len(value):
                raise EditError(
                    f"set_stride on {self.module!r}: {len(value)} values for a module with "
                    f"{len(old)} spatial axes"
                )
            module.stride = tuple(value)


class ReplaceWithIdentity(Edit):
    """Replaces a module (a pooling layer, a residual block, a layer) by ``nn.Identity``."""

    op = "replace_with_identity"

    def apply(self, model: nn.Module) -> None:
        get_module(model, self.module)
        if not self.module:
            raise EditError("replace_with_identity needs a submodule path, not the whole model")
        _set_module(model, self.module, nn.Identity())


class ReplaceLinearInput(Edit):
    """Re-attaches a Linear head to fewer (or more) input features; its weights start anew.

    ``value`` is the new ``in_features``. Used after truncating a stage changes the channel count
    that reaches the classifier.
    """

    op = "replace_linear_input"

    def apply(self, model: nn.Module) -> None:
        module = get_module(model, self.module)
        if not isinstance(module, nn.Linear):
            raise EditError(
                f"replace_linear_input on {self.module!r}: expected an nn.Linear, "
                f"got {type(module).__name__}"
            )
        if not isinstance(self.value, int) or self.value < 1:
            raise EditError(
                f"replace_linear_input on {self.module!r}: value must be an int >= 1, "
                f"got {self.value!r}"
            )
        new = nn.Linear(self.value, module.out_features, bias=module.bias is not None)
        new.to(device=module.weight.device, dtype=module.weight.dtype)
        _set_module(model, self.module, new)


class ResizeInput(Edit):
    """Changes the input resolution (``value``: [H, W]); the model is left as it is.

    The data transform applies it (``load_data(..., input_size=value)``).
    """

    op = "resize_input"

    def apply(self, model: nn.Module) -> None:
        value = self.value
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and v >= 1 for v in value
        ):
            raise EditError(f"resize_input: value must be a list of ints >= 1, got {value!r}")


_EDITS: TypeRegistry[type[Edit]] = TypeRegistry("edit operation")


def register_edit(cls: type[Edit], *, override: bool = False) -> type[Edit]:
    """Registers an :class:`Edit` subclass under its ``op`` name (usable as a decorator).

    Raises:
        DuplicateRegistrationError: The ``op`` name is taken and ``override`` is False.
        InvalidArgumentError: ``cls`` is not an Edit subclass with a non-empty ``op``.
    """
    if not (isinstance(cls, type) and issubclass(cls, Edit) and cls.op):
        raise InvalidArgumentError(f"expected an Edit subclass with an `op` name, got {cls!r}")
    _EDITS.register(cls.op, cls, override=override)
    return cls


def list_edits() -> list[str]:
    """The registered ``op`` names."""
    return sorted(str(k) for k in _EDITS)


def edit_from_dict(data: Mapping[str, Any] | Edit) -> Edit:
    """Builds an edit from its plain-data form.

    Raises:
        UnknownNameError: ``op`` is not registered; the message lists the valid ones.
        InvalidArgumentError: ``op`` or ``module`` is missing.
    """
    if isinstance(data, Edit):
        return data
    if not isinstance(data, Mapping) or "op" not in data or "module" not in data:
        raise InvalidArgumentError(
            f"an edit needs the keys 'op' and 'module' (and usually 'value'), got {data!r}"
        )
    cls = _EDITS.lookup(data["op"])
    if cls is None:
        raise UnknownNameError(f"unknown edit op {data['op']!r}; valid: {', '.join(list_edits())}")
    value = data.get("value")
    if isinstance(value, list):
        value = tuple(value)
    return cls(module=str(data["module"]), value=value)


for _cls in (SetStride, ReplaceWithIdentity, ReplaceLinearInput, ResizeInput):
    register_edit(_cls)
