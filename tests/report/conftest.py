"""Hand-made reports for the report, writer and plot tests (no training, no model).

The tests run with ``--import-mode=importlib``, so the samples reach them as the ``samples``
fixture rather than as an importable module.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import pandas as pd
import pytest

from delve_advisor.report import Prediction, Report, Suggestion

NAN = math.nan
INF = math.inf

# A small ResNet-like network at 28 px: the last stage is a tail by both evidences, one layer is
# dead, the classifier sees the whole input (global).
LAYER_ROWS = [
    # name, type, params, flops, shape, r_min, r_max, unprod, sat_tr, sat_ev, idim_tr, idim_ev,
    # dead, in_tail, evidence, probe
    (
        "conv1",
        "Conv2d",
        432,
        338688,
        [16, 28, 28],
        3.0,
        3.0,
        False,
        0.75,
        0.6875,
        12,
        11,
        False,
        False,
        "neither",
        0.62,
    ),
    (
        "layer1.0.conv1",
        "Conv2d",
        2304,
        1806336,
        [16, 28, 28],
        5.0,
        5.0,
        False,
        0.625,
        0.5625,
        10,
        9,
        False,
        False,
        "neither",
        0.70,
    ),
    (
        "layer2.0.conv1",
        "Conv2d",
        4608,
        903168,
        [32, 14, 14],
        7.0,
        9.0,
        False,
        0.5,
        0.46875,
        16,
        15,
        False,
        False,
        "neither",
        0.78,
    ),
    (
        "layer3.0.conv1",
        "Conv2d",
        18432,
        903168,
        [64, 7, 7],
        15.0,
        25.0,
        False,
        0.375,
        0.34375,
        24,
        22,
        False,
        False,
        "receptive_field",
        0.84,
    ),
    (
        "layer4.0.conv1",
        "Conv2d",
        73728,
        1806336,
        [128, 4, 4],
        31.0,
        57.0,
        True,
        0.0625,
        0.046875,
        8,
        6,
        False,
        True,
        "both",
        0.85,
    ),
    (
        "layer4.0.conv2",
        "Conv2d",
        147456,
        2359296,
        [128, 4, 4],
        47.0,
        89.0,
        True,
        0.0,
        0.0,
        0,
        0,
        True,
        True,
        "both",
        0.85,
    ),
    (
        "fc",
        "Linear",
        1290,
        1280,
        [10],
        INF,
        INF,
        False,
        NAN,
        NAN,
        NAN,
        NAN,
        False,
        False,
        "neither",
        NAN,
    ),
]
COLUMNS = [
    "name",
    "type",
    "params",
    "flops",
    "output_shape",
    "r_min",
    "r_max",
    "unproductive",
    "saturation_train",
    "saturation_eval",
    "idim_train",
    "idim_eval",
    "dead",
    "in_tail",
    "evidence",
    "probe_accuracy",
]


def sample_layers() -> pd.DataFrame:
    """The layer table of the sample report."""
    return pd.DataFrame([list(r) for r in LAYER_ROWS], columns=COLUMNS)


def sample_suggestions() -> list[Suggestion]:
    """Two ranked suggestions (given out of order on purpose)."""
    before = Prediction(params=248250, flops=8118272, input_range=(57, 89), unproductive=2)
    stem = Suggestion(
        kind="drop_downsampling",
        targets=["layer2.0.conv1"],
        rationale="r_min of layer4.0.conv1 is 31 px > 28 px: stride 1 at layer2.0.conv1 "
        "halves the receptive-field growth after it.",
        edits=[{"op": "set_stride", "module": "layer2.0.conv1", "value": (1, 1)}],
        before=before,
        after=Prediction(
            params=248250,
            flops=29000000,
            input_range=(29, 45),
            unproductive=0,
            receptive_field={"layer4.0.conv2": 45.0, "fc": INF},
        ),
        rank=1,
    )
    prune = Suggestion(
        kind="prune_layers",
        targets=["layer4"],
        rationale="layer4 is unproductive at 28 px and 2 of 2 layers are in the tail.",
        edits=[{"op": "replace_with_identity", "module": "layer4"}],
        before=before,
        after=Prediction(params=27066, flops=3952640, input_range=(25, 25), unproductive=0),
        rank=2,
    )
    return [prune, stem]


def sample_history() -> pd.DataFrame:
    """Saturation history in long format: two epochs, both modes, two layers."""
    rows = []
    for epoch in (0, 1):
        for mode in ("train", "eval"):
            for layer, value in (("conv1", 0.5 + 0.1 * epoch), ("layer4.0.conv1", NAN)):
                rows.append((epoch, mode, layer, "lsat", value))
    return pd.DataFrame(rows, columns=["epoch", "mode", "layer", "stat", "value"])


def sample_meta(status: str = "ok") -> dict:
    """Run metadata for the sample report."""
    return {
        "model": "tests:small_resnet",
        "input_size": [1, 28, 28],
        "data": None if status == "graph_only" else "fashion-mnist:/data/fmnist",
        "epochs": 0 if status == "graph_only" else 2,
        "train": status in ("ok", "diverged"),
        "device": "cpu",
        "capture": "fx",
        "status": status,
        "status_detail": "loss became NaN at epoch 1" if status == "diverged" else None,
        "warnings": ["layer 'fc' has no spatial extent; its receptive field is global"],
        "thresholds": {"saturation_ratio": 0.5, "delta": 0.99},
        "elapsed_s": 1.25,
        "versions": {"delve_advisor": "0.1.0", "torch": "2.x"},
    }


@functools.cache
def sample_report(status: str = "ok") -> Report:
    """A full report; ``graph_only`` drops saturation, idim and probes (no data).

    One instance per status for the whole session: a Report is frozen, so sharing it is safe,
    and its plots are drawn once (the plot PNGs are cached per report) instead of per test.
    """
    layers = sample_layers()
    history = sample_history()
    if status == "graph_only":
        for column in (
            "saturation_train",
            "saturation_eval",
            "idim_train",
            "idim_eval",
            "probe_accuracy",
        ):
            layers[column] = NAN
        layers["dead"] = False
        layers.loc[layers["evidence"] == "both", "evidence"] = "receptive_field"
        history = None
    return Report(
        layers=layers,
        tail=["layer4.0.conv1", "layer4.0.conv2"],
        suggestions=sample_suggestions(),
        meta=sample_meta(status),
        history=history,
    )


@pytest.fixture
def samples() -> SimpleNamespace:
    """The sample builders: ``report(status)``, ``layers()``, ``suggestions()``, ``history()``,
    ``meta(status)``."""
    return SimpleNamespace(
        report=sample_report,
        layers=sample_layers,
        suggestions=sample_suggestions,
        history=sample_history,
        meta=sample_meta,
    )
