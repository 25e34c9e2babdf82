"""The search space built from an advisor report's suggestions.

Each of the report's top suggestions is on or off in a trial; only combinations whose
suggestions touch disjoint modules (and hold at most one ``resize_input``) are offered, as one
categorical parameter ``edits`` whose values are labels: ``"baseline"`` (no edit), ``"1"`` (the
rank-1 suggestion), ``"1+3"`` (ranks 1 and 3), ... Optionally the input size (from a list or the
feasible range), the learning rate (log-uniform) and the width (a categorical ``width``
factor, applied as a final ``scale_width`` edit) are searched too.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from delve_advisor.edits.operations import ScaleWidth
from delve_advisor.exceptions import InvalidArgumentError

__all__ = ["BASELINE", "SearchSpace", "TrialConfig", "build_space"]

BASELINE = "baseline"


@dataclass(frozen=True)
class TrialConfig:
    """What one trial runs: the edits, the input side, the learning rate and the width.

    Attributes:
        label: The ``edits`` parameter (``"baseline"``, ``"1"``, ``"1+2"``, ...).
        ranks: The suggestion ranks switched on.
        edits: The plain-data edits, in application order.
        input_size: H = W of the trial's data (before a ``resize_input`` edit).
        lr: The learning rate.
        width: The width factor; ``edits`` end with a ``scale_width`` edit when it is not 1.

    Example:
        >>> import optuna
        >>> from delve_advisor import advise
        >>> from delve_advisor.testing import tail_cnn
        >>> report = advise(tail_cnn(), None, input_size=(3, 16, 16))  # graph only, no data
        >>> space = build_space(report.suggestions, input_size=16, lr_range=(1e-4, 1e-2))
        >>> config = space.sample(optuna.trial.FixedTrial({"edits": "1", "lr": 3e-3}))
        >>> config.label, config.ranks, config.input_size, config.lr
        ('1', (1,), 16, 0.003)
        >>> config.edits
        ({'op': 'set_stride', 'module': '0', 'value': [1, 1]},)
        >>> wide = build_space(report.suggestions, input_size=16, widths=[0.5, 2.0])
        >>> config = wide.sample(optuna.trial.FixedTrial({"edits": "1", "width": 2.0}))
        >>> config.width, config.edits[-1]
        (2.0, {'op': 'scale_width', 'module': '', 'value': 2.0})
    """

    label: str
    ranks: tuple[int, ...]
    edits: tuple[dict[str, Any], ...]
    input_size: int
    lr: float
    width: float = 1.0


def _touched(suggestion: Any) -> set[str]:
    modules = {e.get("module") for e in _edit_dicts(suggestion) if e.get("module") is not None}
    return modules | set(suggestion.targets)


def _edit_dicts(suggestion: Any) -> list[dict[str, Any]]:
    out = []
    for edit in suggestion.edits:
        out.append(dict(edit) if isinstance(edit, dict) else edit.to_dict())
    return out


@dataclass(frozen=True)
class SearchSpace:
    """The trial parameters and how they map to edits.

    Attributes:
        suggestions: rank -> the suggestion (plain objects with ``kind``, ``targets``,
            ``edits``, ``before``, ``after``).
        combinations: The ``edits`` labels offered, ``"baseline"`` first.
        input_size: The recipe's (or data's) input side.
        input_sizes: Input sides to search, or () to keep ``input_size``.
        lr: The default learning rate.
        lr_range: (low, high) to search log-uniformly, or None.
        widths: Width factors to search (1.0 among them), or () to keep the model's width.

    Example:
        >>> from delve_advisor import advise
        >>> from delve_advisor.testing import tail_cnn
        >>> report = advise(tail_cnn(), None, input_size=(3, 16, 16))  # graph only, no data
        >>> space = build_space(report.suggestions, input_size=16, max_suggestions=3)
        >>> space.combinations
        ('baseline', '1', '2', '3', '1+2', '1+3', '2+3', '1+2+3')
        >>> space.ranks("1+3"), [edit["op"] for edit in space.edits("1+3")]
        ((1, 3), ['set_stride', 'replace_with_identity', 'replace_with_identity'])
        >>> space.first_trials()[:3]
        [{'edits': 'baseline'}, {'edits': '1'}, {'edits': '2'}]
    """

    suggestions: dict[int, Any]
    combinations: tuple[str, ...]
    input_size: int
    input_sizes: tuple[int, ...] = ()
    lr: float = 1e-3
    lr_range: tuple[float, float] | None = None
    widths: tuple[float, ...] = ()

    def ranks(self, label: str) -> tuple[int, ...]:
        """The suggestion ranks a label switches on (``()`` for the baseline).

        Raises:
            InvalidArgumentError: The label is not one of :attr:`combinations`.
        """
        if label not in self.combinations:
            raise InvalidArgumentError(
                f"edits label {label!r} is not in this search space; valid: "
                f"{list(self.combinations)}"
            )
        return () if label == BASELINE else tuple(int(r) for r in label.split("+"))

    def edits(self, label: str) -> tuple[dict[str, Any], ...]:
        """The plain-data edits of a label, in rank order."""
        return tuple(e for r in self.ranks(label) for e in _edit_dicts(self.suggestions[r]))

    def sample(self, trial: Any) -> TrialConfig:
        """Draws a trial's parameters (define-by-run) and returns its :class:`TrialConfig`."""
        label = trial.suggest_categorical("edits", list(self.combinations))
        ranks = self.ranks(label)
        resized = any(self.suggestions[r].kind == "resize_input" for r in ranks)
        size = self.input_size
        if self.input_sizes and not resized:
            size = int(trial.suggest_categorical("input_size", list(self.input_sizes)))
        lr = self.lr
        if self.lr_range is not None:
            lr = float(trial.suggest_float("lr", *self.lr_range, log=True))
        edits = self.edits(label)
        width = 1.0
        if self.widths:
            width = float(trial.suggest_categorical("width", list(self.widths)))
            if width != 1.0:
                edits = (*edits, ScaleWidth(value=width).to_dict())
        return TrialConfig(label, ranks, edits, size, lr, width)

    def first_trials(self) -> list[dict[str, Any]]:
        """Parameters of the trials to enqueue first, in order.

        The baseline, the first suggestion, every other suggestion alone, then the larger
        combinations (each at the default input size, learning rate and width 1.0): every
        configuration of
        edits is tried once before the sampler chooses freely, and "did the advice help" is
        answered by the first two trials.
        """
        fixed: dict[str, Any] = {}
        if self.input_sizes:
            fixed["input_size"] = self.input_size
        if self.lr_range is not None:
            fixed["lr"] = min(max(self.lr, self.lr_range[0]), self.lr_range[1])
        if self.widths:
            fixed["width"] = 1.0
        first = []
        for label in self.combinations:
            params = {"edits": label, **fixed}
            if any(self.suggestions[r].kind == "resize_input" for r in self.ranks(label)):
                params.pop("input_size", None)
            first.append(params)
        return first


