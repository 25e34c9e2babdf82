"""advise(): the whole loop — receptive field, saturation, tail, suggestions — into a Report."""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn

from delve_advisor._version import __version__
from delve_advisor.advisor.probes import probe_accuracy
from delve_advisor.advisor.suggestions import rf_evidence, suggest, weighted_layers
from delve_advisor.advisor.tail import TailAnalysis, TailThresholds, find_tail
from delve_advisor.cost import layer_costs
from delve_advisor.data import Data
from delve_advisor.exceptions import InputSizeError, InvalidArgumentError
from delve_advisor.graph import ReceptiveFieldAnalysis, receptive_field
from delve_advisor.models import check_compatibility
from delve_advisor.report.report import Report
from delve_advisor.training import RunResult, resolve_device, run_with_tracker

__all__ = ["advise"]

logger = logging.getLogger(__name__)


def _input_size(input_size: int | Sequence[int], data: Data | None) -> tuple[int, int, int]:
    if isinstance(input_size, int):
        if data is None:
            raise InputSizeError(
                f"input_size={input_size} gives no channel count without data; pass (C, H, W), "
                "e.g. (3, 32, 32)"
            )
        return (data.in_channels, input_size, input_size)
    size = tuple(int(v) for v in input_size)
    if len(size) == 2 and data is not None:
        return (data.in_channels, *size)
    if len(size) != 3 or min(size) < 1:
        raise InputSizeError(
            f"input_size must be (C, H, W) with positive entries (or an int with data), "
            f"got {input_size!r}"
        )
    return size  # type: ignore[return-value]


def _loaders(data: Any) -> tuple[Iterable | None, Iterable, int | None, int | None, str]:
    """(train, val, in_channels, num_classes, name) from a Data, a (train, val) pair or a loader."""
    if isinstance(data, Data):
        return data.train, data.val, data.in_channels, data.num_classes, data.name
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1], None, None, "user data"
    if isinstance(data, Iterable):
        return data, data, None, None, "user data"
    raise InvalidArgumentError(
        "data must be a delve_advisor.Data (from load_data), a (train_loader, val_loader) pair, "
        f"or one loader of (x, y) batches; got {type(data).__name__}"
    )


def _layer_table(
    model: nn.Module,
    analysis: ReceptiveFieldAnalysis,
    body: list[str],
    head: list[str],
    costs: pd.DataFrame,
    evidence_rf: dict[str, bool],
    tail: TailAnalysis,
    run: RunResult | None,
    probes: dict[str, float],
) -> pd.DataFrame:
    records = {}
    for layer in analysis.layers:
        if layer.module_path is not None and layer.module_path not in records:
            records[layer.module_path] = layer
    cost_rows = costs.set_index("module_path")
    rows = []
    for name in [*body, *head]:
        record = records[name]
        sat: dict[str, Any] = {}
        for mode in ("train", "eval"):
            sat[mode] = run.saturation.get((mode, name)) if run is not None else None
        r_min = min(record.r_min) if record.r_min else math.nan
        r_max = max(record.r_max) if record.r_max else math.nan
        in_tail = name in tail.tail
        rows.append(
            {
                "name": name,
                "type": type(model.get_submodule(name)).__name__,
                "params": int(cost_rows.loc[name, "params"]) if name in cost_rows.index else 0,
                "flops": int(cost_rows.loc[name, "flops"]) if name in cost_rows.index else 0,
                "output_shape": list(record.output_shape[1:]) if record.output_shape else [],
                "r_min": math.inf if record.is_global else float(r_min),
                "r_max": math.inf if record.is_global else float(r_max),
                "unproductive": bool(evidence_rf.get(name, False)),
                "saturation_train": _stat(sat["train"], "lsat"),
                "saturation_eval": _stat(sat["eval"], "lsat"),
                "idim_train": _stat(sat["train"], "idim"),
                "idim_eval": _stat(sat["eval"], "idim"),
                "dead": any(s is not None and s.status == "dead" for s in sat.values()),
                "in_tail": in_tail,
                "evidence": tail.evidence.get(name, "neither"),
                "probe_accuracy": probes.get(name, math.nan),
            }
        )
    return pd.DataFrame(rows)


def _stat(record: Any, stat: str) -> float:
    if record is None or record.status not in ("ok", "dead"):
        return math.nan
    return record.scalar(stat)


