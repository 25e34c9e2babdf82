"""Tests for delve_advisor.search.objective: user attrs, failures with reasons, pruning."""

from __future__ import annotations

import optuna
import pytest
import torch
from optuna.trial import TrialState

from delve_advisor.cost import count_parameters, total_flops
from delve_advisor.exceptions import TrialFailedError
from delve_advisor.search.objective import SearchObjective, _apply
from delve_advisor.search.recipe import parse_recipe
from delve_advisor.search.space import SearchSpace
from delve_advisor.testing import tail_cnn

from .conftest import TINY


class _Fake:
    def __init__(self, kind, edits):
        self.kind, self.edits, self.targets, self.rank = (
            kind,
            edits,
            [e["module"] for e in edits],
            1,
        )


def _objective(edits, **training):
    recipe = parse_recipe({**TINY, "training": {**TINY["training"], **training}})
    space = SearchSpace(
        {1: _Fake("drop_downsampling", edits)}, ("baseline", "1"), 16, lr=recipe.training.lr
    )
    return SearchObjective(recipe, space, prune=False)


def test_a_trial_records_what_it_measured():
    objective = _objective([{"op": "set_stride", "module": "0", "value": [1, 1]}])
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"edits": "1"})
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    edited, _ = _apply(tail_cnn(), trial.user_attrs["edits"], (3, 16, 16))
    assert trial.state == TrialState.COMPLETE
    assert trial.value == trial.user_attrs["val_accuracy"]
    assert trial.user_attrs["params"] == count_parameters(edited)
    assert trial.user_attrs["flops"] == total_flops(edited, (3, 16, 16))
    assert trial.user_attrs["flops"] > total_flops(tail_cnn(), (3, 16, 16))
    assert trial.user_attrs["edits"] == [{"op": "set_stride", "module": "0", "value": [1, 1]}]
    assert trial.user_attrs["saturation"]["mode"] == "eval"
    assert 0 < trial.user_attrs["saturation"]["mean"] <= 1
    assert trial.user_attrs["wall_s"] > 0 and trial.user_attrs["input_size"] == [3, 16, 16]


def test_a_failing_edit_is_recorded_failed_with_its_reason_and_the_study_goes_on():
    objective = _objective([{"op": "set_stride", "module": "nope", "value": [1, 1]}])
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"edits": "1"})
    study.enqueue_trial({"edits": "baseline"})
    study.optimize(objective, n_trials=2, catch=(TrialFailedError,))
    failed, done = study.trials
    assert failed.state == TrialState.FAIL and "nope" in failed.user_attrs["fail_reason"]
    assert done.state == TrialState.COMPLETE


def test_a_diverging_trial_fails_with_the_reason():
    objective = _objective([], lr=1e30)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"edits": "baseline"})
    study.optimize(objective, n_trials=1, catch=(TrialFailedError,))
    assert "training loss became nan" in study.trials[0].user_attrs["fail_reason"]


def test_pruning_reports_each_epoch():
    recipe = parse_recipe({**TINY, "training": {**TINY["training"], "epochs": 2}})
    objective = SearchObjective(recipe, SearchSpace({}, ("baseline",), 16), prune=True)

    class AlwaysPrune(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return True

    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED and list(trial.intermediate_values) == [1]


def test_apply_handles_resize_input_with_the_old_return_type():
    model, size = _apply(
        tail_cnn(), [{"op": "resize_input", "module": "input", "value": [32, 32]}], (3, 16, 16)
    )
    assert isinstance(model, torch.nn.Module) and size == (3, 32, 32)


def test_multi_objective_returns_accuracy_and_flops():
    recipe = parse_recipe(TINY)
    objective = SearchObjective(recipe, SearchSpace({}, ("baseline",), 16), multi=True)
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.optimize(objective, n_trials=1)
    accuracy, flops = study.trials[0].values
    assert flops == total_flops(tail_cnn(), (3, 16, 16)) and 0 <= accuracy <= 1
    assert objective.prune is False


@pytest.mark.parametrize("bad", [0, -1])
def test_recipe_rejects_bad_epochs(bad):
    from delve_advisor.exceptions import RecipeError

    with pytest.raises(RecipeError, match=r"training\.epochs"):
        parse_recipe({**TINY, "training": {"epochs": bad}})


def test_a_flops_budget_is_an_optuna_constraint_and_never_best():
    from delve_advisor.search.outputs import best_trial

    base = total_flops(tail_cnn(), (3, 16, 16))
    recipe = parse_recipe({**TINY, "objective": {"max_flops": base + 1}})
    edits = [{"op": "set_stride", "module": "0", "value": [1, 1]}]  # ~4x the FLOPs
    space = SearchSpace({1: _Fake("drop_downsampling", edits)}, ("baseline", "1"), 16)
    objective = SearchObjective(recipe, space, prune=False)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"edits": "1"})
    study.enqueue_trial({"edits": "baseline"})
    study.optimize(objective, n_trials=2)
    over, within = study.trials
    assert over.constraints == {"flops": over.user_attrs["flops"] - (base + 1)}
    assert over.constraints["flops"] > 0 and within.constraints == {"flops": -1.0}
    assert best_trial(study).number == within.number


