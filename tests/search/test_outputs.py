"""Tests for delve_advisor.search.outputs: Pareto front, best trial, predicted vs measured."""

from __future__ import annotations

import optuna

from delve_advisor.advisor.report import Prediction, Suggestion
from delve_advisor.search.outputs import (
    best_trial,
    measured_effects,
    pareto_front,
    write_search_outputs,
)
from delve_advisor.search.space import build_space


def _trial(label, acc, flops, edits=()):
    return optuna.trial.create_trial(
        value=acc,
        params={"edits": label},
        distributions={"edits": optuna.distributions.CategoricalDistribution(["baseline", "1"])},
        user_attrs={
            "val_accuracy": acc,
            "flops": flops,
            "label": label,
            "edits": list(edits),
            "wall_s": 1.5,
        },
    )


def test_pareto_front_by_hand():
    trials = [
        _trial("baseline", 0.80, 100),  # front
        _trial("1", 0.90, 400),  # front
        _trial("1", 0.85, 500),  # dominated by the 0.90 / 400 one
        _trial("baseline", 0.80, 100),  # a tie with the first: neither dominates
        _trial("1", 0.70, 50),  # front (cheapest)
    ]
    front = pareto_front(trials)
    assert [(t.user_attrs["val_accuracy"], t.user_attrs["flops"]) for t in front] == [
        (0.70, 50),
        (0.80, 100),
        (0.80, 100),
        (0.90, 400),
    ]


def test_predicted_next_to_measured(tmp_path):
    before = Prediction(params=10, flops=100, input_range=(32, 39), unproductive=2)
    after = Prediction(params=10, flops=400, input_range=(16, 39), unproductive=0)
    edit = {"op": "set_stride", "module": "0", "value": [1, 1]}
    suggestion = Suggestion("drop_downsampling", ["0"], "why", [edit], before, after, 1)
    space = build_space([suggestion], input_size=16)
    study = optuna.create_study(direction="maximize")
    study.add_trial(_trial("baseline", 0.50, 100))
    study.add_trial(_trial("1", 0.625, 400, [edit]))
    rows = measured_effects(study, None, space)
    assert (
        rows[1]["predicted_flops"] == "100 → 400" and rows[1]["predicted_unproductive"] == "2 → 0"
    )
    assert rows[1]["delta_accuracy"] == "+0.1250" and rows[1]["flops"] == "400"
    assert best_trial(study).number == 1

    class Report:
        meta = {"model": "m", "data": "d"}

    paths = write_search_outputs(study, Report(), space, tmp_path)
    assert paths["best_edits"].read_text().count("set_stride") == 1
    assert "| 1 | drop_downsampling | 0 | 100 → 400 | 2 → 0 | 1 | 0.6250 | +0.1250 |" in (
        paths["markdown"].read_text()
    )
    assert paths["history"].read_bytes()[:4] == b"\x89PNG"


def test_baseline_trial_prefers_the_default_configuration():
    from delve_advisor.search.outputs import baseline_trial

    space = build_space([], input_size=16)
    study = optuna.create_study(direction="maximize")
    assert baseline_trial(study, space) is None
    study.add_trial(_trial("baseline", 0.50, 100))
    off_default = optuna.trial.create_trial(
        value=0.9,
        params={"edits": "baseline", "input_size": 24},
        distributions={
            "edits": optuna.distributions.CategoricalDistribution(["baseline"]),
            "input_size": optuna.distributions.CategoricalDistribution([16, 24]),
        },
        user_attrs={"val_accuracy": 0.9, "label": "baseline"},
    )
    study.add_trial(off_default)
    assert baseline_trial(study, space).number == 0  # the one at the default input size


def test_test_split_measurements_go_to_test_json_and_the_report(tmp_path):
    import json

    space = build_space([], input_size=16)
    study = optuna.create_study(study_name="s", direction="maximize")
    study.add_trial(_trial("baseline", 0.5, 100))

    class Report:
        meta = {"model": "m", "data": "d"}

    entry = {
        "number": 0,
        "label": "baseline",
        "trial_val_accuracy": 0.5,
        "val_accuracy": 0.5,
        "test_accuracy": 0.4375,
        "test_samples": 32,
        "train_s": 0.1,
        "roles": ["best", "baseline"],
    }
    paths = write_search_outputs(study, Report(), space, tmp_path, test=[entry])
    assert json.loads(paths["test"].read_text()) == [entry]
    md = paths["markdown"].read_text()
    assert (
        "## Test split" in md
        and "| best, baseline | 0 | baseline | 0.5000 | 0.5000 | 0.4375 | 32 |" in md
    )
    assert "<h2>Test split</h2>" in paths["html"].read_text()
    assert "test" not in write_search_outputs(study, Report(), space, tmp_path / "none")
