"""The search's outputs in the run directory: table, best edits, plots and the search report.

- ``trials.csv``: one row per trial (``study.trials_dataframe()``: number, state, values, params,
  user attributes).
- ``best_edits.json``: the best trial's edits, in the format of
  :func:`delve_advisor.edits.save_edits` (``delve-advisor apply`` takes it).
- ``history.png``: validation accuracy per trial and the best so far.
- ``pareto.png``: validation accuracy against FLOPs, the Pareto front marked.
- ``search.md`` / ``search.html``: each suggestion's *predicted* effect (FLOPs, unproductive
  layers, from the advisor's report) next to its *measured* effect (accuracy difference to the
  baseline trial, FLOPs, wall time), and the best trials.
- ``test.json`` (and a section of the report), when the recipe holds a validation split out of
  the training data (``data.val_split``): the best trial and the baseline retrained once and
  measured on the test split, which no trial saw (see
  :meth:`~delve_advisor.search.SearchObjective.measure_on_test`).
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from delve_advisor.edits import save_edits
from delve_advisor.search.space import BASELINE, SearchSpace

__all__ = [
    "TEST_FILE",
    "baseline_trial",
    "best_trial",
    "measured_effects",
    "pareto_front",
    "write_search_outputs",
]

TEST_FILE = "test.json"


def _completed(study: optuna.Study, feasible: bool = False) -> list[FrozenTrial]:
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if "val_accuracy" in t.user_attrs
        and not (feasible and any(v > 0 for v in t.constraints.values()))
    ]


def pareto_front(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The trials no other trial beats on both accuracy (higher) and FLOPs (lower).

    Returns:
        The non-dominated trials, fewest FLOPs first.

    Example:
        >>> import optuna
        >>> trials = [
        ...     optuna.trial.create_trial(
        ...         value=acc, user_attrs={"label": label, "val_accuracy": acc, "flops": flops}
        ...     )
        ...     for label, acc, flops in [
        ...         ("baseline", 0.70, 500), ("1", 0.78, 900), ("2", 0.74, 400), ("1+2", 0.72, 950)
        ...     ]
        ... ]
        >>> [t.user_attrs["label"] for t in pareto_front(trials)]  # baseline and 1+2 are beaten
        ['2', '1']
    """
    front = []
    for t in trials:
        acc, flops = t.user_attrs["val_accuracy"], t.user_attrs.get("flops", math.inf)
        dominated = any(
            o.user_attrs["val_accuracy"] >= acc
            and o.user_attrs.get("flops", math.inf) <= flops
            and (o.user_attrs["val_accuracy"] > acc or o.user_attrs.get("flops", math.inf) < flops)
            for o in trials
        )
        if not dominated:
            front.append(t)
    return sorted(front, key=lambda t: t.user_attrs.get("flops", 0))


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The feasible completed trial with the best accuracy (fewest FLOPs on a tie).

    A trial above the recipe's FLOPs or parameter budget (a positive constraint) is never best.

    Returns:
        The trial, or None when no feasible trial completed.

    Example:
        >>> import optuna
        >>> study = optuna.create_study(direction="maximize")
        >>> best_trial(study) is None
        True
        >>> runs = [("baseline", 0.70, -1.0), ("1", 0.81, 2e6), ("2", 0.74, 0.0)]
        >>> for label, acc, over_budget in runs:  # over_budget: FLOPs above the limit
        ...     attrs = {"label": label, "val_accuracy": acc, "flops": 1000}
        ...     trial = optuna.trial.create_trial(
        ...         value=acc, user_attrs=attrs, constraints={"flops": over_budget}
        ...     )
        ...     study.add_trial(trial)
        >>> best_trial(study).user_attrs["label"]  # "1" is more accurate but over the budget
        '2'
    """
    trials = _completed(study, feasible=True)
    if not trials:
        return None
    return max(trials, key=lambda t: (t.user_attrs["val_accuracy"], -t.user_attrs.get("flops", 0)))


def _best_labelled(trials: list[FrozenTrial], label: str, space: SearchSpace) -> FrozenTrial | None:
    """The most accurate trial with ``label``, at the default input size and lr when any is."""

    def default(t: FrozenTrial) -> bool:
        return t.params.get("input_size", space.input_size) == space.input_size and (
            "lr" not in t.params or math.isclose(t.params["lr"], space.lr, rel_tol=1e-9)
        )

    found = [t for t in trials if t.user_attrs.get("label") == label]
    preferred = [t for t in found if default(t)] or found
    return max(preferred, key=lambda t: t.user_attrs["val_accuracy"], default=None)


def baseline_trial(study: optuna.Study, space: SearchSpace) -> FrozenTrial | None:
    """The completed baseline trial (no edit) that the measured effects compare with.

    The most accurate one at the space's default input size and learning rate (any input size
    and learning rate when none ran at the defaults).

    Returns:
        The trial, or None when no baseline trial completed.

    Example:
        >>> import optuna
        >>> from delve_advisor.search import build_space
        >>> space = build_space([], input_size=16)
        >>> study = optuna.create_study(direction="maximize")
        >>> for label, acc in [("baseline", 0.70), ("baseline", 0.72)]:
        ...     attrs = {"label": label, "val_accuracy": acc}
        ...     study.add_trial(optuna.trial.create_trial(value=acc, user_attrs=attrs))
        >>> baseline_trial(study, space).number
        1
    """
    return _best_labelled(_completed(study), BASELINE, space)


def measured_effects(study: optuna.Study, report: Any, space: SearchSpace) -> list[dict[str, Any]]:
    """One row per suggestion in the space: predicted effect next to the measured one.

    The measured effect comes from the best completed trial that switched on that suggestion
    alone (at the default input size and learning rate when those are searched too), compared
    with the best completed baseline trial.

    Returns:
        Rows with the keys ``label``, ``kind``, ``targets``, ``predicted_flops``,
        ``predicted_unproductive``, ``trial``, ``val_accuracy``, ``delta_accuracy``, ``flops``
        and ``wall_s`` (all strings), the baseline first.

    Example:
        >>> import optuna
        >>> from delve_advisor import advise
        >>> from delve_advisor.search import build_space
        >>> from delve_advisor.testing import tail_cnn
        >>> report = advise(tail_cnn(), None, input_size=(3, 16, 16))  # graph only, no data
        >>> space = build_space(report.suggestions, input_size=16, max_suggestions=2)
        >>> study = optuna.create_study(direction="maximize")
        >>> for label, acc in [("baseline", 0.70), ("1", 0.78), ("2", 0.66)]:
        ...     attrs = {"label": label, "val_accuracy": acc, "flops": 1000, "wall_s": 1.0}
        ...     study.add_trial(optuna.trial.create_trial(value=acc, user_attrs=attrs))
        >>> rows = measured_effects(study, report, space)
        >>> [(row["label"], row["kind"], row["trial"], row["delta_accuracy"]) for row in rows]
        [('baseline', '(no edit)', '0', ''),
         ('1', 'drop_downsampling', '1', '+0.0800'),
         ('2', 'drop_downsampling', '2', '-0.0400')]
    """
    trials = _completed(study)
    base = _best_labelled(trials, BASELINE, space)
    rows = [_row("baseline", None, base, base)]
    for rank, suggestion in sorted(space.suggestions.items()):
        rows.append(_row(str(rank), suggestion, _best_labelled(trials, str(rank), space), base))
    return rows


def _row(label: str, suggestion: Any, trial: FrozenTrial | None, base: FrozenTrial | None):
    row: dict[str, Any] = {"label": label}
    if suggestion is not None:
        row.update(
            kind=suggestion.kind,
            targets=", ".join(suggestion.targets),
            predicted_flops=f"{suggestion.before.flops:,} → {suggestion.after.flops:,}",
            predicted_unproductive=(
                f"{suggestion.before.unproductive} → {suggestion.after.unproductive}"
            ),
        )
    else:
        row.update(kind="(no edit)", targets="", predicted_flops="", predicted_unproductive="")
    if trial is None:
        row.update(trial="not run", val_accuracy="", delta_accuracy="", flops="", wall_s="")
        return row
    acc = trial.user_attrs["val_accuracy"]
    delta = ""
    if base is not None and trial is not base:
        delta = f"{acc - base.user_attrs['val_accuracy']:+.4f}"
    row.update(
        trial=str(trial.number),
        val_accuracy=f"{acc:.4f}",
        delta_accuracy=delta,
        flops=f"{trial.user_attrs.get('flops', 0):,}",
        wall_s=f"{trial.user_attrs.get('wall_s', math.nan):.1f}",
    )
    return row


_COLUMNS = [
    ("label", "edits"),
    ("kind", "kind"),
    ("targets", "targets"),
    ("predicted_flops", "predicted FLOPs"),
    ("predicted_unproductive", "predicted unproductive"),
    ("trial", "trial"),
    ("val_accuracy", "val accuracy"),
    ("delta_accuracy", "Δ accuracy vs baseline"),
    ("flops", "measured FLOPs"),
    ("wall_s", "wall s"),
]


def _figure() -> Any:
    """A figure on the Agg canvas, never pyplot: no global state, no display."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # imported when drawing
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5))
    FigureCanvasAgg(fig)
    return fig


