"""Advisor: layer costs, tail detection, suggestions and reports."""

from __future__ import annotations

from delve_advisor.advisor.cost import count_parameters, layer_costs, total_flops
from delve_advisor.advisor.plots import (
    plot_combined,
    plot_receptive_field,
    plot_saturation,
)
from delve_advisor.advisor.report import (
    Prediction,
    Report,
    Suggestion,
    report_schema,
    validate_report,
)
from delve_advisor.advisor.writers import (
    BaseReportWriter,
    get_report_writer,
    list_report_writers,
    register_report_writer,
    unregister_report_writer,
)

__all__ = [
    "BaseReportWriter",
    "Prediction",
    "Report",
    "Suggestion",
    "count_parameters",
    "get_report_writer",
    "layer_costs",
    "list_report_writers",
    "plot_combined",
    "plot_receptive_field",
    "plot_saturation",
    "register_report_writer",
    "report_schema",
    "total_flops",
    "unregister_report_writer",
    "validate_report",
]
