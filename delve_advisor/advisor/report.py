"""The advisor's report: per-layer table, tail, ranked suggestions and run metadata.

The JSON document written by :meth:`Report.to_json` is the canonical form; Markdown, HTML and the
plots are rendered from the same object by the writers in :mod:`delve_advisor.advisor.writers`.
The JSON layout is described by ``report_schema.json`` (JSON Schema draft 2020-12) and documented,
with its versioning policy, in ``docs/report-schema.md``.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from delve_advisor.advisor._report_checks import (
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
from delve_advisor.edits import Edit, EditResult, Prediction, apply_edits, edit_from_dict
from delve_advisor.exceptions import (
    InvalidArgumentError,
    MissingDependencyError,
    ReportFormatError,
)

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

# --------------------------------------------------------------------------- data model


@dataclass
class Suggestion:
    """One concrete change to try, with its predicted effect.

    Args:
        kind: One of :data:`SUGGESTION_KINDS`.
        targets: Module paths it changes, or ``["input"]`` for ``resize_input``.
        rationale: Why, in words and numbers.
        edits: The edits, as :class:`~delve_advisor.edits.Edit` objects or their plain-data
            dicts (``{"op": "set_stride", "module": "conv1", "value": [1, 1]}``); kept as a
            tuple of ``Edit`` objects.
        before: Metrics of the model as it is.
        after: Predicted metrics after the edits.
        rank: 1 for the suggestion to try first.
    """

    kind: str
    targets: list[str]
    rationale: str
    edits: tuple[Edit, ...]
    before: Prediction
    after: Prediction
    rank: int

    def __post_init__(self) -> None:
        if self.kind not in SUGGESTION_KINDS:
            raise InvalidArgumentError(
                f"Suggestion.kind must be one of {list(SUGGESTION_KINDS)}, got {self.kind!r}"
            )
        if (
            isinstance(self.targets, str)
            or not isinstance(self.targets, Sequence)
            or not self.targets
            or not all(isinstance(t, str) and t for t in self.targets)
        ):
            raise InvalidArgumentError(
                "Suggestion.targets must be a non-empty list of module paths (or ['input']), "
                f"got {self.targets!r}"
            )
        self.targets = list(self.targets)
        if not isinstance(self.rationale, str):
            raise InvalidArgumentError(
                f"Suggestion.rationale must be a string, got {type(self.rationale).__name__}"
            )
        if isinstance(self.edits, (str, Mapping)) or not isinstance(self.edits, Sequence):
            raise InvalidArgumentError(
                f"Suggestion.edits must be a list of dicts, got {type(self.edits).__name__}"
            )
        edits = []
        for i, edit in enumerate(self.edits):
            if not isinstance(edit, Edit):
                if not isinstance(edit, Mapping) or not isinstance(edit.get("op"), str):
                    raise InvalidArgumentError(
                        f"Suggestion.edits[{i}] must be a dict with a string 'op' key, got {edit!r}"
                    )
                jsonable(edit, f"Suggestion.edits[{i}]")
                try:
                    edit = edit_from_dict(edit)
                except InvalidArgumentError as error:
                    raise type(error)(f"Suggestion.edits[{i}]: {error}") from error
            edits.append(edit)
        self.edits = tuple(edits)
        for name in ("before", "after"):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                setattr(self, name, Prediction.from_dict(value))
            elif not isinstance(value, Prediction):
                raise InvalidArgumentError(
                    f"Suggestion.{name} must be a Prediction, got {type(value).__name__}"
                )
        if isinstance(self.rank, bool) or not isinstance(self.rank, numbers.Integral):
            raise InvalidArgumentError(f"Suggestion.rank must be an int >= 1, got {self.rank!r}")
        if self.rank < 1:
            raise InvalidArgumentError(f"Suggestion.rank must be >= 1, got {self.rank}")
        self.rank = int(self.rank)

    def to_dict(self) -> dict[str, Any]:
        """Returns the suggestion as plain JSON data."""
        return {
            "rank": self.rank,
            "kind": self.kind,
            "targets": list(self.targets),
            "rationale": self.rationale,
            "edits": [e.to_dict() for e in self.edits],
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Suggestion:
        """Builds a suggestion from :meth:`to_dict` output.

        Raises:
            ReportFormatError: A required key is missing.
        """
        keys = ("rank", "kind", "targets", "rationale", "edits", "before", "after")
        require_keys(data, keys, "suggestion")
        return cls(
            kind=data["kind"],
            targets=data["targets"],
            rationale=data["rationale"],
            edits=data["edits"],
            before=Prediction.from_dict(data["before"]),
            after=Prediction.from_dict(data["after"]),
            rank=data["rank"],
        )

    def apply(self, model: Any, input_size: Sequence[int] | None = None) -> EditResult:
        """Applies this suggestion's edits to a copy of ``model``; see ``apply_edits``.

        Args:
            model: The model the report was made for (it is not changed).
            input_size: (C, H, W) the report was made at: ``report.meta["input_size"]``.

        Returns:
            The :class:`~delve_advisor.edits.EditResult`.

        Raises:
            InvalidArgumentError: ``input_size`` is missing.
            EditError: An edit cannot be applied (the message names the module).
        """
        if input_size is None:
            raise InvalidArgumentError(
                "Suggestion.apply needs input_size=(C, H, W), the size the report was made at: "
                "pass report.meta['input_size']"
            )
        return apply_edits(model, self.edits, tuple(input_size))


@dataclass(eq=False)
class Report:
    """What the advisor found: per-layer table, the tail, ranked suggestions and run metadata.

    The constructor checks every field and brings ``layers`` and ``history`` to their canonical
    columns and dtypes (on copies; the frames passed in are not changed). Compare two reports with
    :meth:`equals`.

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
    """

    layers: pd.DataFrame
    tail: list[str]
    suggestions: list[Suggestion]
    meta: dict[str, Any]
    history: pd.DataFrame | None = None
    SCHEMA_VERSION: ClassVar[str] = "1.0"

    def __post_init__(self) -> None:
        self.layers = normalise_layers(self.layers)
        self.tail = check_tail(self.tail, self.layers)
        self.suggestions = _check_suggestions(self.suggestions)
        self.meta = check_meta(self.meta)
        if self.history is not None:
            self.history = normalise_history(self.history)

    # ----------------------------------------------------------------- derived

    @property
    def status(self) -> str:
        """The run status: ``"ok"``, ``"graph_only"``, ``"diverged"`` or ``"eval_only"``."""
        return self.meta["status"]

    @property
    def headline(self) -> str:
        """One sentence that says what was found: ``meta["headline"]`` or composed from data."""
        given = self.meta.get("headline")
        if isinstance(given, str) and given.strip():
            return given.strip()
        from delve_advisor.advisor._report_format import compose_headline

        return compose_headline(self)

    def equals(self, other: object) -> bool:
        """Whether ``other`` is a report with the same content (NaN equals NaN, dtypes match)."""
        if not isinstance(other, Report):
            return False
        if not frames_equal(self.layers, other.layers):
            return False
        if (self.history is None) != (other.history is None):
            return False
        if self.history is not None and not frames_equal(self.history, other.history):
            return False
        return (
            self.tail == other.tail
            and self.suggestions == other.suggestions
            and jsonable(self.meta, "meta") == jsonable(other.meta, "meta")
        )

    # ----------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        """Returns the report as plain JSON data following ``report_schema.json``.

        NaN and infinities become None; an infinite ``r_max`` also sets the row's ``is_global``.

        Raises:
            InvalidArgumentError: A field was changed after construction into something invalid
                or not writable as JSON.
        """
        import delve_advisor

        layers = normalise_layers(self.layers)
        rows = []
        for record in layers.to_dict(orient="records"):
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
        if self.history is not None:
            history = [
                {key: jsonable(value, f"history.{key}") for key, value in rec.items()}
                for rec in normalise_history(self.history).to_dict(orient="records")
            ]
        return {
            "schema_version": self.SCHEMA_VERSION,
            "generator": {
                "name": "delve-advisor",
                "version": str(getattr(delve_advisor, "__version__", "unknown")),
            },
            "headline": self.headline,
            "meta": jsonable(check_meta(self.meta), "meta"),
            "tail": list(self.tail),
            "layer_columns": list(layers.columns),
            "layers": rows,
            "suggestions": [s.to_dict() for s in sorted(self.suggestions, key=_rank)],
            "history": history,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Returns the report as a JSON string (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """Builds a report from :meth:`to_dict` output (any 1.x schema version).

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
                meta=copy.deepcopy(dict(data["meta"]))
                if isinstance(data["meta"], Mapping)
                else data["meta"],
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
        """Reads a report saved by :meth:`save` (a directory) or a ``report.json`` file."""
        return cls.from_json(Path(path))

    # ----------------------------------------------------------------- renderings

    def to_markdown(self) -> str:
        """Returns the report as Markdown: headline, status, tail, suggestions, layers, warnings."""
        from delve_advisor.advisor._report_markdown import render_markdown

        return render_markdown(self)

    def to_html(self) -> str:
        """Returns the report as one self-contained HTML page with the plots embedded as PNG."""
        from delve_advisor.advisor._report_html import render_html

        return render_html(self)

    def save(self, directory: str | Path, formats: Sequence[str] | None = None) -> dict[str, Path]:
        """Writes the report into ``directory`` (created) with the registered report writers.

        Args:
            directory: Where to write; created with its parents if missing.
            formats: Writer names to use, in order; None uses every registered writer
                (built-ins: ``"json"`` → report.json, ``"markdown"`` → report.md, ``"html"`` →
                report.html, ``"plots"`` → one PNG per plot).

        Returns:
            Artifact name (``"json"``, ``"markdown"``, ``"html"``, ``"plot_saturation"``, …) →
            path of the written file.

        Raises:
            UnknownNameError: A format has no registered writer.
            DuplicateRegistrationError: Two writers produced the same artifact name.
        """
        from delve_advisor.advisor.writers import write_report

        return write_report(self, directory, formats=formats)


# --------------------------------------------------------------------------- schema


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    return (
        resources.files("delve_advisor.advisor")
        .joinpath("report_schema.json")
        .read_text(encoding="utf-8")
    )


def report_schema() -> dict[str, Any]:
    """Returns the JSON Schema (draft 2020-12) of the report document, as a fresh dict."""
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
    """
    try:
        import jsonschema
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
            f"the report does not match schema {Report.SCHEMA_VERSION}: " + "; ".join(shown) + more
        )


# --------------------------------------------------------------------------- checks


def _rank(suggestion: Suggestion) -> int:
    return suggestion.rank


def _check_schema_version(version: Any) -> None:
    if not isinstance(version, str):
        raise ReportFormatError(
            f"the report has no valid 'schema_version' (got {version!r}); this reader supports "
            f"{Report.SCHEMA_VERSION.split('.')[0]}.x"
        )
    major = version.split(".")[0]
    if major != Report.SCHEMA_VERSION.split(".")[0]:
        raise ReportFormatError(
            f"report schema_version {version!r} is not supported by this delve-advisor, which "
            f"reads {Report.SCHEMA_VERSION.split('.')[0]}.x; use the delve-advisor release that "
            "wrote it"
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
