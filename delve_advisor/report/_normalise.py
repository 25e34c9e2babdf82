"""Checks and conversions behind the frozen report records (:mod:`delve_advisor.report`).

Normalises the layer table and the history to their canonical columns and dtypes, checks the
tail and the metadata, and converts values to plain JSON data. The records call these once, at
construction; nothing re-normalises afterwards. Errors name the field, the row and the value
received.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from delve_advisor.exceptions import InvalidArgumentError, ReportFormatError
from delve_advisor.saturation.result import HISTORY_COLUMNS

SUGGESTION_KINDS: tuple[str, ...] = ("drop_downsampling", "prune_layers", "resize_input")
REPORT_STATUSES: tuple[str, ...] = ("ok", "graph_only", "diverged", "eval_only")
EVIDENCE_KINDS: tuple[str, ...] = ("receptive_field", "saturation", "both", "neither")
_HISTORY_MODES = ("train", "eval")

_REQUIRED = object()

# Known layer columns in their canonical order: name -> (kind, default when the column is absent).
_LAYER_SPEC: dict[str, tuple[str, Any]] = {
    "name": ("str", _REQUIRED),
    "type": ("str", _REQUIRED),
    "params": ("count", _REQUIRED),
    "flops": ("count", _REQUIRED),
    "output_shape": ("shape", _REQUIRED),
    "r_min": ("rf", _REQUIRED),
    "r_max": ("rf", _REQUIRED),
    "unproductive": ("bool", _REQUIRED),
    "saturation_train": ("fraction", math.nan),
    "saturation_eval": ("fraction", math.nan),
    "idim_train": ("idim", math.nan),
    "idim_eval": ("idim", math.nan),
    "dead": ("bool", False),
    "in_tail": ("bool", _REQUIRED),
    "evidence": ("evidence", _REQUIRED),
    "probe_accuracy": ("fraction", math.nan),
}
LAYER_COLUMNS: tuple[str, ...] = tuple(_LAYER_SPEC)

# --------------------------------------------------------------------------- JSON conversion


def jsonable(value: Any, where: str) -> Any:
    """Converts ``value`` to plain JSON data: NaN and ±inf become None, numpy/pandas scalars
    become Python scalars, tuples and arrays become lists."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.ndarray):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(value.tolist())]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidArgumentError(
                    f"{where}: keys must be strings to be written as JSON, got {key!r}; "
                    "convert the keys with str()"
                )
            out[key] = jsonable(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise InvalidArgumentError(
        f"{where}: a {type(value).__name__} cannot be written as JSON (got {value!r}); "
        "store plain numbers, strings, lists or dicts"
    )


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isnan(value)


# --------------------------------------------------------------------------- checks


def as_count(value: Any, where: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"{where} must be a non-negative integer, got {value!r}")
    if not math.isfinite(value) or value != int(value) or value < 0:
        raise InvalidArgumentError(f"{where} must be a non-negative integer, got {value!r}")
    return int(value)


def require_keys(data: Any, keys: Sequence[str], what: str) -> None:
    if not isinstance(data, Mapping):
        raise ReportFormatError(f"a {what} must be a JSON object, got {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ReportFormatError(f"the {what} lacks the field(s) {missing}; it has {list(data)}")


def frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return list(a.columns) == list(b.columns) and list(a.dtypes) == list(b.dtypes) and a.equals(b)


def _column_error(
    column: str, row: int, name: Any, expected: str, got: Any
) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"layers column {column!r}, row {row} ({name!r}): expected {expected}, got {got!r}"
    )


def normalise_layers(layers: Any) -> pd.DataFrame:
    if not isinstance(layers, pd.DataFrame):
        raise InvalidArgumentError(
            f"Report.layers must be a pandas DataFrame, got {type(layers).__name__}"
        )
    missing = [
        c
        for c, (_, default) in _LAYER_SPEC.items()
        if c not in layers.columns and default is _REQUIRED
    ]
    if missing:
        raise InvalidArgumentError(
            f"Report.layers lacks the column(s) {missing}; required are "
            f"{[c for c, (_, d) in _LAYER_SPEC.items() if d is _REQUIRED]}"
        )
    if any(not isinstance(c, str) for c in layers.columns):
        raise InvalidArgumentError(
            f"Report.layers column names must be strings, got {list(layers.columns)}"
        )
    if layers.columns.duplicated().any():
        raise InvalidArgumentError(f"Report.layers has duplicate columns {list(layers.columns)}")
    n = len(layers)
    names = [str(v) for v in layers["name"]] if n else []
    out: dict[str, Any] = {}
    for column, (kind, default) in _LAYER_SPEC.items():
        values = list(layers[column]) if column in layers.columns else [default] * n
        out[column] = _normalise_column(column, kind, values, names)
    extra = [c for c in layers.columns if c not in _LAYER_SPEC]
    frame = pd.DataFrame(out, index=pd.RangeIndex(n))
    for column in extra:
        frame[column] = list(layers[column])
    dup = frame["name"][frame["name"].duplicated()].tolist()
    if dup:
        raise InvalidArgumentError(f"Report.layers has duplicate layer names {dup}")
    return frame


def _normalise_column(column: str, kind: str, values: list[Any], names: list[str]) -> Any:
    checked: list[Any] = []
    for row, value in enumerate(values):
        name = names[row]
        if kind in ("str", "evidence"):
            if not isinstance(value, str):
                raise _column_error(column, row, name, "a string", value)
            if kind == "evidence" and value not in EVIDENCE_KINDS:
                raise _column_error(column, row, name, f"one of {list(EVIDENCE_KINDS)}", value)
        elif kind == "count":
            if (
                isinstance(value, (bool, np.bool_))
                or not isinstance(value, numbers.Real)
                or not math.isfinite(value)
                or value != int(value)
                or value < 0
            ):
                raise _column_error(column, row, name, "a non-negative integer", value)
            value = int(value)
        elif kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise _column_error(column, row, name, "True or False", value)
            value = bool(value)
        elif kind == "shape":
            if is_missing(value):
                value = None
            elif isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str):
                dims = []
                for d in list(value):
                    if (
                        isinstance(d, (bool, np.bool_))
                        or not isinstance(d, numbers.Integral)
                        or d < 0
                    ):
                        raise _column_error(column, row, name, "a list of non-negative ints", value)
                    dims.append(int(d))
                value = dims
            else:
                raise _column_error(column, row, name, "a list of ints or None", value)
        else:  # rf, fraction, idim: floats with NaN for "unknown"
            if value is None or value is pd.NA:
                value = math.nan
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
                raise _column_error(column, row, name, "a number or NaN", value)
            value = float(value)
            if not math.isnan(value):
                if kind == "rf" and value < 0:
                    raise _column_error(column, row, name, "a number >= 0, inf or NaN", value)
                if kind == "fraction" and not 0.0 <= value <= 1.0:
                    raise _column_error(column, row, name, "a number in [0, 1] or NaN", value)
                if kind == "idim" and (math.isinf(value) or value < 0 or value != int(value)):
                    raise _column_error(column, row, name, "a non-negative integer or NaN", value)
        checked.append(value)
    if kind in ("str", "evidence"):
        return pd.Series(checked, dtype=None if checked else str, index=pd.RangeIndex(len(checked)))
    if kind == "count":
        return np.asarray(checked, dtype=np.int64)
    if kind == "bool":
        return np.asarray(checked, dtype=bool)
    if kind == "shape":
        series = pd.Series([None] * len(checked), dtype=object)
        for i, v in enumerate(checked):
            series.iat[i] = v
        return series
    return np.asarray(checked, dtype=np.float64)


