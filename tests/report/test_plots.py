"""Tests of the report plots: what each figure draws, and that it renders to a real PNG."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.patches import Rectangle

from delve_advisor.exceptions import UnknownNameError
from delve_advisor.report import Report, plot_combined, plot_receptive_field, plot_saturation
from delve_advisor.report.plots import PLOT_NAMES, figure_to_png, plot_report, report_plots


def _tail_rectangles(ax) -> list[tuple[float, float]]:
    """(x0, x1) of the full-height shaded spans (axvspan) on an axes."""
    spans = []
    for patch in ax.patches:
        if isinstance(patch, Rectangle) and patch.get_gid() == "tail":
            spans.append((patch.get_x(), patch.get_x() + patch.get_width()))
    return spans


def _png_ok(fig: Figure) -> np.ndarray:
    data = figure_to_png(fig)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    pixels = imread(io.BytesIO(data), format="png")
    assert pixels.std() > 0.05
    return pixels


def test_saturation_plot_draws_train_and_eval_per_layer_with_the_tail_shaded(samples):
    report = samples.report()
    fig = plot_saturation(report)
    ax = fig.axes[0]
    bars = {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers}
    assert set(bars) == {"train", "eval"}
    expected = (report.layers["saturation_train"].fillna(0.0) * 100).tolist()
    np.testing.assert_allclose(bars["train"], expected, atol=1e-9)
    assert bars["eval"][2] == pytest.approx(46.875)
    assert _tail_rectangles(ax) == [(3.5, 5.5)]  # layers 4 and 5, forward order
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == report.layers["name"].tolist()
    dead = [c for c in ax.collections if c.get_label() == "dead"]
    assert len(dead) == 1 and dead[0].get_offsets()[:, 0].tolist() == [5.0]
    pixels = _png_ok(fig)
    assert pixels.shape[1] >= 590


def test_receptive_field_plot_marks_input_size_unproductive_and_global(samples):
    report = samples.report()
    fig = plot_receptive_field(report)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    assert set(lines) >= {"r_min", "r_max", "input size 28 px"}
    assert list(lines["input size 28 px"].get_ydata()) == [28, 28]
    r_max = np.asarray(lines["r_max"].get_ydata(), dtype=float)
    np.testing.assert_array_equal(r_max[:6], [3, 5, 9, 25, 57, 89])
    assert math.isnan(r_max[6])  # the global layer is not drawn as a number
    collections = {c.get_label(): c for c in ax.collections}
    assert collections["unproductive"].get_offsets()[:, 0].tolist() == [4.0, 5.0]
    assert collections["unproductive"].get_offsets()[:, 1].tolist() == [31.0, 47.0]
    assert collections["global (∞)"].get_offsets()[:, 0].tolist() == [6.0]
    assert ax.get_yscale() == "log"
    assert _tail_rectangles(ax) == [(3.5, 5.5)]
    _png_ok(fig)


def test_combined_figure_shares_the_layer_axis(samples):
    fig = plot_combined(samples.report())
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == [
        "receptive field (px)",
        "saturation (%)",
        "probe accuracy (%)",
    ]
    assert all(ax.get_xlim() == axes[0].get_xlim() for ax in axes)
    assert [t.get_text() for t in axes[-1].get_xticklabels()][-1] == "fc"
    probe = axes[2].lines[0].get_ydata()
    assert probe[0] == pytest.approx(62.0)
    assert all(_tail_rectangles(ax) == [(3.5, 5.5)] for ax in axes)
    _png_ok(fig)


def test_graph_only_plots(samples):
    report = samples.report("graph_only")
    assert report_plots(report) == ["receptive_field"]
    assert report_plots(samples.report()) == ["saturation", "receptive_field", "combined"]
    fig = plot_combined(report)  # receptive field only
    assert [ax.get_ylabel() for ax in fig.axes] == ["receptive field (px)"]
    fig = plot_saturation(report)  # drawable, and says why it is empty
    assert not fig.axes[0].containers
    assert "no saturation measured" in [t.get_text() for t in fig.axes[0].texts]


def test_plot_report_by_name_and_unknown_name(samples):
    report = samples.report()
    assert set(PLOT_NAMES) == {"saturation", "receptive_field", "combined"}
    assert isinstance(plot_report(report, "receptive_field"), Figure)
    with pytest.raises(UnknownNameError, match=r"no plot called 'heatmap'; the plots are"):
        plot_report(report, "heatmap")


def test_many_layers_get_a_capped_width_and_thinned_labels():
    n = 150
    layers = pd.DataFrame(
        {
            "name": [f"features.{i}" for i in range(n)],
            "type": ["Conv2d"] * n,
            "params": [10] * n,
            "flops": [100] * n,
            "output_shape": [[8, 4, 4]] * n,
            "r_min": np.arange(1, n + 1, dtype=float),
            "r_max": np.arange(1, n + 1, dtype=float) * 2,
            "unproductive": [False] * (n - 10) + [True] * 10,
            "saturation_train": np.linspace(0.9, 0.05, n),
            "in_tail": [False] * (n - 10) + [True] * 10,
            "evidence": ["neither"] * (n - 10) + ["both"] * 10,
        }
    )
    report = Report(
        layers=layers,
        tail=[f"features.{i}" for i in range(n - 10, n)],
        suggestions=[],
        meta={"status": "ok", "input_size": [3, 64, 64]},
    )
    fig = plot_saturation(report)
    assert fig.get_size_inches()[0] == pytest.approx(18.0)
    assert len(fig.axes[0].get_xticks()) <= 60
    assert [c.get_label() for c in fig.axes[0].containers] == ["train"]  # eval absent
    _png_ok(fig)


def test_plots_leave_pyplot_alone(samples):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_combined(samples.report())
    assert plt.get_fignums() == before
