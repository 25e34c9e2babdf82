"""Applying edit lists to a copy of a model, verifying them, and saving / loading them."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from delve_advisor._modules import device_and_dtype, eval_mode
from delve_advisor.edits.operations import Edit, ResizeInput, edit_from_dict
from delve_advisor.exceptions import EditError

__all__ = ["apply_edits", "load_edits", "output_signature", "save_edits"]

EditLike = Edit | Mapping[str, Any]


def output_signature(model: nn.Module, input_size: Sequence[int]) -> list[tuple[int, ...]]:
    """The shapes of every tensor a model returns for one zero input of ``input_size`` (C, H, W).

    Runs in eval mode under ``no_grad`` and restores the model's mode.
    """
    device, dtype = device_and_dtype(model)
    with eval_mode(model), torch.no_grad():
        out = model(torch.zeros((1, *input_size), device=device, dtype=dtype))
    flat: list[tuple[int, ...]] = []

    def walk(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            flat.append(tuple(value.shape))
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    walk(out)
    return flat


def apply_edits(
    model: nn.Module,
    edits: Sequence[EditLike],
    input_size: Sequence[int] | None = None,
) -> nn.Module:
    """Returns a deep copy of ``model`` with ``edits`` applied, verified by a forward pass.

    With ``input_size`` (C, H, W), the copy must return as many tensors as the original, of the
    same shapes (a ``resize_input`` edit changes the size the edited copy is run at, so only the
    number of outputs and their non-spatial shapes are compared then).

    Args:
        model: The model; it is never changed.
        edits: :class:`Edit` objects or their plain-data dicts.
        input_size: (C, H, W) for the verifying forward pass; None skips the check.

    Returns:
        The edited copy.

    Raises:
        EditError: An edit cannot be applied, or the edited copy fails the forward check; the
            message names the edit's module and the reason.
        UnknownNameError: An edit names an unknown op.
    """
    parsed = [edit_from_dict(e) for e in edits]
    edited = copy.deepcopy(model)
    new_size = list(input_size) if input_size is not None else None
    for edit in parsed:
        edit.apply(edited)
        if isinstance(edit, ResizeInput) and new_size is not None:
            new_size = [new_size[0], *edit.value]
    if input_size is not None:
        before = output_signature(model, input_size)
        try:
            after = output_signature(edited, new_size)
        except Exception as error:  # the edited copy no longer runs
            names = ", ".join(f"{e.op} on {e.module!r}" for e in parsed)
            raise EditError(
                f"the model no longer runs after {names}: {type(error).__name__}: {error}"
            ) from error
        resized = new_size != list(input_size)
        if (
            len(after) != len(before)
            or (not resized and after != before)
            or (resized and [s[:2] for s in after] != [s[:2] for s in before])
        ):
            raise EditError(
                f"edits changed the model's outputs from {before} to {after}; "
                "an edit must keep the number and shape of outputs"
            )
    return edited


def save_edits(path: str | Path, edits: Sequence[EditLike]) -> Path:
    """Writes an edit list as JSON (a list of ``{"op", "module", "value"}`` objects)."""
    path = Path(path)
    data = [edit_from_dict(e).to_dict() for e in edits]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def load_edits(path: str | Path) -> list[Edit]:
    """Reads an edit list written by :func:`save_edits` (or a report suggestion's ``edits``).

    Raises:
        EditError: The file is not a JSON list of edits.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise EditError(f"cannot read edits from {path}: {error}") from error
    if not isinstance(data, list):
        raise EditError(f"{path} must hold a JSON list of edits, got {type(data).__name__}")
    return [edit_from_dict(e) for e in data]
