"""Plots of a report: saturation per layer, receptive field vs depth, and the combined figure.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas, never through
``pyplot``, so they work without a display and leave the user's pyplot state alone.
"""

from __future__ import annotations

import io
import math
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from delve_advisor.exceptions import UnknownNameError
from delve_advisor.graph.plot import draw_receptive_field
from delve_advisor.report import _text as fmt
from delve_advisor.report.formats import BaseReportFormat
from delve_advisor.report.report import Report

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn (0.4 s off every import)
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "PLOT_NAMES",
    "PlotsReportFormat",
    "figure_to_png",
    "plot_combined",
    "plot_receptive_field",
    "plot_report",
    "plot_saturation",
    "report_plots",
    "report_pngs",
]

PLOT_NAMES: tuple[str, ...] = ("saturation", "receptive_field", "combined")

_TRAIN_COLOUR = "#1f77b4"
_EVAL_COLOUR = "#ff7f0e"
_TAIL_COLOUR = "#d62728"
_PROBE_COLOUR = "#2ca02c"


def _new_figure(n_layers: int, rows: int = 1) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = min(max(6.0, 0.28 * n_layers + 2.0), 18.0)
    fig = Figure(figsize=(width, 3.4 * rows + 0.9), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _tail_spans(in_tail: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs of True as (first, last) positions."""
    spans, start = [], None
    for i, flag in enumerate(in_tail):
        if flag and start is None:
            start = i
        if not flag and start is not None:
            spans.append((start, i - 1))
            start = None
    if start is not None:
        spans.append((start, len(in_tail) - 1))
    return spans


def _shade_tail(ax: Axes, report: Report, label: bool) -> None:
    for k, (first, last) in enumerate(_tail_spans(report.layers["in_tail"].to_numpy())):
        ax.axvspan(
            first - 0.5,
            last + 0.5,
            color=_TAIL_COLOUR,
            alpha=0.12,
            lw=0,
            label="tail" if label and k == 0 else None,
            gid="tail",
        )


def _layer_axis(ax: Axes, report: Report, labels: bool) -> None:
    n = len(report.layers)
    ax.set_xlim(-0.6, max(n, 1) - 0.4)
    step = max(1, math.ceil(n / 60))
    ticks = list(range(0, n, step))
    ax.set_xticks(ticks)
    if labels:
        names = report.layers["name"].tolist()
        ax.set_xticklabels([names[i] for i in ticks], rotation=90, fontsize=7)
        ax.set_xlabel("layer (forward order)")
    else:
        ax.tick_params(labelbottom=False)


def _draw_saturation(ax: Axes, report: Report, legend: bool = True) -> None:
    layers = report.layers
    x = np.arange(len(layers))
    _shade_tail(ax, report, label=True)
    train = layers["saturation_train"].to_numpy(dtype=float) * 100.0
    evaluation = layers["saturation_eval"].to_numpy(dtype=float) * 100.0
    has_train, has_eval = bool(np.isfinite(train).any()), bool(np.isfinite(evaluation).any())
    width = 0.4 if has_train and has_eval else 0.8
    if has_train:
        ax.bar(
            x - (width / 2 if has_eval else 0),
            np.nan_to_num(train),
            width,
            color=_TRAIN_COLOUR,
            label="train",
        )
    if has_eval:
        ax.bar(
            x + (width / 2 if has_train else 0),
            np.nan_to_num(evaluation),
            width,
            color=_EVAL_COLOUR,
            label="eval",
        )
    dead = layers["dead"].to_numpy()
    if dead.any():
        ax.scatter(
            x[dead],
            np.full(int(dead.sum()), 2.0),
            marker="x",
            color="black",
            zorder=3,
            label="dead",
        )
    if not (has_train or has_eval or dead.any()):
        ax.text(
            0.5,
            0.5,
            "no saturation measured",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="grey",
        )
    ax.set_ylim(0, 105)
    ax.set_ylabel("saturation (%)")
    ax.grid(axis="y", alpha=0.3)
    if legend:
        ax.legend(loc="upper right", fontsize=8)


def _draw_receptive_field(ax: Axes, report: Report, legend: bool = True) -> None:
    layers = report.layers
    _shade_tail(ax, report, label=True)
    draw_receptive_field(
        ax,
        layers["r_min"].to_numpy(dtype=float),
        layers["r_max"].to_numpy(dtype=float),
        layers["unproductive"].to_numpy(dtype=bool),
        fmt.input_side(report),
        legend=legend,
    )


def _draw_probes(ax: Axes, report: Report, legend: bool = True) -> None:
    layers = report.layers
    x = np.arange(len(layers))
    _shade_tail(ax, report, label=False)
    acc = layers["probe_accuracy"].to_numpy(dtype=float) * 100.0
    ax.plot(x, acc, marker="o", ms=3, color=_PROBE_COLOUR, label="probe accuracy")
    ax.set_ylim(0, 105)
    ax.set_ylabel("probe accuracy (%)")
    ax.grid(axis="y", alpha=0.3)
    if legend:
        ax.legend(loc="lower right", fontsize=8)


def _title(report: Report, what: str) -> str:
    model = report.meta.get("model")
    size = fmt.input_size_text(report)
    parts = [what] + ([str(model)] if model else []) + ([size] if size != fmt.MISSING else [])
    return " — ".join(parts)


def plot_saturation(report: Report) -> Figure:
    """Draws saturation per layer in forward order, train and eval side by side, tail shaded.

    Dead layers are marked with a cross instead of a zero bar.

    Args:
        report: The report to draw.

    Returns:
        A matplotlib Figure on the Agg canvas.

    Example:
        >>> from delve_advisor.testing import tiny_report
        >>> type(plot_saturation(tiny_report())).__name__
        'Figure'
    """
    fig = _new_figure(len(report.layers))
    ax = fig.add_subplot()
    _draw_saturation(ax, report)
    _layer_axis(ax, report, labels=True)
    ax.set_title(_title(report, "Saturation per layer"), fontsize=10)
    return fig


def plot_receptive_field(report: Report) -> Figure:
    """Draws r_min and r_max against depth, with the input size and unproductive layers marked.

    Global layers (infinite receptive field) are drawn as triangles at the top.

    Args:
        report: The report to draw.

    Returns:
        A matplotlib Figure on the Agg canvas.

    Example:
        >>> from delve_advisor.testing import tiny_report
        >>> len(plot_receptive_field(tiny_report()).axes)
        1
    """
    fig = _new_figure(len(report.layers))
    ax = fig.add_subplot()
    _draw_receptive_field(ax, report)
    _layer_axis(ax, report, labels=True)
    ax.set_title(_title(report, "Receptive field vs depth"), fontsize=10)
    return fig


def plot_combined(report: Report) -> Figure:
    """Draws receptive field, saturation and probe accuracy per layer on a shared x axis.

    The panels for saturation and probe accuracy appear only when the report has them.

    Args:
        report: The report to draw.

    Returns:
        A matplotlib Figure on the Agg canvas.

    Example:
        >>> from delve_advisor.testing import tiny_report
        >>> type(plot_combined(tiny_report())).__name__
        'Figure'
    """
    panels = [_draw_receptive_field]
    if fmt.has_saturation(report):
        panels.append(_draw_saturation)
    if fmt.has_probes(report):
        panels.append(_draw_probes)
    fig = _new_figure(len(report.layers), rows=len(panels))
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for i, (ax, draw) in enumerate(zip(axes, panels, strict=True)):
        draw(ax, report, legend=True)
        _layer_axis(ax, report, labels=i == len(panels) - 1)
    axes[0].set_title(_title(report, "Receptive field, saturation and probes"), fontsize=10)
    return fig


_PLOTTERS = {
    "saturation": plot_saturation,
    "receptive_field": plot_receptive_field,
    "combined": plot_combined,
}


def report_plots(report: Report) -> list[str]:
    """Names of the plots that carry information for this report, in display order.

    ``receptive_field`` always; ``saturation`` when saturation was measured; ``combined`` when
    saturation or probe accuracy adds to the receptive field.

    Example:
        >>> from delve_advisor.testing import tiny_report
        >>> report_plots(tiny_report())  # no saturation measured: only the receptive field
        ['receptive_field']
    """
    names = ["receptive_field"]
    if fmt.has_saturation(report):
        names.insert(0, "saturation")
    if fmt.has_saturation(report) or fmt.has_probes(report):
        names.append("combined")
    return names


def plot_report(report: Report, name: str) -> Figure:
    """Draws the plot called ``name`` (one of :data:`PLOT_NAMES`).

    Raises:
        UnknownNameError: ``name`` is not a plot name.

    Example:
        >>> from delve_advisor.testing import tiny_report
        >>> type(plot_report(tiny_report(), "receptive_field")).__name__
        'Figure'
    """
    try:
        plotter = _PLOTTERS[name]
    except KeyError:
        raise UnknownNameError(
            f"no plot called {name!r}; the plots are {list(PLOT_NAMES)}"
        ) from None
    return plotter(report)


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """Renders a figure to PNG bytes with the Agg canvas.

    Example:
        >>> from delve_advisor.testing import tiny_report
        >>> figure_to_png(plot_receptive_field(tiny_report()))[:8]
        b'\\x89PNG\\r\\n\\x1a\\n'
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# A report is frozen, so its plots can be drawn once and shared by the HTML and plots formats.
_PNGS: weakref.WeakKeyDictionary[Report, dict[str, bytes]] = weakref.WeakKeyDictionary()


def report_pngs(report: Report) -> dict[str, bytes]:
    """The report's plots (:func:`report_plots`) as PNG bytes, drawn once per report.

    Args:
        report: The report.

    Returns:
        Plot name → PNG bytes, in display order.
    """
    pngs = _PNGS.get(report)
    if pngs is None:
        pngs = {name: figure_to_png(plot_report(report, name)) for name in report_plots(report)}
        _PNGS[report] = pngs
    return dict(pngs)


class PlotsReportFormat(BaseReportFormat):
    """Writes one PNG per plot that has data (``saturation.png``, ``receptive_field.png``, …).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from delve_advisor.testing import tiny_report
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     sorted(PlotsReportFormat().write(tiny_report(), Path(tmp)))
        ['plot_receptive_field']
    """

    def write(self, report: Report, directory: Path) -> dict[str, Path]:
        """Writes the PNGs; returns ``{"plot_<name>": path}`` for each."""
        out = {}
        for name, png in report_pngs(report).items():
            path = directory / f"{name}.png"
            path.write_bytes(png)
            out[f"plot_{name}"] = path
        return out
