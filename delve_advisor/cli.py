"""The ``delve-advisor`` command line: thin wrappers over the library."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

app = typer.Typer(
    name="delve-advisor",
    help="Find the layers of a PyTorch model that do no useful work on your data.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _main() -> None:
    """Find the layers of a PyTorch model that do no useful work on your data."""


def _configure_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


@app.command()
def demo(
    out: Path = typer.Option(Path("delve-advisor-demo"), help="Output folder."),
    epochs: int = typer.Option(2, min=1, help="Training epochs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and the result."),
) -> None:
    """Track the saturation of a small CNN on built-in synthetic data (no data or GPU needed)."""
    from delve_advisor.saturation.demo import run_tracker_demo

    _configure_logging(quiet)
    result = run_tracker_demo(out, epochs=epochs)
    typer.echo(result)


if __name__ == "__main__":  # pragma: no cover
    app()
