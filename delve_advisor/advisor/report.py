"""Deprecated: the report moved to :mod:`delve_advisor.report`; this module re-exports it."""

from __future__ import annotations

from delve_advisor._deprecation import warn_deprecated
from delve_advisor.report import (
    EVIDENCE_KINDS,
    HISTORY_COLUMNS,
    LAYER_COLUMNS,
    REPORT_STATUSES,
    SUGGESTION_KINDS,
    Prediction,
    Report,
    Suggestion,
    report_schema,
    validate_report,
)

warn_deprecated("delve_advisor.advisor.report", "delve_advisor.report", stacklevel=2)

__all__ = [
    "EVIDENCE_KINDS",
    "HISTORY_COLUMNS",
    "LAYER_COLUMNS",
    "REPORT_STATUSES",
    "SUGGESTION_KINDS",
    "Prediction",
    "Report",
    "Suggestion",
    "report_schema",
    "validate_report",
]