def _plot_history(trials: list[FrozenTrial], path: Path) -> Path:
    fig = _figure()
    ax = fig.subplots()
    numbers = [t.number for t in trials]
    accs = [t.user_attrs["val_accuracy"] for t in trials]
    best, running = [], -math.inf
    for acc in accs:
        running = max(running, acc)
        best.append(running)
    ax.scatter(numbers, accs, s=18, label="trial")
    ax.step(numbers, best, where="post", color="C1", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation accuracy")
    ax.set_title("optimisation history")
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _plot_pareto(trials: list[FrozenTrial], path: Path) -> Path:
    fig = _figure()
    ax = fig.subplots()
    front = pareto_front(trials)
    ax.scatter(
        [t.user_attrs.get("flops", 0) for t in trials],
        [t.user_attrs["val_accuracy"] for t in trials],
        s=18,
        alpha=0.6,
        label="trial",
    )
    ax.plot(
        [t.user_attrs.get("flops", 0) for t in front],
        [t.user_attrs["val_accuracy"] for t in front],
        "o-",
        color="C3",
        label="Pareto front",
    )
    for t in front:
        ax.annotate(
            t.user_attrs.get("label", ""),
            (t.user_attrs.get("flops", 0), t.user_attrs["val_accuracy"]),
            fontsize=7,
        )
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs (batch 1)")
    ax.set_ylabel("validation accuracy")
    ax.set_title("accuracy vs FLOPs")
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _failed_lines(study: optuna.Study) -> list[str]:
    lines = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        reason = t.user_attrs.get("fail_reason") or t.system_attrs.get("fail_reason", "unknown")
        lines.append(f"trial {t.number} ({t.user_attrs.get('label', '?')}): {reason}")
    return lines


_TEST_COLUMNS = [
    ("roles", "trial is"),
    ("number", "trial"),
    ("label", "edits"),
    ("trial_val_accuracy", "val accuracy (trial)"),
    ("val_accuracy", "val accuracy (retrained)"),
    ("test_accuracy", "test accuracy"),
    ("test_samples", "test images"),
]


def _test_cells(entry: dict[str, Any]) -> list[str]:
    cells = []
    for key, _ in _TEST_COLUMNS:
        value = entry.get(key)
        if key == "roles":
            cells.append(", ".join(value or []))
        elif isinstance(value, float):
            cells.append(f"{value:.4f}")
        else:
            cells.append("" if value is None else str(value))
    return cells


def write_search_outputs(
    study: optuna.Study,
    report: Any,
    space: SearchSpace,
    out_dir: str | Path,
    test: list[dict[str, Any]] | None = None,
) -> dict[str, Path]:
    """Writes the trials table, the best edits, the plots and the search report.

    Args:
        study: The finished (or interrupted) study.
        report: The advisor's :class:`~delve_advisor.Report` the space came from.
        space: The search space.
        out_dir: The run directory.
        test: Test-split measurements (the entries of
            :meth:`~delve_advisor.search.SearchObjective.measure_on_test`, each with
            ``roles``: ``["best"]``, ``["baseline"]`` or both), written as ``test.json`` and
            a section of the report; None or empty writes neither.

    Returns:
        Output kind (``"csv"``, ``"best_edits"``, ``"history"``, ``"pareto"``, ``"markdown"``,
        ``"html"``, ``"test"``) -> path; the plots and best edits only when a trial completed,
        ``"test"`` only with test measurements.

    Example:
        >>> import json, tempfile
        >>> import optuna
        >>> from delve_advisor import advise
        >>> from delve_advisor.search import build_space
        >>> from delve_advisor.testing import tail_cnn
        >>> report = advise(tail_cnn(), None, input_size=(3, 16, 16))  # graph only, no data
        >>> space = build_space(report.suggestions, input_size=16, max_suggestions=2)
        >>> study = optuna.create_study(study_name="demo", direction="maximize")
        >>> for label, acc in [("baseline", 0.70), ("1", 0.78)]:
        ...     attrs = {"label": label, "val_accuracy": acc, "flops": 1000,
        ...              "edits": list(space.edits(label))}
        ...     study.add_trial(optuna.trial.create_trial(value=acc, user_attrs=attrs))
        >>> paths = write_search_outputs(study, report, space, tempfile.mkdtemp())
        >>> sorted(paths)
        ['best_edits', 'csv', 'history', 'html', 'markdown', 'pareto']
        >>> json.loads(paths["best_edits"].read_text())
        [{'op': 'set_stride', 'module': '0', 'value': [1, 1]}]
        >>> "Best: trial 1 (1), val accuracy 0.7800" in paths["markdown"].read_text()
        True
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    frame = study.trials_dataframe()
    paths["csv"] = out / "trials.csv"
    frame.to_csv(paths["csv"], index=False)
    trials = _completed(study)
    best = best_trial(study)
    if best is not None:
        paths["best_edits"] = save_edits(out / "best_edits.json", best.user_attrs.get("edits", []))
        paths["history"] = _plot_history(trials, out / "history.png")
        paths["pareto"] = _plot_pareto(trials, out / "pareto.png")
    rows = measured_effects(study, report, space)
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    summary = ", ".join(f"{v} {k.lower()}" for k, v in sorted(counts.items())) or "no trials"
    best_text = (
        f"trial {best.number} ({best.user_attrs.get('label')}), val accuracy "
        f"{best.user_attrs['val_accuracy']:.4f}, {best.user_attrs.get('flops', 0):,} FLOPs"
        if best is not None
        else "none completed"
    )
    failed = _failed_lines(study)
    if test:
        paths["test"] = out / TEST_FILE
        tmp = paths["test"].with_suffix(".tmp")
        tmp.write_text(json.dumps(test, indent=2) + "\n")
        os.replace(tmp, paths["test"])
    test_note = (
        "Measured once after the search: the configuration retrained on the same budget and "
        "seed, evaluated on the test split that no trial saw (trials were chosen on the "
        "validation split held out of the training data)."
    )

    md = [
        f"# Search {study.study_name}",
        "",
        f"Model: {report.meta.get('model')}; data: {report.meta.get('data')}; trials: {summary}.",
        "",
        f"Best: {best_text}. Edits: `best_edits.json` (`delve-advisor apply`).",
        "",
        "## Predicted vs measured effect of each suggestion",
        "",
        "| " + " | ".join(title for _, title in _COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    md += ["| " + " | ".join(str(r[key]) for key, _ in _COLUMNS) + " |" for r in rows]
    if test:
        md += ["", "## Test split", "", test_note, ""]
        md += ["| " + " | ".join(title for _, title in _TEST_COLUMNS) + " |"]
        md += ["|" + "---|" * len(_TEST_COLUMNS)]
        md += ["| " + " | ".join(_test_cells(entry)) + " |" for entry in test]
    if best is not None:
        md += ["", "![history](history.png)", "", "![pareto](pareto.png)"]
    if failed:
        md += ["", "## Failed trials", ""] + [f"- {line}" for line in failed]
    paths["markdown"] = out / "search.md"
    paths["markdown"].write_text("\n".join(md) + "\n")

    esc = html.escape
    table = "".join(f"<th>{esc(title)}</th>" for _, title in _COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(str(r[key]))}</td>" for key, _ in _COLUMNS) + "</tr>"
        for r in rows
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Search {esc(study.study_name)}</title></head><body>",
        f"<h1>Search {esc(study.study_name)}</h1>",
        f"<p>Model: {esc(str(report.meta.get('model')))}; trials: {esc(summary)}.</p>",
        f"<p>Best: {esc(best_text)}.</p>",
        "<h2>Predicted vs measured effect of each suggestion</h2>",
        f"<table border='1'><tr>{table}</tr>{body}</table>",
    ]
    if test:
        head = "".join(f"<th>{esc(title)}</th>" for _, title in _TEST_COLUMNS)
        rows_html = "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _test_cells(entry)) + "</tr>"
            for entry in test
        )
        parts += [f"<h2>Test split</h2><p>{esc(test_note)}</p>"]
        parts += [f"<table border='1'><tr>{head}</tr>{rows_html}</table>"]
    if best is not None:
        parts += ["<img src='history.png' alt='history'>", "<img src='pareto.png' alt='pareto'>"]
    if failed:
        parts += ["<h2>Failed trials</h2><ul>"]
        parts += [f"<li>{esc(line)}</li>" for line in failed]
        parts += ["</ul>"]
    parts.append("</body></html>")
    paths["html"] = out / "search.html"
    paths["html"].write_text("\n".join(parts) + "\n")
    return paths
