"""Tail detection: the run of layers at the end of a network that do no useful work.

Two independent pieces of evidence are combined per weighted layer (conv or linear, before the
classifier head), in forward order:

- **receptive field** — the layer is unproductive at the input resolution (DESIGN.md), or it is a
  layer with a 1-wide kernel whose inputs all already see the whole input (``r_min ≥ i``), so it
  sits past the border too;
- **saturation** — the layer's saturation is below ``saturation_ratio`` times the reference
  saturation (the median over the layers that are productive by receptive field; when fewer than
  two are, the median over the first half of the layers), or the layer is dead.

The **tail** is the longest run of layers at the end of that list with at least one piece of
evidence. Each layer's evidence is ``"both"``, ``"receptive_field"``, ``"saturation"`` or
``"neither"``; a layer with one piece but not the other is a *disagreement* the report lists.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from delve_advisor.exceptions import InvalidArgumentError

__all__ = ["TailAnalysis", "TailThresholds", "find_tail"]


@dataclass(frozen=True)
class TailThresholds:
    """The documented knobs of tail detection.

    Attributes:
        saturation_ratio: A layer's saturation counts as "far below the rest" under this share
            of the reference saturation. 0.5 was calibrated on the runs in ``docs/advisor.md``:
            productive layers sat at 30–90 %, tail layers below half of their median.
        min_tail_length: Tails shorter than this are not reported.

    Example:
        >>> TailThresholds().saturation_ratio
        0.5
        >>> strict = TailThresholds(min_tail_length=2)
        >>> find_tail(["a", "b"], {"a": False, "b": True}, thresholds=strict).tail
        []
    """

    saturation_ratio: float = 0.5
    min_tail_length: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.saturation_ratio <= 1.0:
            raise InvalidArgumentError(
                f"saturation_ratio must be in (0, 1], got {self.saturation_ratio}"
            )
        if self.min_tail_length < 1:
            raise InvalidArgumentError(f"min_tail_length must be >= 1, got {self.min_tail_length}")


@dataclass(frozen=True)
class TailAnalysis:
    """What :func:`find_tail` found.

    Attributes:
        layers: The candidate layers, forward order.
        evidence: Layer -> "both" | "receptive_field" | "saturation" | "neither".
        tail: The tail's layers, forward order (empty when there is none).
        reference_saturation: The saturation the low-saturation test compares against (NaN
            without saturation data).
        disagreements: Layers with exactly one of the two pieces of evidence.
        notes: Sentences explaining the decision, for the report.

    Example:
        >>> t = find_tail(["a", "b", "c"], {"a": False, "b": True, "c": True})
        >>> t.tail, t.evidence["b"]
        (['b', 'c'], 'receptive_field')
    """

    layers: list[str]
    evidence: dict[str, str]
    tail: list[str]
    reference_saturation: float
    disagreements: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def find_tail(
    layers: Sequence[str],
    unproductive: Mapping[str, bool],
    saturation: Mapping[str, float] | None = None,
    dead: Mapping[str, bool] | None = None,
    thresholds: TailThresholds | None = None,
) -> TailAnalysis:
    """Finds the tail among ``layers`` (weighted layers before the head, forward order).

    Args:
        layers: Candidate layer names, forward order.
        unproductive: Layer -> receptive-field evidence (see the module docstring).
        saturation: Layer -> saturation in [0, 1] (NaN for no data); None when no data was run.
        dead: Layer -> whether the layer is dead (no variance).
        thresholds: The knobs; defaults to :class:`TailThresholds()`.

    Returns:
        The evidence per layer and the tail.

    Example:
        >>> t = find_tail(["a", "b", "c"], {"a": False, "b": False, "c": True},
        ...               {"a": 0.8, "b": 0.7, "c": 0.1})
        >>> t.tail, t.evidence["c"]
        (['c'], 'both')
    """
    thresholds = thresholds or TailThresholds()
    dead = dead or {}
    rf = {name: bool(unproductive.get(name, False)) for name in layers}
    sat_flags: dict[str, bool | None] = dict.fromkeys(layers)
    reference = math.nan
    notes: list[str] = []
    if saturation is not None:
        values = {n: saturation.get(n, math.nan) for n in layers}
        productive = [v for n, v in values.items() if not rf[n] and math.isfinite(v)]
        if len(productive) < 2:
            half = [
                v for v in list(values.values())[: max(1, len(layers) // 2)] if math.isfinite(v)
            ]
            productive = half
            notes.append(
                "fewer than two layers are productive by receptive field; the saturation "
                "reference is the median of the first half of the layers"
            )
        if productive:
            reference = statistics.median(productive)
            cut = thresholds.saturation_ratio * reference
            for name, value in values.items():
                if dead.get(name, False):
                    sat_flags[name] = True
                elif math.isfinite(value):
                    sat_flags[name] = value < cut
    evidence: dict[str, str] = {}
    disagreements = []
    for name in layers:
        by_rf, by_sat = rf[name], bool(sat_flags[name])
        evidence[name] = (
            "both"
            if by_rf and by_sat
            else "receptive_field"
            if by_rf
            else "saturation"
            if by_sat
            else "neither"
        )
        if saturation is not None and sat_flags[name] is not None and by_rf != by_sat:
            disagreements.append(name)
    tail: list[str] = []
    for name in reversed(layers):
        if evidence[name] == "neither":
            break
        tail.append(name)
    tail.reverse()
    if 0 < len(tail) < thresholds.min_tail_length:
        notes.append(
            f"a run of {len(tail)} layer(s) at the end has evidence, fewer than "
            f"min_tail_length={thresholds.min_tail_length}: no tail reported"
        )
        tail = []
    return TailAnalysis(list(layers), evidence, tail, reference, disagreements, notes)
