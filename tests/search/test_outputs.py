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
