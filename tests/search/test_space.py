"""Tests for delve_advisor.search.space: combinations, first trials, sampling."""

from __future__ import annotations

import optuna
import pytest

from delve_advisor.advisor.report import Prediction, Suggestion
from delve_advisor.exceptions import InvalidArgumentError
from delve_advisor.search.space import build_space


def _suggestion(rank, kind, targets, edits, low=32):
    before = Prediction(params=10, flops=100, input_range=(low, 39), unproductive=2)
    after = Prediction(params=10, flops=400, input_range=(low, 39), unproductive=1)
    return Suggestion(kind, targets, "why", edits, before, after, rank)


SUGGESTIONS = [
    _suggestion(
        1, "drop_downsampling", ["0"], [{"op": "set_stride", "module": "0", "value": [1, 1]}]
    ),
    _suggestion(
        2, "drop_downsampling", ["0"], [{"op": "set_stride", "module": "0", "value": [2, 1]}]
    ),
    _suggestion(3, "prune_layers", ["8"], [{"op": "replace_with_identity", "module": "8"}]),
    _suggestion(
        4, "resize_input", ["input"], [{"op": "resize_input", "module": "input", "value": [32, 32]}]
    ),
    _suggestion(
        5, "resize_input", ["input"], [{"op": "resize_input", "module": "input", "value": [40, 40]}]
    ),
]


def test_only_compatible_combinations_are_offered():
    space = build_space(SUGGESTIONS, input_size=16, max_suggestions=5)
    labels = set(space.combinations)
    assert space.combinations[0] == "baseline"
    assert {"1", "2", "3", "4", "5", "1+3", "1+4", "1+3+4", "2+3+5"} <= labels
    assert "1+2" not in labels  # both change module 0
    assert "4+5" not in labels  # two input sizes
    assert not any("1+2" in label or "4+5" in label for label in labels)
    assert space.edits("1+3") == (
        {"op": "set_stride", "module": "0", "value": [1, 1]},
        {"op": "replace_with_identity", "module": "8"},
    )


def test_top_k_and_edits_off():
    assert build_space(SUGGESTIONS, input_size=16, max_suggestions=1).combinations == (
        "baseline",
        "1",
    )
    assert build_space(SUGGESTIONS, input_size=16, edits=False).combinations == ("baseline",)


def test_first_trials_are_baseline_then_the_first_suggestion():
    space = build_space(SUGGESTIONS, input_size=16, lr_range=(1e-4, 1e-2), lr=1e-3)
    first = space.first_trials()
    assert first[:4] == [
        {"edits": "baseline", "lr": 1e-3},
        {"edits": "1", "lr": 1e-3},
        {"edits": "2", "lr": 1e-3},
        {"edits": "3", "lr": 1e-3},
    ]
    assert [p["edits"] for p in first] == list(space.combinations)  # each configuration once
    sized = build_space(SUGGESTIONS, input_size=16, input_sizes=[16, 24])
    assert {"edits": "4"} in sized.first_trials()  # resize_input sets the size itself
    assert {"edits": "1", "input_size": 16} in sized.first_trials()


def test_feasible_input_sizes_and_sampling():
    space = build_space(SUGGESTIONS, input_size=16, input_sizes="feasible", max_suggestions=5)
    assert space.input_sizes == (16, 32)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for params in [{"edits": "1", "input_size": 32}, {"edits": "4"}]:
        study.enqueue_trial(params)
    first = space.sample(study.ask())
    assert (first.label, first.input_size, first.ranks) == ("1", 32, (1,))
    resized = study.ask()
    config = space.sample(resized)
    assert config.label == "4" and "input_size" not in resized.params  # resize_input decides


def test_unknown_label_and_bad_size():
    space = build_space(SUGGESTIONS, input_size=16)
    with pytest.raises(InvalidArgumentError, match="edits label 'x' is not in this search space"):
        space.ranks("x")
    with pytest.raises(InvalidArgumentError, match="input_size must be an int >= 1, got 0"):
        build_space(SUGGESTIONS, input_size=0)


def test_widths_are_sampled_and_end_the_edits():
    space = build_space(SUGGESTIONS, input_size=16, widths=[2, 0.5])
    assert space.widths == (0.5, 1.0, 2.0)  # 1.0, the model as built, always among them
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for params in [{"edits": "1", "width": 0.5}, {"edits": "3", "width": 1.0}]:
        study.enqueue_trial(params)
    narrow = space.sample(study.ask())
    assert (narrow.label, narrow.width) == ("1", 0.5)
    assert narrow.edits == (
        {"op": "set_stride", "module": "0", "value": [1, 1]},
        {"op": "scale_width", "module": "", "value": 0.5},
    )
    same = space.sample(study.ask())
    assert same.width == 1.0 and same.edits == space.edits("3")  # no scale_width at 1.0
    drawn = {space.sample(study.ask()).width for _ in range(30)}
    assert drawn == {0.5, 1.0, 2.0}


def test_widths_enqueue_width_one_and_default_off():
    space = build_space(SUGGESTIONS, input_size=16, widths=[0.5])
    first = space.first_trials()
    assert first[:2] == [{"edits": "baseline", "width": 1.0}, {"edits": "1", "width": 1.0}]
    assert all(p["width"] == 1.0 for p in first)
    plain = build_space(SUGGESTIONS, input_size=16)
    assert plain.widths == () and "width" not in plain.first_trials()[0]
    trial = optuna.create_study().ask()
    assert plain.sample(trial).width == 1.0 and "width" not in trial.params
    assert build_space(SUGGESTIONS, input_size=16, widths=[1.0]).widths == ()


@pytest.mark.parametrize("bad", [[0.5, 0], [-1.0], ["2"], [True], "0.5", [float("nan")]])
def test_bad_widths_are_refused(bad):
    with pytest.raises(InvalidArgumentError, match="widths must be a list of width factors > 0"):
        build_space(SUGGESTIONS, input_size=16, widths=bad)
