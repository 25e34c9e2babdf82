"""Tests for delve_advisor.training: the shared loop, its budgets, callbacks and seeds."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from delve_advisor.data import load_data
from delve_advisor.exceptions import InvalidArgumentError
from delve_advisor.testing import matched_cnn
from delve_advisor.training import (
    EpochEnd,
    TrackerCallback,
    TrainingCallback,
    run_with_tracker,
    train_model,
)


def _data(seed: int = 0):
    return load_data("synthetic:n=48,val=16,size=28", batch_size=8, seed=seed)


class _Recorder(TrainingCallback):
    def __init__(self) -> None:
        self.ends: list[EpochEnd] = []
        self.evals: list[tuple[int, bool]] = []
        self.closed = 0

    def on_eval_start(self, epoch: int, last: bool) -> None:
        self.evals.append((epoch, last))

    def on_epoch_end(self, end: EpochEnd) -> None:
        self.ends.append(end)

    def on_end(self) -> None:
        self.closed += 1


def test_two_seeded_cpu_runs_give_identical_numbers():
    results, weights = [], []
    for _ in range(2):
        data = _data()
        torch.manual_seed(123)  # different global state before: the seed must override it
        model = matched_cnn(3, width=4)
        result = train_model(model, data.train, data.val, epochs=2, device="cpu", seed=7)
        results.append((result.train_loss, result.val_accuracy))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert results[0] == results[1]
    assert torch.equal(weights[0], weights[1])


def test_loss_and_accuracy_match_a_reference_computed_by_hand():
    data = _data()
    model = matched_cnn(3, width=4)
    result = train_model(model, data.train, data.val, epochs=1, device="cpu", seed=0, lr=0.0)
    # lr=0 leaves the weights: the epoch's mean loss is the mean over the training samples of
    # the fixed model in train mode (no dropout / batch norm here), and accuracy is argmax.
    model.eval()
    with torch.no_grad():
        xs = torch.cat([x for x, _ in data.val])
        ys = torch.cat([y for _, y in data.val])
        accuracy = float((model(xs).argmax(1) == ys).float().mean())
        batches = list(data.train)  # one pass: the loader shuffles anew on every pass
        xt = torch.cat([x for x, _ in batches])
        yt = torch.cat([y for _, y in batches])
        loss = float(nn.functional.cross_entropy(model(xt), yt))
    assert result.val_accuracy == [pytest.approx(accuracy)]
    assert result.train_loss == [pytest.approx(loss, rel=1e-5)]


def test_injected_optimiser_schedule_and_loss_are_used():
    data = _data()
    calls = {"loss": 0}
    made = {}

    def optimizer(params):
        made["opt"] = torch.optim.SGD(params, lr=0.1)
        return made["opt"]

    def loss(logits, y):
        calls["loss"] += 1
        return nn.functional.cross_entropy(logits, y)

    result = train_model(
        matched_cnn(3, width=4),
        data.train,
        data.val,
        epochs=2,
        device="cpu",
        optimizer=optimizer,
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
        loss=loss,
    )
    assert result.status == "ok"
    assert calls["loss"] == 2 * 6  # 48 samples / 8 per batch, 2 epochs
    assert made["opt"].param_groups[0]["lr"] == pytest.approx(0.025)


def test_max_batches_and_max_samples_bound_each_epoch():
    data = _data()
    seen = []

    def loss(logits, y):
        seen.append(len(y))
        return nn.functional.cross_entropy(logits, y)

    train_model(
        matched_cnn(3, width=4), data.train, None, epochs=1, device="cpu", max_batches=2, loss=loss
    )
    assert seen == [8, 8]
    seen.clear()
    train_model(
        matched_cnn(3, width=4), data.train, None, epochs=1, device="cpu", max_samples=12, loss=loss
    )
    assert seen == [8, 4]


def test_time_budget_stops_after_the_epoch_that_passes_it():
    data = _data()
    recorder = _Recorder()
    result = train_model(
        matched_cnn(3, width=4),
        data.train,
        data.val,
        epochs=50,
        device="cpu",
        time_budget_s=1e-6,
        callbacks=[recorder],
    )
    assert result.epochs == 1 and result.stopped_by == "time_budget"
    assert recorder.ends[-1].last and recorder.evals == [(1, True)]


def test_callbacks_see_every_epoch_and_are_closed_after_an_error():
    data = _data()
    recorder = _Recorder()
    train_model(
        matched_cnn(3, width=4), data.train, data.val, epochs=3, device="cpu", callbacks=[recorder]
    )
    assert [e.epoch for e in recorder.ends] == [1, 2, 3]
    assert [last for _, last in recorder.evals] == [False, False, True]
    assert recorder.closed == 1

    class Stop(TrainingCallback):
        def on_epoch_end(self, end: EpochEnd) -> None:
            raise RuntimeError("stop here")

    recorder = _Recorder()
    with pytest.raises(RuntimeError, match="stop here"):
        train_model(
            matched_cnn(3, width=4),
            data.train,
            data.val,
            epochs=3,
            device="cpu",
            callbacks=[recorder, Stop()],
        )
    assert recorder.closed == 1


def test_divergence_is_detected_once_per_epoch():
    data = _data()
    result = train_model(
        matched_cnn(3, width=4), data.train, data.val, epochs=3, device="cpu", lr=1e30
    )
    assert result.status == "diverged" and result.stopped_by == "diverged"
    assert "loss became nan" in result.status_detail
    assert result.epochs < 3


def test_tracker_tracks_eval_in_the_last_epoch_only_by_default():
    data = _data()
    model = matched_cnn(3, width=4)
    run = run_with_tracker(model, data.train, data.val, epochs=2, progress=False)
    modes = run.history.groupby("epoch")["mode"].unique().to_dict()
    epochs = sorted(modes)
    assert "eval" not in set(modes[epochs[0]]) and "eval" in set(modes[epochs[-1]])
    assert any(mode == "eval" for mode, _ in run.saturation)
    every = run_with_tracker(
        matched_cnn(3, width=4), data.train, data.val, epochs=2, progress=False, eval_epochs="all"
    )
    modes = every.history.groupby("epoch")["mode"].unique().to_dict()
    assert all("eval" in set(m) for m in modes.values())
    assert not any(m._forward_hooks for m in model.modules())


def test_tracker_eval_batches_bounds_the_rows():
    data = _data()
    callback = TrackerCallback({"stats": ["lsat"]}, eval_batches=1)
    train_model(
        matched_cnn(3, width=4), data.train, data.val, epochs=1, device="cpu", callbacks=[callback]
    )
    record = callback.tracker.last_result.records[("eval", "0")]
    assert record.num_rows == 8 * 24 * 24  # one batch of 8, 24x24 positions of the first conv


def test_amp_path_runs_on_cpu_in_float32():
    data = _data()
    result = train_model(
        matched_cnn(3, width=4), data.train, data.val, epochs=1, device="cpu", amp=True
    )
    assert result.status == "ok" and math.isfinite(result.train_loss[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_amp_on_cuda():
    data = _data()
    result = train_model(matched_cnn(3, width=4), data.train, data.val, epochs=1, device="cuda")
    assert result.device.startswith("cuda") and result.status == "ok"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, "epochs must be an int >= 1, got 0"),
        ({"max_batches": 0}, "max_batches must be > 0"),
        ({"time_budget_s": "x"}, "time_budget_s must be a positive float"),
        ({"device": "nonsense"}, "invalid device 'nonsense'"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    data = _data()
    with pytest.raises(InvalidArgumentError, match=match):
        train_model(matched_cnn(3, width=4), data.train, data.val, **kwargs)


def test_train_without_data_is_an_error():
    with pytest.raises(InvalidArgumentError, match="needs training data"):
        train_model(matched_cnn(3), None, None)
