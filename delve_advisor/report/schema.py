"""The JSON Schema of the report document, and validation against it."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from delve_advisor.exceptions import MissingDependencyError, ReportFormatError
from delve_advisor.report.report import SCHEMA_VERSION, Report

__all__ = ["report_schema", "validate_report"]


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    return (
        resources.files("delve_advisor.report")
        .joinpath("report_schema.json")
        .read_text(encoding="utf-8")
    )


def report_schema() -> dict[str, Any]:
    """Returns the JSON Schema (draft 2020-12) of the report document, as a fresh dict.

    Returns:
        The schema.

    Example:
        >>> report_schema()["$schema"]
        'https://json-schema.org/draft/2020-12/schema'
    """
    return json.loads(_schema_text())


def validate_report(data: Mapping[str, Any] | Report) -> None:
    """Checks a report document against ``report_schema.json``.

    Needs the optional ``jsonschema`` package (in the ``dev`` extra); reading and writing reports
    does not.

    Args:
        data: A report dict (as from :meth:`Report.to_dict` or ``json.load``) or a Report.

    Raises:
        MissingDependencyError: ``jsonschema`` is not installed.
        ReportFormatError: The document does not match; the message lists the failing fields.

    Example:
        >>> from delve_advisor.testing import tiny_report
        >>> validate_report(tiny_report())  # no error: the document matches
    """
    try:
        import jsonschema  # optional dependency, imported only when validating
    except ImportError as exc:
        raise MissingDependencyError(
            "validate_report needs the 'jsonschema' package; install it with "
            "`pip install jsonschema` or `pip install delve-advisor[dev]`"
        ) from exc
    if isinstance(data, Report):
        data = data.to_dict()
    validator = jsonschema.Draft202012Validator(report_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        shown = [
            f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
            for e in errors[:5]
        ]
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise ReportFormatError(
            f"the report does not match schema {SCHEMA_VERSION}: " + "; ".join(shown) + more
        )
