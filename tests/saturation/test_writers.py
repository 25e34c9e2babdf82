"""Tracker writers: CSV, npy, plots, TensorBoard, print, user writers, resuming."""

import io

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from delve_advisor import AbstractWriter, SaturationTracker, recompute_saturation
from delve_advisor.saturation import load_npy_covariances


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))


def _epochs(tracker, model, n, start_scalar=0):
    for epoch in range(n):
        model(torch.randn(8, 1, 6, 6))
        tracker.add_scalar("loss", start_scalar + epoch)
        tracker.add_saturations()


def test_csv_is_wide_and_tolerates_columns_that_appear_later(tmp_path):
    model = _model()
    with SaturationTracker(tmp_path, save_to="csv", modules=model, stats=["lsat"]) as tracker:
        model(torch.randn(8, 1, 6, 6))
        tracker.add_saturations()
        model.eval()  # eval columns only appear from epoch 1 on
        model(torch.randn(8, 1, 6, 6))
        tracker.add_scalar("accuracy", 0.9)
        tracker.add_saturations()
    frame = pd.read_csv(tmp_path / "saturation.csv", sep=";", index_col=0)
    assert list(frame.index) == [0, 1]
    assert np.isnan(frame.loc[0, "eval-saturation_2"])
    assert 0 < frame.loc[1, "eval-saturation_2"] <= 1
    assert frame.loc[1, "accuracy"] == 0.9


def test_resume_with_initial_epoch_drops_later_rows(tmp_path):
    model = _model()
    with SaturationTracker(tmp_path, save_to=["csv", "npy"], modules=model) as tracker:
        _epochs(tracker, model, 3)
    with SaturationTracker(
        tmp_path, save_to=["csv", "npy"], modules=model, initial_epoch=1
    ) as tracker:
        _epochs(tracker, model, 1, start_scalar=100)
    frame = pd.read_csv(tmp_path / "saturation.csv", sep=";", index_col=0)
    assert list(frame.index) == [0, 1]
    assert list(frame["loss"]) == [0, 100]
    epochs = {key[2] for key in load_npy_covariances(tmp_path)}
    assert epochs == {0, 1}


def _numpy_saturation(cov, delta):
    """Independent reference in numpy float64: smallest k with λ1+…+λk >= δ·Σλ, and k / d."""
    eig = np.clip(np.sort(np.linalg.eigvalsh(np.asarray(cov, dtype=np.float64)))[::-1], 0, None)
    k = int(np.searchsorted(np.cumsum(eig), delta * eig.sum(), side="left")) + 1
    return k, k / len(eig)


def test_npy_keeps_covariances_and_recomputes_at_a_new_threshold(tmp_path):
    model = _model()
    with SaturationTracker(
        tmp_path, save_to="npy", modules=model, stats=["lsat", "idim"]
    ) as tracker:
        _epochs(tracker, model, 1)
    covs = load_npy_covariances(tmp_path)
    assert set(covs) == {("train", "0", 0), ("train", "2", 0)}
    cov = covs[("train", "2", 0)]
    saved_lsat = float(
        np.load(tmp_path / "npy" / "train-saturation_2" / "train-saturation_2_epoch0.npy")
    )
    assert recompute_saturation(cov, 0.99)["lsat"] == saved_lsat
    for delta in (0.5, 0.9, 0.99):
        idim, lsat = _numpy_saturation(cov, delta)
        got = recompute_saturation(cov, delta)
        assert got["idim"] == idim and got["lsat"] == pytest.approx(lsat, rel=1e-12), delta
    path = tmp_path / "npy" / "train-covariance-matrix_2" / "train-covariance-matrix_2_epoch0.npy"
    assert recompute_saturation(path, 0.5) == recompute_saturation(cov, 0.5)


def test_plot_writer_makes_one_png_per_epoch(tmp_path):
    model = _model()
    with SaturationTracker(tmp_path, save_to="plot", modules=model) as tracker:
        _epochs(tracker, model, 2)
    for epoch in (0, 1):
        png = (tmp_path / "plots" / f"saturation_epoch{epoch:04d}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_delve_alias_csvplot_gives_both(tmp_path):
    model = _model()
    with SaturationTracker(tmp_path, save_to="csvplot", modules=model) as tracker:
        _epochs(tracker, model, 1)
    assert (tmp_path / "saturation.csv").exists()
    assert (tmp_path / "plots" / "saturation_epoch0000.png").exists()


def test_tensorboard_global_step_is_the_epoch(tmp_path):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator"
    )
    model = _model()
    with SaturationTracker(tmp_path, save_to="tensorboard", modules=model) as tracker:
        _epochs(tracker, model, 3)
    acc = event_accumulator.EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train-saturation_2")] == [0, 1, 2]
    assert [e.value for e in acc.Scalars("loss")] == [0, 1, 2]


def test_print_writer_and_nosave(tmp_path):
    model = _model()
    stream = io.StringIO()
    from delve_advisor.saturation import PrintWriter

    with SaturationTracker(tmp_path, save_to=PrintWriter(stream=stream), modules=model) as t:
        _epochs(t, model, 1)
    assert "epoch 0 train 2: ok lsat=" in stream.getvalue()
    with SaturationTracker(
        tmp_path / "none", save_to=["csv", "plot"], modules=model, nosave=True
    ) as t:
        _epochs(t, model, 1)
    assert not (tmp_path / "none").exists()


class _Collect(AbstractWriter):
    def __init__(self):
        super().__init__()
        self.results, self.scalars, self.closed = [], [], False

    def write(self, result):
        self.results.append(result)

    def add_scalar(self, name, value, epoch):
        self.scalars.append((name, value, epoch))

    def close(self):
        self.closed = True


def test_user_writer_subclass_receives_results():
    model = _model()
    writer = _Collect()
    with SaturationTracker("unused", save_to=[writer], modules=model, average_sat=True) as t:
        _epochs(t, model, 2)
    assert [r.epoch for r in writer.results] == [0, 1]
    assert writer.results[0].layers == ["0", "2"]
    assert "train" in writer.results[1].averages
    assert writer.scalars == [("loss", 0.0, 0), ("loss", 1.0, 1)]
    assert writer.closed
