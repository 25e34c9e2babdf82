"""Advisor: layer costs, tail detection, suggestions and reports."""

from __future__ import annotations

from delve_advisor.advisor.advise import advise
from delve_advisor.advisor.plots import (
    plot_combined,
    plot_receptive_field,
    plot_saturation,
)
from delve_advisor.advisor.probes import probe_accuracy
from delve_advisor.advisor.report import (
    Prediction,
    Report,
    Suggestion,
    report_schema,
    validate_report,
)
from delve_advisor.advisor.suggestions import predict, rf_evidence, suggest, weighted_layers
from delve_advisor.advisor.tail import TailAnalysis, TailThresholds, find_tail
from delve_advisor.advisor.writers import (
    BaseReportWriter,
    get_report_writer,
    list_report_writers,
    register_report_writer,
    unregister_report_writer,
)
from delve_advisor.cost import count_parameters, layer_costs, total_flops
from delve_advisor.training import RunResult, run_with_tracker

__all__ = [
    "BaseReportWriter",
    "Prediction",
    "Report",
    "RunResult",
    "Suggestion",
    "TailAnalysis",
    "TailThresholds",
    "advise",
    "count_parameters",
    "find_tail",
    "get_report_writer",
    "layer_costs",
    "list_report_writers",
    "plot_combined",
    "plot_receptive_field",
    "plot_saturation",
    "predict",
    "probe_accuracy",
    "register_report_writer",
    "report_schema",
    "rf_evidence",
    "run_with_tracker",
    "suggest",
    "total_flops",
    "unregister_report_writer",
    "validate_report",
    "weighted_layers",
]
