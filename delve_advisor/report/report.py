"""The advisor's report: per-layer evidence, tail, ranked suggestions and run metadata.

:class:`Report` is a frozen record: the constructor checks every field and normalises the layer
table and the history once; nothing re-normalises afterwards, and every accessor returns a copy.
The JSON document written by :meth:`Report.to_json` is the canonical form; Markdown, HTML and the
plots are the registered report formats of :mod:`delve_advisor.report.formats`. The JSON layout
is described by ``report_schema.json`` (see :mod:`delve_advisor.report.schema`) and documented,
with its versioning policy, in ``docs/report-schema.md``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from delve_advisor._version import __version__
from delve_advisor.edits import Prediction
from delve_advisor.exceptions import InvalidArgumentError, ReportFormatError
from delve_advisor.report._normalise import (
    EVIDENCE_KINDS,
    HISTORY_COLUMNS,
    LAYER_COLUMNS,
    REPORT_STATUSES,
    SUGGESTION_KINDS,
    check_meta,
    check_tail,
    frames_equal,
    jsonable,
    layers_from_rows,
    normalise_history,
    normalise_layers,
    require_keys,
)
from delve_advisor.report.formats import get_report_format, write_report
from delve_advisor.report.headline import compose_headline
from delve_advisor.report.layer import LayerEvidence
from delve_advisor.report.suggestion import Suggestion

__all__ = [
    "EVIDENCE_KINDS",
    "HISTORY_COLUMNS",
    "LAYER_COLUMNS",
    "REPORT_STATUSES",
    "SUGGESTION_KINDS",
    "Prediction",
    "Report",
    "Suggestion",
]

SCHEMA_VERSION = "1.0"


class Report:
    """What the advisor found: per-layer table, the tail, ranked suggestions and run metadata.

    A frozen record: the constructor checks every field and brings ``layers`` and ``history`` to
    their canonical columns and dtypes once (on copies; the frames passed in are not changed).
    Attributes cannot be set afterwards and every accessor returns a copy, so a report cannot
    change after construction. Compare two reports with :meth:`equals`.

    Args:
        layers: One row per analysed layer in forward order, with the columns of
            :data:`LAYER_COLUMNS` (``saturation_*``, ``idim_*``, ``probe_accuracy`` default to NaN
            and ``dead`` to False when absent). Extra columns are kept. ``r_min``/``r_max`` may be
            ``inf`` (global layers).
        tail: Module paths of the tail layers; each must be a row of ``layers`` whose ``in_tail``
            is True, and every such row must be listed. Kept in forward order.
        suggestions: Ranked suggestions (ranks unique); kept sorted by rank.
        meta: Run metadata; ``status`` (one of :data:`REPORT_STATUSES`) is required. Known keys
            are listed in ``docs/report-schema.md``; ``warnings`` defaults to ``[]``.
        history: Optional saturation history in long format with :data:`HISTORY_COLUMNS`.

    Raises:
        InvalidArgumentError: A field is missing or outside its valid values; the message names
            the field (and row) and the value received.

    Example:
        >>> import pandas as pd
        >>> layers = pd.DataFrame({
        ...     "name": ["conv1"], "type": ["Conv2d"], "params": [432], "flops": [10],
        ...     "output_shape": [[16, 28, 28]], "r_min": [3.0], "r_max": [3.0],
        ...     "unproductive": [False], "in_tail": [False], "evidence": ["neither"]})
        >>> report = Report(layers=layers, tail=[], suggestions=[], meta={"status": "graph_only"})
        >>> Report.from_json(report.to_json()).equals(report)
        True
        >>> report.layer_evidence[0].module_path
        'conv1'
    """

    SCHEMA_VERSION: ClassVar[str] = SCHEMA_VERSION
    __slots__ = (
        "__weakref__",
        "_evidence",
        "_history",
        "_layers",
        "_meta",
        "_suggestions",
        "_tail",
    )

    def __init__(
        self,
        layers: pd.DataFrame,
        tail: Sequence[str],
        suggestions: Sequence[Suggestion],
        meta: Mapping[str, Any],
        history: pd.DataFrame | None = None,
    ) -> None:
        table = normalise_layers(layers)
        _set = object.__setattr__
        _set(self, "_layers", table)
        _set(self, "_tail", tuple(check_tail(tail, table)))
        _set(self, "_suggestions", tuple(_check_suggestions(suggestions)))
        _set(self, "_meta", copy.deepcopy(check_meta(meta)))
        _set(self, "_history", None if history is None else normalise_history(history))
        _set(self, "_evidence", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"a Report is frozen: cannot set {name!r}; build a new Report with the changed field"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Report is frozen: cannot delete {name!r}")

    def __repr__(self) -> str:
        return (
            f"Report(status={self.status!r}, layers={len(self._layers)}, tail={list(self._tail)}, "
            f"suggestions={len(self._suggestions)})"
        )

    # ----------------------------------------------------------------- fields

    @property
    def layers(self) -> pd.DataFrame:
        """The layer table, a DataFrame view derived from the report (a fresh copy each time)."""
        return self._layers.copy()

    @property
    def layer_evidence(self) -> tuple[LayerEvidence, ...]:
        """The layer table as frozen :class:`LayerEvidence` records, in forward order."""
        if self._evidence is None:
            object.__setattr__(self, "_evidence", _evidence_records(self._layers))
        return self._evidence

    @property
    def tail(self) -> tuple[str, ...]:
        """Module paths of the tail layers, in forward order."""
        return self._tail

    @property
    def suggestions(self) -> tuple[Suggestion, ...]:
        """The suggestions, sorted by rank."""
        return self._suggestions

    @property
    def meta(self) -> dict[str, Any]:
        """The run metadata (a deep copy)."""
        return copy.deepcopy(self._meta)

    @property
    def history(self) -> pd.DataFrame | None:
        """The saturation history in long format (a copy), or None."""
        return None if self._history is None else self._history.copy()

    # ----------------------------------------------------------------- derived

    @property
    def status(self) -> str:
        """The run status: ``"ok"``, ``"graph_only"``, ``"diverged"`` or ``"eval_only"``."""
        return self._meta["status"]

    @property
    def headline(self) -> str:
        """One sentence that says what was found: ``meta["headline"]`` or composed from data."""
        given = self._meta.get("headline")
        if isinstance(given, str) and given.strip():
            return given.strip()
        return compose_headline(self)

    def equals(self, other: object) -> bool:
        """Whether ``other`` is a report with the same content (NaN equals NaN, dtypes match)."""
        if not isinstance(other, Report):
            return False
        if not frames_equal(self._layers, other._layers):
            return False
        if (self._history is None) != (other._history is None):
            return False
        if self._history is not None and not frames_equal(self._history, other._history):
            return False
        return (
            self._tail == other._tail
            and self._suggestions == other._suggestions
            and jsonable(self._meta, "meta") == jsonable(other._meta, "meta")
        )

    # ----------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        """Returns the report as plain JSON data following ``report_schema.json``.

        NaN and infinities become None; an infinite ``r_max`` also sets the row's ``is_global``.
        """
        rows = []
        for record in self._layers.to_dict(orient="records"):
            row = {
                key: jsonable(value, f"layers[{record['name']!r}].{key}")
                for key, value in record.items()
            }
            for key in ("idim_train", "idim_eval"):  # whole numbers, stored as float for NaN
                if row[key] is not None:
                    row[key] = int(row[key])
            row["is_global"] = bool(math.isinf(record["r_max"]))
            rows.append(row)
        history = None
        if self._history is not None:
            history = [
                {key: jsonable(value, f"history.{key}") for key, value in rec.items()}
                for rec in self._history.to_dict(orient="records")
            ]
        return {
            "schema_version": self.SCHEMA_VERSION,
            "generator": {"name": "delve-advisor", "version": __version__},
            "headline": self.headline,
            "meta": jsonable(self._meta, "meta"),
            "tail": list(self._tail),
            "layer_columns": list(self._layers.columns),
            "layers": rows,
            "suggestions": [s.to_dict() for s in self._suggestions],
            "history": history,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Returns the report as a JSON string (see :meth:`to_dict`).

        Args:
            indent: Indentation of the JSON text; None writes one line.

        Returns:
            The JSON text.
        """
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """Builds a report from :meth:`to_dict` output (any 1.x schema version).

        Args:
            data: The report document.

        Returns:
            The report.

        Raises:
            ReportFormatError: The document lacks a field, has an unsupported schema version or
                holds invalid values; the message names the field.
        """
        if not isinstance(data, Mapping):
            raise ReportFormatError(f"a report must be a JSON object, got {type(data).__name__}")
        _check_schema_version(data.get("schema_version"))
        keys = ("meta", "tail", "layers", "suggestions")
        require_keys(data, keys, "report")
        try:
            layers = layers_from_rows(data["layers"], data.get("layer_columns"))
            history = data.get("history")
            if history is not None:
                history = pd.DataFrame.from_records(history, columns=list(HISTORY_COLUMNS))
            suggestions = data["suggestions"]
            if not isinstance(suggestions, list):
                raise InvalidArgumentError("suggestions must be a list")
            return cls(
                layers=layers,
                tail=data["tail"],
                suggestions=[Suggestion.from_dict(s) for s in suggestions],
                meta=data["meta"],
                history=history,
            )
        except ReportFormatError:
            raise
        except (InvalidArgumentError, TypeError, KeyError, ValueError) as exc:
            raise ReportFormatError(f"invalid report document: {exc}") from exc

    @classmethod
    def from_json(cls, source: str | Path) -> Report:
        """Reads a report from a JSON string or from the path of a JSON file.

        Args:
            source: The JSON text, or a path (``str`` or ``Path``) to a ``report.json`` file or
                to a directory that holds one.

        Returns:
            The report.

        Raises:
            ReportFormatError: The text is not JSON or not a valid report.
            FileNotFoundError: ``source`` is a path that does not exist.
        """
        if isinstance(source, str) and source.lstrip().startswith("{"):
            text = source
        else:
            path = Path(source)
            if path.is_dir():
                path = path / "report.json"
            text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReportFormatError(f"the report is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> Report:
        """Reads a report saved by :meth:`save` (a directory) or a ``report.json`` file.

        Args:
            path: The directory or the file.

        Returns:
            The report.
        """
        return cls.from_json(Path(path))

    # ----------------------------------------------------------------- renderings

    def to_markdown(self) -> str:
        """Returns the report rendered by the registered ``"markdown"`` report format."""
        return get_report_format("markdown").render(self)

    def to_html(self) -> str:
        """Returns the report rendered by the registered ``"html"`` report format."""
        return get_report_format("html").render(self)

    def save(self, directory: str | Path, formats: Sequence[str] | None = None) -> dict[str, Path]:
        """Writes the report into ``directory`` (created) with the registered report formats.

        Args:
            directory: Where to write; created with its parents if missing.
            formats: Format names to use, in order; None uses every registered format
                (built-ins: ``"json"`` → report.json, ``"markdown"`` → report.md, ``"html"`` →
                report.html, ``"plots"`` → one PNG per plot).

        Returns:
            Artifact name (``"json"``, ``"markdown"``, ``"html"``, ``"plot_saturation"``, …) →
            path of the written file.

        Raises:
            UnknownNameError: A format is not registered.
            InvalidArgumentError: Two formats produced the same artifact name.
        """
        return write_report(self, directory, formats=formats)


def _evidence_records(table: pd.DataFrame) -> tuple[LayerEvidence, ...]:
    extra = [c for c in table.columns if c not in LAYER_COLUMNS]
    records = []
    for row in table.to_dict(orient="records"):
        known = {c: row[c] for c in LAYER_COLUMNS if c != "name"}
        records.append(
            LayerEvidence(module_path=row["name"], **known, extra={c: row[c] for c in extra})
        )
    return tuple(records)


def _rank(suggestion: Suggestion) -> int:
    return suggestion.rank


def _check_schema_version(version: Any) -> None:
    major = SCHEMA_VERSION.split(".")[0]
    if not isinstance(version, str):
        raise ReportFormatError(
            f"the report has no valid 'schema_version' (got {version!r}); this reader supports "
            f"{major}.x"
        )
    if version.split(".")[0] != major:
        raise ReportFormatError(
            f"report schema_version {version!r} is not supported by this delve-advisor, which "
            f"reads {major}.x; use the delve-advisor release that wrote it"
        )


def _check_suggestions(suggestions: Any) -> list[Suggestion]:
    if isinstance(suggestions, (str, Mapping)) or not isinstance(suggestions, Sequence):
        raise InvalidArgumentError(
            f"Report.suggestions must be a list of Suggestion, got {type(suggestions).__name__}"
        )
    for i, s in enumerate(suggestions):
        if not isinstance(s, Suggestion):
            raise InvalidArgumentError(
                f"Report.suggestions[{i}] must be a Suggestion, got {type(s).__name__}"
            )
    ranks = [s.rank for s in suggestions]
    if len(set(ranks)) != len(ranks):
        raise InvalidArgumentError(f"Report.suggestions ranks must be unique, got {ranks}")
    return sorted(suggestions, key=_rank)
