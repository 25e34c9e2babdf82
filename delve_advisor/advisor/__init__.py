"""Advisor: tail detection, suggestions, probes and :func:`advise`, which builds a report.

The report itself (records, schema, formats, plots) lives in :mod:`delve_advisor.report`; its
names are still served here as deprecated aliases.
"""

from __future__ import annotations

import delve_advisor.report as _report
from delve_advisor._deprecation import deprecated_attributes, deprecated_function
from delve_advisor.advisor.advise import advise
from delve_advisor.advisor.probes import probe_accuracy
from delve_advisor.advisor.suggestions import predict, rf_evidence, suggest, weighted_layers
from delve_advisor.advisor.tail import TailAnalysis, TailThresholds, find_tail
from delve_advisor.cost import count_parameters, layer_costs, total_flops
from delve_advisor.training import RunResult, run_with_tracker

__all__ = [
    "RunResult",
    "TailAnalysis",
    "TailThresholds",
    "advise",
    "count_parameters",
    "find_tail",
    "layer_costs",
    "predict",
    "probe_accuracy",
    "rf_evidence",
    "run_with_tracker",
    "suggest",
    "total_flops",
    "weighted_layers",
]

# Moved to delve_advisor.report (issue 7): old names keep working and warn.
_MOVED = {
    name: (getattr(_report, name), f"delve_advisor.report.{name}")
    for name in (
        "Prediction",
        "Report",
        "Suggestion",
        "report_schema",
        "validate_report",
        "plot_combined",
        "plot_receptive_field",
        "plot_saturation",
    )
}
_MOVED.update(
    {
        "BaseReportWriter": (_report.BaseReportFormat, "delve_advisor.report.BaseReportFormat"),
        "get_report_writer": (
            deprecated_function(
                _report.get_report_format,
                "get_report_writer",
                "delve_advisor.report.get_report_format",
            ),
            "delve_advisor.report.get_report_format",
        ),
        "list_report_writers": (
            deprecated_function(
                _report.list_report_formats,
                "list_report_writers",
                "delve_advisor.report.list_report_formats",
            ),
            "delve_advisor.report.list_report_formats",
        ),
        "register_report_writer": (
            deprecated_function(
                _report.register_report_format,
                "register_report_writer",
                "delve_advisor.report.register_report_format",
            ),
            "delve_advisor.report.register_report_format",
        ),
        "unregister_report_writer": (
            deprecated_function(
                _report.unregister_report_format,
                "unregister_report_writer",
                "delve_advisor.report.unregister_report_format",
            ),
            "delve_advisor.report.unregister_report_format",
        ),
    }
)
__getattr__ = deprecated_attributes(__name__, _MOVED)