def build_space(
    suggestions: Sequence[Any],
    *,
    input_size: int,
    edits: bool = True,
    max_suggestions: int = 4,
    input_sizes: Sequence[int] | str | None = None,
    lr: float = 1e-3,
    lr_range: tuple[float, float] | None = None,
    widths: Sequence[float] | None = None,
) -> SearchSpace:
    """Builds the space from a report's suggestions (ranked, rank 1 first).

    Args:
        suggestions: The report's :class:`~delve_advisor.Suggestion` objects.
        input_size: The input side trials run at by default.
        edits: Search the suggestions' edits; False keeps only the baseline.
        max_suggestions: Use the top-k suggestions (2^k combinations at most).
        input_sizes: Sides to search; ``"feasible"`` takes the feasible range's lower end and
            ``input_size``; None searches no size.
        lr: The default learning rate.
        lr_range: (low, high) to search log-uniformly.
        widths: Width factors (> 0) to search as a categorical ``width``; 1.0 (the model as
            built) is always among them. None searches no width.

    Returns:
        The :class:`SearchSpace`.

    Example:
        >>> space = build_space([], input_size=28)
        >>> space.combinations, space.first_trials()
        (('baseline',), [{'edits': 'baseline'}])
    """
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
        raise InvalidArgumentError(f"build_space: input_size must be an int >= 1, got {input_size}")
    chosen = sorted(suggestions, key=lambda s: s.rank)[: max_suggestions if edits else 0]
    by_rank = {s.rank: s for s in chosen}
    labels = [BASELINE]
    for k in range(1, len(chosen) + 1):
        for combo in itertools.combinations(chosen, k):
            touched = [_touched(s) for s in combo]
            disjoint = sum(len(t) for t in touched) == len(set().union(*touched))
            resizes = sum(s.kind == "resize_input" for s in combo)
            if disjoint and resizes <= 1:
                labels.append("+".join(str(s.rank) for s in combo))
    sizes: tuple[int, ...] = ()
    if input_sizes == "feasible":
        ranges = [s.before.input_range for s in suggestions if s.before.input_range is not None]
        found = {input_size}
        if ranges:
            low, high = ranges[0]
            found.add(min(max(int(low), 1), int(high)))
        sizes = tuple(sorted(found))
    elif input_sizes is not None:
        sizes = tuple(sorted({int(s) for s in input_sizes} | {input_size}))
    if len(sizes) == 1:
        sizes = ()
    factors: tuple[float, ...] = ()
    if widths is not None:
        if isinstance(widths, (str, bytes)) or not all(
            isinstance(w, numbers.Real) and not isinstance(w, bool) and math.isfinite(w) and w > 0
            for w in widths
        ):
            raise InvalidArgumentError(
                f"build_space: widths must be a list of width factors > 0, got {widths!r}"
            )
        factors = tuple(sorted({float(w) for w in widths} | {1.0}))
        if factors == (1.0,):
            factors = ()
    return SearchSpace(by_rank, tuple(labels), input_size, sizes, lr, lr_range, factors)
