"""Wording and number formatting shared by the headline, the Markdown and HTML renderings
and the plots of a report."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from delve_advisor.report._normalise import is_missing

if TYPE_CHECKING:
    from delve_advisor.edits import Prediction
    from delve_advisor.report.report import Report

MISSING = "—"
TIMES = "\u00d7"  # multiplication sign
EN_DASH = "\u2013"

EVIDENCE_LABELS = {
    "receptive_field": "receptive field only",
    "saturation": "saturation only",
    "both": "both (receptive field and saturation)",
    "neither": "neither",
}

STATUS_LABELS = {
    "ok": "ok",
    "graph_only": "graph only (no data)",
    "diverged": "training diverged",
    "eval_only": "evaluation only (no training)",
}


def fmt_count(value: Any) -> str:
    """Formats a count with an SI suffix and three significant digits: 11.7 M, 432."""
    if is_missing(value):
        return MISSING
    value = float(value)
    for factor, suffix in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.0f}"


def fmt_rf(value: Any) -> str:
    """Formats a receptive-field size: ∞ for global layers, an integer when it is whole."""
    if is_missing(value):
        return MISSING
    if math.isinf(value):
        return "∞"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def fmt_percent(value: Any) -> str:
    """Formats a fraction in [0, 1] as a percentage with one decimal."""
    if is_missing(value):
        return MISSING
    return f"{100.0 * value:.1f} %"


def fmt_saturation(value: Any, dead: bool) -> str:
    """Formats a saturation cell; a dead layer reads "dead", never "0.0 %"."""
    if dead:
        return "dead"
    return fmt_percent(value)


def tail_saturation(row: Any) -> str:
    """The saturation tail detection reads (eval when measured, else train), labelled."""
    for mode in ("eval", "train"):
        value = row[f"saturation_{mode}"]
        if not is_missing(value):
            return f"saturation ({mode}) {fmt_saturation(value, bool(row['dead']))}"
    return "saturation —"


def fmt_idim(value: Any) -> str:
    """Formats an intrinsic dimension (a whole number or missing)."""
    return MISSING if is_missing(value) else f"{value:.0f}"


def fmt_shape(shape: Any) -> str:
    """Formats an output shape as CxHxW with multiplication signs."""
    if shape is None:
        return MISSING
    return TIMES.join(str(d) for d in shape)


def fmt_range(rng: Any) -> str:
    """Formats a feasible input range."""
    if rng is None:
        return MISSING
    return f"{rng[0]}{EN_DASH}{rng[1]} px"


def input_size_text(report: Report) -> str:
    """The input size as CxHxW with multiplication signs, or a dash when unknown."""
    size = report.meta.get("input_size")
    return MISSING if not size else TIMES.join(str(v) for v in size)


def input_side(report: Report) -> int | None:
    """The input resolution along the first spatial axis, or None when unknown."""
    size = report.meta.get("input_size")
    if not size:
        return None
    return int(size[1]) if len(size) >= 2 else int(size[0])


def has_saturation(report: Report) -> bool:
    """Whether any layer has a measured saturation (train or eval) or is dead."""
    layers = report.layers
    return bool(
        layers["saturation_train"].notna().any()
        or layers["saturation_eval"].notna().any()
        or layers["dead"].any()
    )


def has_probes(report: Report) -> bool:
    """Whether any layer has a probe accuracy."""
    return bool(report.layers["probe_accuracy"].notna().any())


def status_sentence(report: Report) -> str:
    """One or two sentences that say how the report was obtained and how far to trust it."""
    status = report.status
    detail = report.meta.get("status_detail")
    detail = f" ({detail})" if detail else ""
    if status == "graph_only":
        return (
            f"Graph only{detail}: no data was given, so saturation was not measured; "
            "the tail rests on the receptive field alone."
        )
    if status == "diverged":
        return (
            f"Training diverged{detail}: the loss became NaN or infinite, so the saturation "
            "values are unreliable and the tail rests on the receptive field."
        )
    if status == "eval_only":
        return (
            f"Evaluation only{detail}: the model was not trained here; saturation was measured "
            "on the given data with the weights as they are."
        )
    return f"Saturation measured on the given data{detail}."


def tail_evidence_summary(report: Report) -> str:
    """A short phrase naming the evidence behind the tail."""
    layers = report.layers
    kinds = set(layers.loc[layers["in_tail"], "evidence"])
    if kinds == {"both"}:
        return "both evidences"
    if kinds == {"receptive_field"}:
        return "receptive field only"
    if kinds == {"saturation"}:
        return "saturation only"
    return "mixed evidence"


def agreement_sentences(report: Report) -> list[str]:
    """Says where receptive field and saturation agree and where they disagree."""
    layers = report.layers
    if not has_saturation(report):
        return ["Only the receptive field is available, so agreement cannot be checked."]
    out = []
    tail = layers[layers["in_tail"]]
    both = int((tail["evidence"] == "both").sum())
    if len(tail):
        out.append(f"The two evidences agree on {both} of {len(tail)} tail layer(s).")
    rf_only = layers.loc[layers["evidence"] == "receptive_field", "name"].tolist()
    sat_only = layers.loc[layers["evidence"] == "saturation", "name"].tolist()
    if rf_only:
        out.append("Unproductive by receptive field only: " + ", ".join(rf_only) + ".")
    if sat_only:
        out.append("Low saturation only: " + ", ".join(sat_only) + ".")
    if not rf_only and not sat_only:
        out.append("No layer is flagged by one evidence and not the other.")
    return out


def prediction_rows(before: Prediction, after: Prediction) -> list[tuple[str, str, str, str]]:
    """Rows (metric, before, after, change) comparing two predictions."""

    def ratio(b: int, a: int) -> str:
        if b == a:
            return "unchanged"
        if b == 0:
            return f"+{fmt_count(a)}"
        return f"{TIMES}{a / b:.2f}"

    return [
        (
            "parameters",
            fmt_count(before.params),
            fmt_count(after.params),
            ratio(before.params, after.params),
        ),
        (
            "FLOPs",
            fmt_count(before.flops),
            fmt_count(after.flops),
            ratio(before.flops, after.flops),
        ),
        (
            "feasible input range",
            fmt_range(before.input_range),
            fmt_range(after.input_range),
            "unchanged" if before.input_range == after.input_range else "changed",
        ),
        (
            "unproductive layers",
            str(before.unproductive),
            str(after.unproductive),
            f"{after.unproductive - before.unproductive:+d}"
            if after.unproductive != before.unproductive
            else "unchanged",
        ),
    ]


def layer_table(report: Report) -> tuple[list[str], list[list[str]]]:
    """The layer table as (header, rows of cell strings), in forward order."""
    header = [
        "#",
        "layer",
        "type",
        "params",
        "FLOPs",
        "output",
        "r_min",
        "r_max",
        "unproductive",
        "sat. train",
        "sat. eval",
        "idim train",
        "idim eval",
        "probe acc.",
        "tail",
        "evidence",
    ]
    rows = []
    for i, rec in enumerate(report.layers.to_dict(orient="records")):
        rows.append(
            [
                str(i),
                rec["name"],
                rec["type"],
                fmt_count(rec["params"]),
                fmt_count(rec["flops"]),
                fmt_shape(rec["output_shape"]),
                fmt_rf(rec["r_min"]),
                fmt_rf(rec["r_max"]),
                "yes" if rec["unproductive"] else "",
                fmt_saturation(rec["saturation_train"], rec["dead"]),
                fmt_saturation(rec["saturation_eval"], rec["dead"]),
                fmt_idim(rec["idim_train"]),
                fmt_idim(rec["idim_eval"]),
                fmt_percent(rec["probe_accuracy"]),
                "tail" if rec["in_tail"] else "",
                rec["evidence"],
            ]
        )
    return header, rows


def run_facts(report: Report) -> list[tuple[str, str]]:
    """(label, value) pairs describing the run, for the report header."""
    meta = report.meta
    facts = [
        ("model", str(meta.get("model", MISSING))),
        ("data", str(meta["data"]) if meta.get("data") else "none (graph only)"),
        ("input size", input_size_text(report)),
        ("status", STATUS_LABELS[report.status]),
    ]
    for key, label in (
        ("epochs", "epochs"),
        ("train", "trained"),
        ("device", "device"),
        ("capture", "graph capture"),
    ):
        if meta.get(key) is not None:
            value = meta[key]
            facts.append(
                (label, ("yes" if value else "no") if isinstance(value, bool) else str(value))
            )
    if meta.get("elapsed_s") is not None:
        facts.append(("elapsed", f"{float(meta['elapsed_s']):.1f} s"))
    return facts


def versions_text(report: Report) -> str:
    """The versions line for the footer."""
    versions = report.meta.get("versions") or {}
    if not isinstance(versions, dict) or not versions:
        return ""
    return ", ".join(f"{k} {v}" for k, v in versions.items())
