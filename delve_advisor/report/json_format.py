"""The ``"json"`` report format: ``report.json``, the canonical form of a report."""

from __future__ import annotations

from pathlib import Path

from delve_advisor.report.formats import BaseReportFormat
from delve_advisor.report.report import Report

__all__ = ["JSONReportFormat"]


class JSONReportFormat(BaseReportFormat):
    """Writes ``report.json`` (see ``docs/report-schema.md``).

    Example:
        >>> import json
        >>> from delve_advisor.testing import tiny_report
        >>> json.loads(JSONReportFormat().render(tiny_report()))["schema_version"]
        '1.0'
    """

    def render(self, report: Report) -> str:
        """Returns the report as JSON text (:meth:`Report.to_json`)."""
        return report.to_json()

    def write(self, report: Report, directory: Path) -> dict[str, Path]:
        """Writes report.json; returns ``{"json": path}``."""
        path = directory / "report.json"
        path.write_text(report.to_json() + "\n", encoding="utf-8")
        return {"json": path}