def layers_from_rows(rows: Any, columns: Any) -> pd.DataFrame:
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise ReportFormatError("'layers' must be a list of JSON objects, one per layer")
    if columns is None:
        columns = list(LAYER_COLUMNS)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ReportFormatError("'layer_columns' must be a list of column names")
    data: dict[str, list[Any]] = {c: [] for c in columns}
    for i, row in enumerate(rows):
        is_global = bool(row.get("is_global", False))
        for column in columns:
            if column not in row:
                raise ReportFormatError(f"layers[{i}] lacks the field {column!r}")
            value = row[column]
            if column in ("r_min", "r_max") and value is None and is_global:
                value = math.inf
            data[column].append(value)
    frame = pd.DataFrame(index=pd.RangeIndex(len(rows)))
    for column in columns:
        if column in _LAYER_SPEC:
            frame[column] = pd.Series(data[column], dtype=object)
        else:  # extra columns: let pandas infer, as it would have for the original frame
            frame[column] = pd.Series(data[column], dtype=None) if rows else []
    return frame


def check_tail(tail: Any, layers: pd.DataFrame) -> list[str]:
    if isinstance(tail, str) or not isinstance(tail, Sequence):
        raise InvalidArgumentError(f"Report.tail must be a list of module paths, got {tail!r}")
    tail = list(tail)
    names = list(layers["name"])
    unknown = [t for t in tail if t not in names]
    if unknown:
        raise InvalidArgumentError(
            f"Report.tail names {unknown}, which are not rows of Report.layers"
        )
    flagged = [n for n, t in zip(names, layers["in_tail"], strict=True) if t]
    if sorted(flagged) != sorted(tail):
        raise InvalidArgumentError(
            f"Report.tail {tail} disagrees with the layers marked in_tail {flagged}; "
            "set in_tail exactly for the tail layers"
        )
    position = {name: i for i, name in enumerate(names)}
    return sorted(tail, key=position.__getitem__)  # forward order


