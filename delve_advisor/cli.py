"""The ``delve-advisor`` command line: thin wrappers over the library."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import NoReturn

import typer

from delve_advisor.exceptions import DelveAdvisorError

app = typer.Typer(
    name="delve-advisor",
    help="Find the layers of a PyTorch model that do no useful work on your data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main() -> None:
    """Find the layers of a PyTorch model that do no useful work on your data."""


def _configure_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _fail(error: Exception) -> NoReturn:
    message = " ".join(str(error).split())
    typer.echo(f"delve-advisor: error: {message}", err=True)
    raise typer.Exit(code=2)


def _finish(report, paths: dict, quiet: bool) -> None:
    where = paths.get("html") or next(iter(paths.values()))
    if not quiet:
        for kind, path in paths.items():
            typer.echo(f"{kind}: {path}")
    typer.echo(f"report: {where}")
    typer.echo(report.headline)


@app.command()
def analyze(
    model: str = typer.Option(..., "--model", "-m", help="torchvision:NAME or module:factory."),
    data: str | None = typer.Option(
        None,
        "--data",
        "-d",
        help="fashion-mnist:DIR, cifar10:DIR, imagefolder:DIR, npz:FILE or synthetic; "
        "omit for a report from the graph alone.",
    ),
    input_size: int | None = typer.Option(None, "--input-size", "-s", help="Input side in pixels."),
    epochs: int = typer.Option(3, "--epochs", "-e", min=1, help="Training epochs."),
    out: Path = typer.Option(Path("delve-advisor-report"), "--out", "-o", help="Report folder."),
    num_classes: int | None = typer.Option(
        None, "--num-classes", help="Classes (default: the data's)."
    ),
    in_channels: int | None = typer.Option(
        None, "--in-channels", help="Input channels (default: the data's, else 3)."
    ),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="state_dict to load."),
    no_train: bool = typer.Option(False, "--no-train", help="Only evaluate (a trained model)."),
    probes: bool = typer.Option(False, "--probes", help="Fit a linear probe per layer."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="At most this many samples a split."
    ),
    val_split: float | None = typer.Option(
        None,
        "--val-split",
        help="Share of the training split held out (per class, seeded) as the evaluation data, "
        "in place of the source's own held-out split.",
    ),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and the result."),
) -> None:
    """Analyse a model (and a short training run on data) and write the report."""
    from delve_advisor.advisor.advise import advise
    from delve_advisor.data import load_data
    from delve_advisor.models import load_model

    _configure_logging(quiet)
    try:
        loaded = None
        if data is not None:
            loaded = load_data(
                data, input_size=input_size, batch_size=batch_size, limit=limit, val_split=val_split
            )
        elif val_split is not None:
            raise DelveAdvisorError("--val-split needs --data to split")
        channels = in_channels or (loaded.in_channels if loaded else 3)
        classes = num_classes or (loaded.num_classes if loaded else None)
        if loaded is None and input_size is None:
            raise DelveAdvisorError("--input-size is required without --data")
        net = load_model(model, num_classes=classes, in_channels=channels, checkpoint=checkpoint)
        side = loaded.input_size if loaded is not None else (input_size, input_size)
        report = advise(
            net,
            loaded,
            input_size=(channels, *side),
            epochs=epochs,
            train=not no_train,
            device=device,
            probes=probes,
            lr=lr,
            model_name=model,
            progress=None if not quiet else False,
        )
        paths = report.save(out)
    except DelveAdvisorError as error:
        _fail(error)
    _finish(report, paths, quiet)


@app.command()
def demo(
    out: Path = typer.Option(Path("delve-advisor-report"), "--out", "-o", help="Report folder."),
    epochs: int = typer.Option(3, "--epochs", "-e", min=1, help="Training epochs."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and the result."),
) -> None:
    """Run the advisor on ResNet-18 and built-in synthetic data (no data set or GPU needed)."""
    from delve_advisor.advisor.demo import run_demo

    _configure_logging(quiet)
    try:
        report, paths = run_demo(
            out, epochs=epochs, device=device, progress=None if not quiet else False
        )
    except DelveAdvisorError as error:
        _fail(error)
    _finish(report, paths, quiet)


# ------------------------------------------------------------------------- apply (issue 8)


def _parse_size(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        raise DelveAdvisorError(f"--input-size must be C,H,W (e.g. 3,224,224), got {text!r}")
    return values


@app.command()
def apply(
    model: str = typer.Option(..., "--model", "-m", help="torchvision:NAME or module:factory."),
    edits: Path | None = typer.Option(None, "--edits", help="Edit list (.json, .yaml)."),
    from_report: Path | None = typer.Option(
        None, "--from-report", help="report.json whose suggestion to apply."
    ),
    suggestion: int = typer.Option(1, "--suggestion", help="Rank of the suggestion (1 first)."),
    weights: Path | None = typer.Option(None, "--weights", help="state_dict of the model."),
    input_size: str | None = typer.Option(
        None, "--input-size", "-s", help="C,H,W (default: the report's)."
    ),
    num_classes: int | None = typer.Option(None, "--num-classes", help="Model outputs."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to save the edited model (.pt)."),
) -> None:
    """Apply edits (a file, or a report's suggestion) to a model and save the edited copy."""
    from delve_advisor.edits import apply_to_spec, edits_from_report, load_edits, save_edited
    from delve_advisor.report._text import prediction_rows

    try:
        if (edits is None) == (from_report is None):
            raise DelveAdvisorError("give exactly one of --edits FILE and --from-report FILE")
        size = _parse_size(input_size) if input_size is not None else None
        if from_report is not None:
            chosen, report_size = edits_from_report(from_report, suggestion)
            size = size or report_size
        else:
            chosen = load_edits(edits)
        if size is None:
            raise DelveAdvisorError("--input-size C,H,W is required with --edits")
        result = apply_to_spec(
            model, chosen, size, weights=weights, num_classes=num_classes, in_channels=size[0]
        )
        rows = prediction_rows(result.before, result.after)
        save_edited(out, result, model, num_classes=num_classes, in_channels=size[0])
    except DelveAdvisorError as error:
        _fail(error)
    for edit in result.edits:
        mark = " (coupled)" if edit in result.coupled else ""
        typer.echo(f"edit: {edit.op} {edit.module} {edit.to_dict().get('value', '')}{mark}")
    width = max(len(r[0]) for r in rows)
    typer.echo(f"{'':{width}}  {'before':>14}  {'after':>14}  change")
    for metric, before, after, change in rows:
        typer.echo(f"{metric:{width}}  {before:>14}  {after:>14}  {change}")
    if result.resize is not None:
        typer.echo(f"input size: {'x'.join(map(str, result.input_size))} (resize the data)")
    typer.echo(f"saved: {out}")


@app.command()
def search(
    recipe: Path = typer.Argument(..., help="The YAML recipe (see docs/search.md)."),
    storage: str | None = typer.Option(
        None, "--storage", help="Optuna storage URL (default: journal file in the run dir)."
    ),
    study: str | None = typer.Option(None, "--study", help="Study name (default: recipe's)."),
    n_trials: int | None = typer.Option(
        None, "--n-trials", min=1, help="Trials wanted in the study in total (resume counts)."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes on this machine."),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0.001, help="Start no new trial after this many seconds."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and the result."),
) -> None:
    """Validate the advisor's suggestions with an Optuna search of short training runs."""
    from delve_advisor.search.run import run_search

    _configure_logging(quiet)
    try:
        result = run_search(
            recipe,
            storage=storage,
            study=study,
            n_trials=n_trials,
            workers=workers,
            timeout=timeout,
            out=out,
            progress=None if not quiet else False,
        )
    except DelveAdvisorError as error:
        _fail(error)
    counts = ", ".join(f"{v} {k.lower()}" for k, v in sorted(result.trials.items()))
    typer.echo(f"study {result.study_name} on {result.storage}: {counts}")
    for best in result.best:
        kind = "pareto front" if len(best["values"]) > 1 else "best"
        values = ", ".join(f"{v:.4g}" for v in best["values"])
        typer.echo(f"{kind}: trial {best['number']} ({best['label']}): {values}")
    for entry in result.test:
        measured = (
            f"test accuracy {entry['test_accuracy']:.4f} on {entry['test_samples']} samples"
            if "test_accuracy" in entry
            else f"not measured: {entry['error']}"
        )
        roles = " and ".join(entry["roles"])
        typer.echo(f"test: trial {entry['number']} ({roles}, {entry['label']}): {measured}")
    if not quiet:
        for kind, path in result.paths.items():
            typer.echo(f"{kind}: {path}")
    typer.echo(f"report: {result.paths.get('html')}")


def main() -> None:  # pragma: no cover - console entry point
    """Runs the app (``python -m delve_advisor.cli``)."""
    app(prog_name="delve-advisor")
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