def advise(
    model: nn.Module,
    data: Data | tuple[Iterable, Iterable] | Iterable | None = None,
    *,
    input_size: int | Sequence[int],
    epochs: int = 3,
    train: bool = True,
    device: str | torch.device = "auto",
    probes: bool = False,
    lr: float = 1e-3,
    max_batches: int | None = None,
    thresholds: TailThresholds | None = None,
    model_name: str | None = None,
    progress: bool | None = None,
    tracker_options: dict[str, Any] | None = None,
) -> Report:
    """Analyses ``model`` (and, with ``data``, a short tracked run) and returns the report.

    The receptive-field analysis always runs. With ``data``, a deep copy of the model is trained
    for ``epochs`` (Adam, ``lr``) with the saturation tracker on, or only evaluated when
    ``train=False``; without data the report comes from the graph alone and says so. The tail is
    found from both evidences (see :mod:`delve_advisor.advisor.tail`), and suggestions are
    measured on edited copies. The model passed in is never changed.

    Args:
        model: The model to analyse.
        data: A :class:`~delve_advisor.Data` from :func:`~delve_advisor.load_data`, a
            ``(train_loader, val_loader)`` pair, one loader, or None for a graph-only report.
        input_size: (C, H, W), or H = W as one int (or (H, W)) when ``data`` gives C.
        epochs: Training epochs of the short run.
        train: Train the copy; False only evaluates it (for a trained model).
        device: "auto" (CUDA if available), "cpu", "cuda", ...
        probes: Also fit a linear probe per layer (slower; needs data).
        lr: Adam's learning rate for the short run.
        max_batches: At most this many batches per epoch and split.
        thresholds: Tail-detection knobs (:class:`TailThresholds`).
        model_name: Name used in the report (default: the model's class name).
        progress: tqdm bars; None shows them only on a terminal.
        tracker_options: Extra keyword arguments for the :class:`SaturationTracker`.

    Returns:
        The :class:`Report`.

    Raises:
        InputSizeError: The input size does not fit the model or the data.
        SpecError: The model's class count does not match the data.
        InvalidArgumentError: An argument is out of range (device, epochs, data).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3),
        ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
        >>> report = advise(net, input_size=(1, 8, 8))
        >>> report.status, report.tail
        ('graph_only', ())
    """
    start = time.perf_counter()
    thresholds = thresholds or TailThresholds()
    size = _input_size(input_size, data if isinstance(data, Data) else None)
    dev = resolve_device(device)
    name = model_name or type(model).__name__
    if probes and data is None:
        raise InvalidArgumentError("probes=True needs data to fit the probes on")
    train_loader = val_loader = None
    num_classes = None
    data_name = None
    if data is not None:
        train_loader, val_loader, in_channels, num_classes, data_name = _loaders(data)
        if in_channels is not None:
            if in_channels != size[0]:
                raise InputSizeError(
                    f"input_size has {size[0]} channels but the data has {in_channels}"
                )
            check_compatibility(model, in_channels, num_classes, size[1:])

    work = copy.deepcopy(model).to(dev)
    analysis = receptive_field(work, input_size=size)
    warnings = list(analysis.warnings)
    costs = layer_costs(work, size, device="meta")
    body, head = weighted_layers(analysis, work)
    evidence_rf = rf_evidence(analysis, body, size[1:])

    run = None
    probe_scores: dict[str, float] = {}
    status, detail = "graph_only", "no data: receptive field only, no saturation"
    if data is not None:
        run = run_with_tracker(
            work,
            train_loader,
            val_loader,
            epochs=epochs,
            train=train,
            device=dev,
            lr=lr,
            max_batches=max_batches,
            progress=progress,
            tracker_options=tracker_options,
        )
        status, detail = run.status, run.status_detail
        if probes and run.status != "diverged":
            probe_scores = probe_accuracy(
                work,
                [*body, *head],
                train_loader,
                val_loader,
                num_classes or _out_features(work, head),
                device=dev,
            )

    saturation = dead = None
    mode = None
    if run is not None and run.saturation:
        mode = "eval" if any(m == "eval" for m, _ in run.saturation) else "train"
        saturation = {n: _stat(run.saturation.get((mode, n)), "lsat") for n in body}
        dead = {
            n: run.saturation.get((mode, n)) is not None
            and run.saturation[(mode, n)].status == "dead"
            for n in body
        }
    tail = find_tail(body, evidence_rf, saturation, dead, thresholds)
    warnings += tail.notes
    # Edits are tried on copies of the caller's model; the graph (names, shapes) is the same as
    # the working copy's, whose analysis is reused for the "before" numbers.
    suggestions, notes = suggest(model, analysis, tail.tail, size)
    warnings += notes
    if tail.disagreements:
        warnings.append(
            "the two evidences disagree on: "
            + ", ".join(
                f"{n} ({tail.evidence[n].replace('_', ' ')} only)" for n in tail.disagreements
            )
        )
    layers = _layer_table(work, analysis, body, head, costs, evidence_rf, tail, run, probe_scores)
    history = None
    if run is not None and not run.history.empty:
        history = run.history[run.history["mode"].isin(["train", "eval"])][
            ["epoch", "mode", "layer", "stat", "value"]
        ].reset_index(drop=True)
    meta = {
        "model": name,
        "input_size": list(size),
        "data": data_name,
        "epochs": run.epochs if run is not None else 0,
        "train": bool(train and data is not None),
        "device": str(dev),
        "capture": analysis.capture_method,
        "status": status,
        "status_detail": detail,
        "warnings": warnings,
        "thresholds": {
            "saturation_ratio": thresholds.saturation_ratio,
            "min_tail_length": thresholds.min_tail_length,
            "sat_threshold": (tracker_options or {}).get("sat_threshold", 0.99),
            "reference_saturation": tail.reference_saturation,
            "saturation_mode": mode,
        },
        "elapsed_s": time.perf_counter() - start,
        "versions": {"delve_advisor": __version__, "torch": torch.__version__},
    }
    if run is not None:
        meta["val_accuracy"] = run.val_accuracy
        meta["train_loss"] = run.train_loss
        meta["run_s"] = run.seconds
    return Report(
        layers=layers, tail=tail.tail, suggestions=suggestions, meta=meta, history=history
    )


def _out_features(model: nn.Module, head: list[str]) -> int:
    if head:
        return int(model.get_submodule(head[-1]).out_features)
    raise InvalidArgumentError("cannot tell the number of classes: pass a Data with num_classes")