def _held_out_objective(**data):
    recipe = parse_recipe({**TINY, "data": {**TINY["data"], "val_split": 0.25, **data}})
    return SearchObjective(recipe, SearchSpace({}, ("baseline",), 16), prune=True)


def test_with_val_split_trials_are_evaluated_on_the_held_out_split_not_on_test(monkeypatch):
    from delve_advisor.search import objective as module
    from delve_advisor.training import evaluate

    objective = _held_out_objective()
    seen = []
    real = module.train_model

    def spy(model, train_loader, val_loader, **kwargs):
        seen.append((model, train_loader, val_loader))
        return real(model, train_loader, val_loader, **kwargs)

    monkeypatch.setattr(module, "train_model", spy)
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    data = objective.data(16)
    assert (len(data.train.dataset), len(data.val.dataset), len(data.test.dataset)) == (36, 12, 32)
    (model, train_loader, val_loader), trial = seen[0], study.trials[0]
    assert train_loader is data.train and val_loader is data.val and val_loader is not data.test
    assert trial.value == evaluate(model, data.val, torch.device("cpu"))
    assert trial.intermediate_values[1] == trial.value  # the pruner sees val too
    held = {tuple(x.flatten()[:8].tolist()) for x in data.val.dataset.x}
    assert not held & {tuple(x.flatten()[:8].tolist()) for x in data.train.dataset.x}


def test_measure_on_test_retrains_the_trial_and_evaluates_on_test():
    objective = _held_out_objective()
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    measured = objective.measure_on_test(trial)
    assert measured["number"] == 0 and measured["label"] == "baseline"
    assert measured["val_accuracy"] == trial.value == measured["trial_val_accuracy"]  # CPU repeats
    assert measured["test_samples"] == 32 and 0 <= measured["test_accuracy"] <= 1
    assert measured["test_accuracy"] * 32 == round(measured["test_accuracy"] * 32)
    assert len(study.trials) == 1  # nothing reported to the study


def test_measure_on_test_is_none_without_a_test_split():
    objective = _objective([])
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    assert objective.data(16).test is None
    assert objective.measure_on_test(study.trials[0]) is None


def test_a_wider_trial_records_its_width_and_the_wider_model():
    recipe = parse_recipe(TINY)
    edits = [{"op": "set_stride", "module": "0", "value": [1, 1]}]
    space = SearchSpace(
        {1: _Fake("drop_downsampling", edits)},
        ("baseline", "1"),
        16,
        lr=recipe.training.lr,
        widths=(1.0, 2.0),
    )
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"edits": "1", "width": 2.0})
    study.enqueue_trial({"edits": "1", "width": 1.0})
    study.optimize(SearchObjective(recipe, space, prune=False), n_trials=2)
    wide, plain = study.trials
    assert (wide.user_attrs["width"], plain.user_attrs["width"]) == (2.0, 1.0)
    assert wide.user_attrs["edits"][-1] == {"op": "scale_width", "module": "", "value": 2.0}
    edited, _ = _apply(tail_cnn(), wide.user_attrs["edits"], (3, 16, 16))
    assert wide.user_attrs["params"] == count_parameters(edited) > plain.user_attrs["params"]
