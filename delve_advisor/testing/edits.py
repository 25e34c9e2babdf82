"""Conformance cases every edit operation must pass, built-in or registered by a user.

Like ``optuna.testing`` for storages: call :func:`check_edit_conformance` from your own tests
with an instance of your edit, a model it applies to and the input size::

    def test_my_edit_conforms():
        check_edit_conformance(MyEdit("layer1", 3), my_model(), (3, 32, 32),
                               invalid_values=["three", -1])

A failed case raises ``AssertionError`` naming the case.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from delve_advisor.edits import (
    Edit,
    apply_edits,
    edit_from_dict,
    load_edits,
    output_signature,
    save_edits,
)
from delve_advisor.exceptions import DelveAdvisorError, InvalidArgumentError

__all__ = ["CASES", "check_edit_conformance"]

#: The names of the cases :func:`check_edit_conformance` runs, in order.
CASES = (
    "constructor_rejects_invalid_fields",
    "plain_data_round_trip",
    "json_and_yaml_round_trip",
    "applies_on_a_copy_and_runs",
    "untouched_parameters_bit_identical",
    "caller_model_unchanged_on_failure",
)


def _snapshot(model: nn.Module) -> tuple[dict[str, torch.Tensor], str, list[bool]]:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return state, repr(model), [m.training for m in model.modules()]


def _unchanged(model: nn.Module, snapshot: tuple, case: str) -> None:
    state, text, modes = snapshot
    now = model.state_dict()
    if set(now) != set(state) or any(not torch.equal(now[k], state[k]) for k in state):
        raise AssertionError(f"{case}: the caller's model changed its parameters or buffers")
    if repr(model) != text:
        raise AssertionError(f"{case}: the caller's model changed its structure")
    if [m.training for m in model.modules()] != modes:
        raise AssertionError(f"{case}: the caller's model changed its train/eval flags")


def _expect_invalid(make: Any, case: str, what: str) -> None:
    try:
        make()
    except InvalidArgumentError:
        return
    except Exception as error:
        raise AssertionError(
            f"{case}: {what} raised {type(error).__name__}, not InvalidArgumentError"
        ) from error
    raise AssertionError(f"{case}: {what} was accepted")


def check_edit_conformance(
    edit: Edit,
    model: nn.Module,
    input_size: Sequence[int],
    *,
    invalid_values: Iterable[Any] = (),
) -> None:
    """Runs every conformance case (:data:`CASES`) for ``edit`` applied to ``model``.

    Args:
        edit: An instance of the operation, valid for ``model``.
        model: A model the edit applies to; it must stay unchanged.
        input_size: (C, H, W) the model runs at.
        invalid_values: Values the operation's constructor must refuse with
            ``InvalidArgumentError``.

    Raises:
        AssertionError: A case fails; the message names it.

    Example:
        >>> from torch import nn
        >>> from delve_advisor.edits import SetStride
        >>> from delve_advisor.testing.edits import check_edit_conformance
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.AdaptiveAvgPool2d(1))
        >>> check_edit_conformance(SetStride("0", [1, 1]), net, (1, 9, 9),
        ...                        invalid_values=["fast", [0, 1]])
    """
    size = tuple(input_size)
    cls = type(edit)

    case = CASES[0]
    for bad in invalid_values:
        _expect_invalid(lambda bad=bad: cls(edit.module, bad), case, f"value={bad!r}")
    _expect_invalid(lambda: cls(123, edit.value), case, "module=123")

    case = CASES[1]
    data = edit.to_dict()
    if set(data) - {"op", "module", "value"} or data.get("op") != cls.op:
        raise AssertionError(f"{case}: to_dict() gave {data!r}")
    if edit_from_dict(json.loads(json.dumps(data))) != edit:
        raise AssertionError(f"{case}: edit_from_dict(to_dict()) != the edit ({data!r})")

    case = CASES[2]
    with tempfile.TemporaryDirectory() as folder:
        for suffix in (".json", ".yaml"):
            path = save_edits(Path(folder) / f"edits{suffix}", [edit])
            if load_edits(path) != [edit]:
                raise AssertionError(f"{case}: {suffix} round trip changed the edit")

    case = CASES[3]
    snapshot = _snapshot(model)
    result = apply_edits(model, [edit], size)
    _unchanged(model, snapshot, case)
    if result.model is model:
        raise AssertionError(f"{case}: apply_edits returned the caller's model, not a copy")
    if result.edits[:1] != (edit,):
        raise AssertionError(f"{case}: result.edits does not start with the edit")
    expected = output_signature(copy.deepcopy(model), size)
    got = output_signature(result.model, result.input_size)
    if len(got) != len(expected) or [s[:2] for s in got] != [s[:2] for s in expected]:
        raise AssertionError(f"{case}: the edited copy returns {got}, the original {expected}")

    case = CASES[4]
    original = dict(model.named_parameters())
    edited = dict(result.model.named_parameters())
    for name in result.kept:
        if not torch.equal(original[name], edited[name]):
            raise AssertionError(f"{case}: {name} is listed as kept but its values differ")
    listed = set(result.kept) | set(result.reinitialised)
    if listed != set(edited):
        raise AssertionError(f"{case}: kept + reinitialised != the copy's parameters")
    lost = set(original) - set(edited)
    if lost != set(result.removed):
        raise AssertionError(f"{case}: removed {sorted(result.removed)} != lost {sorted(lost)}")

    case = CASES[5]
    snapshot = _snapshot(model)
    if edit.module != "input":
        try:
            broken = cls("no_such_module.0", edit.value)
        except InvalidArgumentError:
            broken = None
        if broken is not None:
            try:
                apply_edits(model, [edit, broken], size)
            except DelveAdvisorError:
                pass
            else:
                raise AssertionError(f"{case}: an edit on a missing module was accepted")
    _unchanged(model, snapshot, case)
