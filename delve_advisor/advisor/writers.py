"""Deprecated: report writers are now report formats in :mod:`delve_advisor.report.formats`."""

from __future__ import annotations

from delve_advisor._deprecation import deprecated_function, warn_deprecated
from delve_advisor.report import (
    BaseReportFormat,
    HTMLReportFormat,
    JSONReportFormat,
    MarkdownReportFormat,
    PlotsReportFormat,
    get_report_format,
    list_report_formats,
    register_report_format,
    unregister_report_format,
    write_report,
)

warn_deprecated("delve_advisor.advisor.writers", "delve_advisor.report.formats", stacklevel=2)

BaseReportWriter = BaseReportFormat
HTMLReportWriter = HTMLReportFormat
JSONReportWriter = JSONReportFormat
MarkdownReportWriter = MarkdownReportFormat
PlotsReportWriter = PlotsReportFormat
get_report_writer = deprecated_function(
    get_report_format, "get_report_writer", "delve_advisor.report.get_report_format"
)
list_report_writers = deprecated_function(
    list_report_formats, "list_report_writers", "delve_advisor.report.list_report_formats"
)
register_report_writer = deprecated_function(
    register_report_format, "register_report_writer", "delve_advisor.report.register_report_format"
)
unregister_report_writer = deprecated_function(
    unregister_report_format,
    "unregister_report_writer",
    "delve_advisor.report.unregister_report_format",
)

__all__ = [
    "BaseReportWriter",
    "HTMLReportWriter",
    "JSONReportWriter",
    "MarkdownReportWriter",
    "PlotsReportWriter",
    "get_report_writer",
    "list_report_writers",
    "register_report_writer",
    "unregister_report_writer",
    "write_report",
]
