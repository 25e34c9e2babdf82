"""A suggestion: one concrete change to try, with its predicted effect, as a frozen record."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from delve_advisor.edits import Edit, EditResult, Prediction, apply_edits, edit_from_dict
from delve_advisor.exceptions import DelveAdvisorError, InvalidArgumentError
from delve_advisor.report._normalise import SUGGESTION_KINDS, jsonable, require_keys

__all__ = ["Suggestion"]


@dataclass(frozen=True)
class Suggestion:
    """One concrete change to try, with its predicted effect.

    The record is frozen; the constructor checks and normalises every field once (lists become
    tuples, edit dicts become :class:`~delve_advisor.edits.operations.Edit` objects, prediction
    dicts become :class:`Prediction`).

    Args:
        kind: One of ``"drop_downsampling"``, ``"prune_layers"``, ``"resize_input"``.
        targets: Module paths it changes, or ``["input"]`` for ``resize_input``.
        rationale: Why, in words and numbers.
        edits: Edit objects or their plain-data dicts, e.g.
            ``{"op": "set_stride", "module": "conv1", "value": [1, 1]}``.
        before: Metrics of the model as it is (a Prediction or its dict).
        after: Predicted metrics after the edits (a Prediction or its dict).
        rank: 1 for the suggestion to try first.

    Raises:
        InvalidArgumentError: A field is outside its valid values; the message names it.

    Example:
        >>> p = Prediction(params=10, flops=100, input_range=None, unproductive=2)
        >>> s = Suggestion(kind="resize_input", targets=["input"], rationale="smaller input",
        ...                edits=[{"op": "resize_input", "module": "input", "value": [56, 56]}],
        ...                before=p, after=p, rank=1)
        >>> s.targets, s.edits[0].to_dict()["value"]
        (('input',), [56, 56])
        >>> Suggestion.from_dict(s.to_dict()) == s
        True
    """

    kind: str
    targets: tuple[str, ...]
    rationale: str
    edits: tuple[Edit, ...]
    before: Prediction
    after: Prediction
    rank: int

    def __post_init__(self) -> None:
        _set = object.__setattr__
        if self.kind not in SUGGESTION_KINDS:
            raise InvalidArgumentError(
                f"Suggestion.kind must be one of {list(SUGGESTION_KINDS)}, got {self.kind!r}"
            )
        if (
            isinstance(self.targets, str)
            or not isinstance(self.targets, Sequence)
            or not self.targets
            or not all(isinstance(t, str) and t for t in self.targets)
        ):
            raise InvalidArgumentError(
                "Suggestion.targets must be a non-empty list of module paths (or ['input']), "
                f"got {self.targets!r}"
            )
        _set(self, "targets", tuple(self.targets))
        if not isinstance(self.rationale, str):
            raise InvalidArgumentError(
                f"Suggestion.rationale must be a string, got {type(self.rationale).__name__}"
            )
        _set(self, "edits", _check_edits(self.edits))
        for name in ("before", "after"):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                _set(self, name, Prediction.from_dict(value))
            elif not isinstance(value, Prediction):
                raise InvalidArgumentError(
                    f"Suggestion.{name} must be a Prediction, got {type(value).__name__}"
                )
        if isinstance(self.rank, bool) or not isinstance(self.rank, numbers.Integral):
            raise InvalidArgumentError(f"Suggestion.rank must be an int >= 1, got {self.rank!r}")
        if self.rank < 1:
            raise InvalidArgumentError(f"Suggestion.rank must be >= 1, got {self.rank}")
        _set(self, "rank", int(self.rank))

    def to_dict(self) -> dict[str, Any]:
        """Returns the suggestion as plain JSON data (each edit through ``Edit.to_dict``)."""
        return {
            "rank": self.rank,
            "kind": self.kind,
            "targets": list(self.targets),
            "rationale": self.rationale,
            "edits": [
                jsonable(e.to_dict(), f"Suggestion.edits[{i}]") for i, e in enumerate(self.edits)
            ],
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Suggestion:
        """Builds a suggestion from :meth:`to_dict` output.

        Args:
            data: The plain-data form.

        Returns:
            The suggestion.

        Raises:
            ReportFormatError: A required key is missing.
        """
        keys = ("rank", "kind", "targets", "rationale", "edits", "before", "after")
        require_keys(data, keys, "suggestion")
        return cls(
            kind=data["kind"],
            targets=data["targets"],
            rationale=data["rationale"],
            edits=data["edits"],
            before=Prediction.from_dict(data["before"]),
            after=Prediction.from_dict(data["after"]),
            rank=data["rank"],
        )

    def apply(self, model: Any, input_size: Sequence[int] | None = None) -> EditResult:
        """Applies this suggestion's edits to a copy of ``model``; see ``apply_edits``.

        Args:
            model: The model the report was made for (it is not changed).
            input_size: (C, H, W) the report was made at: ``report.meta["input_size"]``.

        Returns:
            The :class:`~delve_advisor.edits.EditResult`: the edited copy, the input size it
            runs at, and its measured before/after.

        Raises:
            InvalidArgumentError: ``input_size`` is missing.
            EditError: An edit cannot be applied (the message names the module).

        Example:
            >>> from delve_advisor.testing import tail_cnn
            >>> p = Prediction(params=1, flops=1, input_range=None, unproductive=2)
            >>> s = Suggestion(kind="drop_downsampling", targets=["2"], rationale="",
            ...                edits=[{"op": "set_stride", "module": "2", "value": [1, 1]}],
            ...                before=p, after=p, rank=1)
            >>> result = s.apply(tail_cnn(), (3, 16, 16))
            >>> result.before.unproductive, result.after.unproductive
            (2, 1)
        """
        if input_size is None:
            raise InvalidArgumentError(
                "Suggestion.apply needs input_size=(C, H, W), the size the report was made at: "
                "pass report.meta['input_size']"
            )
        return apply_edits(model, self.edits, tuple(input_size))


def _check_edits(edits: Any) -> tuple[Edit, ...]:
    if isinstance(edits, (str, Mapping)) or not isinstance(edits, Sequence):
        raise InvalidArgumentError(
            f"Suggestion.edits must be a list of edits (dicts or Edit), got {type(edits).__name__}"
        )
    out = []
    for i, edit in enumerate(edits):
        if not isinstance(edit, (Mapping, Edit)) or (
            isinstance(edit, Mapping) and not isinstance(edit.get("op"), str)
        ):
            raise InvalidArgumentError(
                f"Suggestion.edits[{i}] must be an Edit or a dict with a string 'op' key, "
                f"got {edit!r}"
            )
        try:
            parsed = edit_from_dict(edit)
        except DelveAdvisorError as exc:
            raise InvalidArgumentError(f"Suggestion.edits[{i}]: {exc}") from exc
        jsonable(parsed.to_dict(), f"Suggestion.edits[{i}]")  # fails early, not at to_dict
        out.append(parsed)
    return tuple(out)
