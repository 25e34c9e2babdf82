"""Reports: frozen records of what the advisor found, and the formats that write them.

Bottom to top: :mod:`~delve_advisor.report.suggestion` (its predictions are
:mod:`~delve_advisor.report.layer` and :mod:`~delve_advisor.report.report` hold the frozen
records (the layer table is a DataFrame view of the report); :mod:`~delve_advisor.report.schema`
checks the JSON document; :mod:`~delve_advisor.report.formats` is the registry of report formats,
and the built-in formats (JSON, Markdown, HTML, plots) each live in their own module above the
records.
"""

from __future__ import annotations

from delve_advisor.edits import Prediction
from delve_advisor.report.formats import (
    BaseReportFormat,
    get_report_format,
    list_report_formats,
    register_report_format,
    unregister_report_format,
    write_report,
)
from delve_advisor.report.headline import compose_headline
from delve_advisor.report.html import HTMLReportFormat, render_html
from delve_advisor.report.json_format import JSONReportFormat
from delve_advisor.report.layer import LayerEvidence
from delve_advisor.report.markdown import MarkdownReportFormat, render_markdown
from delve_advisor.report.plots import (
    PLOT_NAMES,
    PlotsReportFormat,
    figure_to_png,
    plot_combined,
    plot_receptive_field,
    plot_report,
    plot_saturation,
    report_plots,
)
from delve_advisor.report.report import (
    EVIDENCE_KINDS,
    HISTORY_COLUMNS,
    LAYER_COLUMNS,
    REPORT_STATUSES,
    SUGGESTION_KINDS,
    Report,
)
from delve_advisor.report.schema import report_schema, validate_report
from delve_advisor.report.suggestion import Suggestion

# The built-in formats, in the order Report.save writes them by default.
register_report_format("json", JSONReportFormat)
register_report_format("markdown", MarkdownReportFormat)
register_report_format("html", HTMLReportFormat)
register_report_format("plots", PlotsReportFormat)

__all__ = [
    "EVIDENCE_KINDS",
    "HISTORY_COLUMNS",
    "LAYER_COLUMNS",
    "PLOT_NAMES",
    "REPORT_STATUSES",
    "SUGGESTION_KINDS",
    "BaseReportFormat",
    "HTMLReportFormat",
    "JSONReportFormat",
    "LayerEvidence",
    "MarkdownReportFormat",
    "PlotsReportFormat",
    "Prediction",
    "Report",
    "Suggestion",
    "compose_headline",
    "figure_to_png",
    "get_report_format",
    "list_report_formats",
    "plot_combined",
    "plot_receptive_field",
    "plot_report",
    "plot_saturation",
    "register_report_format",
    "render_html",
    "render_markdown",
    "report_plots",
    "report_schema",
    "unregister_report_format",
    "validate_report",
    "write_report",
]