def check_meta(meta: Any) -> dict[str, Any]:
    if not isinstance(meta, Mapping):
        raise InvalidArgumentError(f"Report.meta must be a dict, got {type(meta).__name__}")
    meta = dict(meta)
    status = meta.get("status")
    if status not in REPORT_STATUSES:
        raise InvalidArgumentError(
            f"Report.meta['status'] must be one of {list(REPORT_STATUSES)}, got {status!r}"
        )
    warnings = meta.setdefault("warnings", [])
    if (
        isinstance(warnings, str)
        or not isinstance(warnings, Sequence)
        or not all(isinstance(w, str) for w in warnings)
    ):
        raise InvalidArgumentError(
            f"Report.meta['warnings'] must be a list of strings, got {warnings!r}"
        )
    meta["warnings"] = list(warnings)
    size = meta.get("input_size")
    if size is not None and (
        isinstance(size, str)
        or not isinstance(size, Sequence)
        or not size
        or not all(isinstance(v, numbers.Integral) and v > 0 for v in size)
    ):
        raise InvalidArgumentError(
            f"Report.meta['input_size'] must be a list of positive ints [C, H, W], got {size!r}"
        )
    jsonable(meta, "meta")  # fails early on values that cannot be written
    return meta


def normalise_history(history: Any) -> pd.DataFrame:
    if not isinstance(history, pd.DataFrame):
        raise InvalidArgumentError(
            f"Report.history must be a pandas DataFrame or None, got {type(history).__name__}"
        )
    if sorted(history.columns) != sorted(HISTORY_COLUMNS):
        raise InvalidArgumentError(
            f"Report.history must have exactly the columns {list(HISTORY_COLUMNS)}, got "
            f"{list(history.columns)}"
        )
    n = len(history)
    out: dict[str, Any] = {}
    epochs = []
    for i, v in enumerate(history["epoch"]):
        epochs.append(as_count(v, f"Report.history.epoch[{i}]"))
    out["epoch"] = np.asarray(epochs, dtype=np.int64)
    for column in ("mode", "layer", "stat"):
        values = list(history[column])
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise InvalidArgumentError(
                    f"Report.history.{column}[{i}] must be a string, got {v!r}"
                )
            if column == "mode" and v not in _HISTORY_MODES:
                raise InvalidArgumentError(
                    f"Report.history.mode[{i}] must be one of {list(_HISTORY_MODES)}, got {v!r}"
                )
        out[column] = pd.Series(values, dtype=None if values else str, index=pd.RangeIndex(n))
    values = []
    for i, v in enumerate(history["value"]):
        if v is None or v is pd.NA:
            v = math.nan
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise InvalidArgumentError(f"Report.history.value[{i}] must be a number, got {v!r}")
        values.append(float(v))
    out["value"] = np.asarray(values, dtype=np.float64)
    return pd.DataFrame(out, index=pd.RangeIndex(n))
