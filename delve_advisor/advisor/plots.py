"""Deprecated: the report plots moved to :mod:`delve_advisor.report.plots`."""

from __future__ import annotations

from delve_advisor._deprecation import warn_deprecated
from delve_advisor.report.plots import (
    PLOT_NAMES,
    figure_to_png,
    plot_combined,
    plot_receptive_field,
    plot_report,
    plot_saturation,
    report_plots,
)

warn_deprecated("delve_advisor.advisor.plots", "delve_advisor.report.plots", stacklevel=2)

__all__ = [
    "PLOT_NAMES",
    "figure_to_png",
    "plot_combined",
    "plot_receptive_field",
    "plot_report",
    "plot_saturation",
    "report_plots",
]
