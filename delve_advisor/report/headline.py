"""The one headline composer: a sentence that says what a report found."""

from __future__ import annotations

from typing import TYPE_CHECKING

from delve_advisor.report._text import input_side, tail_evidence_summary

if TYPE_CHECKING:
    from delve_advisor.report.report import Report

__all__ = ["compose_headline"]

_STATUS_PREFIX = {
    "diverged": "Training diverged; ",
    "graph_only": "From the graph alone (no data): ",
}


def compose_headline(report: Report) -> str:
    """Composes the report's headline from its data (used when ``meta["headline"]`` is absent).

    The same sentence whatever built the report: status prefix, model, tail (size, span, input
    size, evidence) and the first suggestion with its effect on the unproductive count.

    Args:
        report: The report.

    Returns:
        One sentence ending with a full stop.

    Example:
        >>> from delve_advisor.testing import tiny_report
        >>> compose_headline(tiny_report())
        'From the graph alone (no data): No tail: all 1 analysed layers are productive at 28 px.'
    """
    layers = report.layer_evidence
    side = input_side(report)
    at = f" at {side} px" if side else ""
    model = report.meta.get("model")
    prefix = _STATUS_PREFIX.get(report.status, "") + (f"{model}: " if model else "")
    tail = report.tail
    if not tail:
        sentence = f"No tail: all {len(layers)} analysed layers are productive{at}"
    else:
        span = tail[0] if len(tail) == 1 else f"{tail[0]} … {tail[-1]}"
        sentence = (
            f"{len(tail)} of {len(layers)} layers form a tail ({span}){at}, "
            f"by {tail_evidence_summary(report)}"
        )
    if report.suggestions:
        first = report.suggestions[0]
        sentence += (
            f"; first suggestion: {first.kind} on {', '.join(first.targets)} (unproductive "
            f"layers {first.before.unproductive} → {first.after.unproductive})"
        )
    elif tail:
        sentence += "; no edit is suggested"
    return prefix + sentence + "."
