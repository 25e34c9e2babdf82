"""The Optuna objective: apply a trial's edits, train for the budget, evaluate on held-out data.

Every trial records in ``user_attrs``: ``val_accuracy``, ``params``, ``flops``, ``wall_s``,
``edits`` (plain data), ``label``, ``input_size``, ``width``, ``saturation`` (a summary of the
last epoch's eval saturation), and ``worker_pid`` / ``worker_host``. A trial that cannot finish
(an edit that fails, a diverged loss, out of memory, anything raised) records ``fail_reason``
and raises :class:`~delve_advisor.exceptions.TrialFailedError`, which the study catches: the
trial is FAILED with its reason and the search goes on.

Trials are evaluated (and pruned, and chosen) on ``Data.val``. With the recipe's
``data.val_split`` that is a share held out of the training split, and the source's own
held-out split is ``Data.test``: no trial ever sees it. :meth:`SearchObjective.measure_on_test`
retrains one finished trial's configuration once (the same budget and training seed) and
evaluates it on ``Data.test``; :func:`~delve_advisor.search.run_search` does that for the best
trial and the baseline after the study.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

import optuna
import torch
from torch import nn

from delve_advisor.cost import count_parameters, total_flops
from delve_advisor.data import Data, load_data
from delve_advisor.edits import apply_edits
from delve_advisor.exceptions import TrialFailedError
from delve_advisor.models import load_model
from delve_advisor.search.recipe import Recipe
from delve_advisor.search.space import SearchSpace, TrialConfig
from delve_advisor.training import (
    EpochEnd,
    TrackerCallback,
    TrainingCallback,
    TrainingResult,
    evaluate,
    resolve_device,
    seed_everything,
    train_model,
)

__all__ = ["PruningCallback", "SearchObjective"]

logger = logging.getLogger(__name__)

_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def _apply(
    model: nn.Module, edits: Sequence[Any], input_size: tuple[int, int, int]
) -> tuple[nn.Module, tuple[int, int, int]]:
    """Applies edits to a copy; works with both ``apply_edits`` return types.

    ``apply_edits`` returns the edited module today and an ``EditResult`` (``.model``,
    ``.input_size``) once the edits branch lands; this is the one place that knows both.
    """
    result = apply_edits(model, list(edits), input_size)
    if isinstance(result, nn.Module):  # the old interface: resize_input leaves the model alone
        size = input_size
        for edit in edits:
            data = edit if isinstance(edit, dict) else edit.to_dict()
            if data.get("op") == "resize_input":
                value = data["value"]
                size = (input_size[0], *(int(v) for v in value))
        return result, size
    return result.model, tuple(int(v) for v in result.input_size)


class PruningCallback(TrainingCallback):
    """Reports each epoch's validation accuracy to an Optuna trial and prunes when told.

    Args:
        trial: The running trial.

    Example:
        >>> import optuna, torch
        >>> from delve_advisor.testing import tail_cnn
        >>> from delve_advisor.training import train_model
        >>> batches = [(torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,)))] * 2
        >>> study = optuna.create_study(direction="maximize")
        >>> trial = study.ask()
        >>> result = train_model(tail_cnn(), batches, batches, epochs=2, device="cpu", seed=0,
        ...                      progress=False, callbacks=[PruningCallback(trial)])
        >>> reported = study.trials[0].intermediate_values  # epoch -> validation accuracy
        >>> sorted(reported), [reported[e] for e in (1, 2)] == result.val_accuracy
        ([1, 2], True)
    """

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def on_epoch_end(self, end: EpochEnd) -> None:
        """``trial.report(accuracy, epoch)``, then raise ``TrialPruned`` if the pruner says so."""
        if math.isnan(end.val_accuracy):
            return
        self.trial.report(end.val_accuracy, end.epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {end.epoch}")


def _saturation_summary(callback: TrackerCallback | None) -> dict[str, Any] | None:
    if callback is None or callback.tracker is None or callback.tracker.last_result is None:
        return None
    records = callback.tracker.last_result.records
    mode = "eval" if any(m == "eval" for m, _ in records) else "train"
    layers = {
        name: round(float(rec.scalar("lsat")), 4)
        for (m, name), rec in records.items()
        if m == mode and rec.status in ("ok", "dead")
    }
    values = list(layers.values())
    return {
        "mode": mode,
        "mean": round(sum(values) / len(values), 4) if values else None,
        "layers": layers,
    }


class SearchObjective:
    """Callable objective for ``study.optimize``: one trial = edited model x short training.

    Args:
        recipe: The validated recipe.
        space: The search space.
        multi: Return (accuracy, FLOPs) for a two-objective study instead of accuracy.
        prune: Report every epoch and prune (single objective only).
        progress: tqdm bars for epochs; None shows them only on a terminal.

    Example:
        >>> import optuna
        >>> from delve_advisor.cost import count_parameters
        >>> from delve_advisor.search import build_space, parse_recipe
        >>> from delve_advisor.testing import tail_cnn
        >>> recipe = parse_recipe({
        ...     "version": 1,
        ...     "model": {"spec": "delve_advisor.testing:tail_cnn"},
        ...     "data": {"spec": "synthetic:n=16,size=16,val=8", "batch_size": 8},
        ...     "training": {"epochs": 1, "device": "cpu", "track_saturation": False},
        ... })
        >>> objective = SearchObjective(recipe, build_space([], input_size=16), progress=False)
        >>> study = optuna.create_study(direction="maximize")
        >>> study.optimize(objective, n_trials=1)
        >>> trial = study.best_trial
        >>> trial.user_attrs["label"], trial.user_attrs["input_size"], 0 <= trial.value <= 1
        ('baseline', [3, 16, 16], True)
        >>> classes = objective.data(16).num_classes  # the data, as every trial reads it
        >>> trial.user_attrs["params"] == count_parameters(tail_cnn(num_classes=classes))
        True
    """

    def __init__(
        self,
        recipe: Recipe,
        space: SearchSpace,
        *,
        multi: bool = False,
        prune: bool = True,
        progress: bool | None = None,
    ) -> None:
        self.recipe = recipe
        self.space = space
        self.multi = multi
        self.prune = prune and not multi
        self.progress = progress
        self._data: dict[int, Data] = {}

    def data(self, side: int) -> Data:
        """The recipe's data at ``side`` x ``side`` (cached per side)."""
        if side not in self._data:
            self._data[side] = load_data(
                self.recipe.data_spec,
                input_size=side,
                batch_size=self.recipe.data.batch_size,
                limit=self.recipe.data.limit,
                seed=self.recipe.seed,
                val_split=self.recipe.data.val_split,
            )
        return self._data[side]

    def build_model(self, data: Data) -> nn.Module:
        """The recipe's model, initialised from the recipe's seed (the same in every trial)."""
        spec = self.recipe.model
        seed_everything(self.recipe.seed)
        checkpoint = self.recipe.resolve(spec.checkpoint) if spec.checkpoint else None
        return load_model(
            spec.spec,
            num_classes=spec.num_classes or data.num_classes,
            in_channels=spec.in_channels or data.in_channels,
            checkpoint=checkpoint,
        )

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        """Runs one trial and returns its objective value(s).

        Raises:
            TrialFailedError: The trial could not finish; ``fail_reason`` says why.
            optuna.TrialPruned: The pruner stopped it.
        """
        trial.set_user_attr("worker_pid", os.getpid())
        trial.set_user_attr("worker_host", socket.gethostname())
        start = time.perf_counter()
        config = self.space.sample(trial)
        trial.set_user_attr("label", config.label)
        trial.set_user_attr("width", config.width)
        trial.set_user_attr("edits", [dict(e) for e in config.edits])
        try:
            return self._run(trial, config, start)
        except optuna.TrialPruned:
            trial.set_user_attr("wall_s", time.perf_counter() - start)
            raise
        except Exception as error:  # record any failure with its reason; the study goes on
            reason = f"{type(error).__name__}: {' '.join(str(error).split())}"
            trial.set_user_attr("fail_reason", reason[:2000])
            trial.set_user_attr("wall_s", time.perf_counter() - start)
            logger.warning("trial %d failed: %s", trial.number, reason)
            if isinstance(error, torch.cuda.OutOfMemoryError):
                torch.cuda.empty_cache()
            raise TrialFailedError(f"trial {trial.number} failed: {reason}") from error

    def _prepare(self, config: TrialConfig) -> tuple[Data, nn.Module, tuple[int, int, int]]:
        """The data at the trial's input size and the edited model, with its input size."""
        data = self.data(config.input_size)
        size = (data.in_channels, config.input_size, config.input_size)
        model, run_size = _apply(self.build_model(data), config.edits, size)
        if run_size != size:
            data = self.data(int(run_size[1]))
        return data, model, run_size

    def _train(
        self,
        model: nn.Module,
        data: Data,
        config: TrialConfig,
        number: int,
        callbacks: list[TrainingCallback],
    ) -> TrainingResult:
        """The recipe's training budget on ``data.train``, evaluated on ``data.val``."""
        budget = self.recipe.training
        optimizer = _OPTIMIZERS[budget.optimizer]
        return train_model(
            model,
            data.train,
            data.val,
            epochs=budget.epochs,
            optimizer=lambda p: optimizer(p, lr=config.lr),
            device=budget.device,
            max_batches=budget.max_batches,
            time_budget_s=budget.time_budget_s,
            callbacks=callbacks,
            seed=self.recipe.seed + number,
            amp=budget.amp,
            progress=self.progress,
        )

    def measure_on_test(self, trial: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
        """Retrains a finished trial's configuration once and measures it on ``Data.test``.

        The model, edits, input size, learning rate, budget and training seed are the trial's,
        so on a CPU the retrained model is the trial's model (``val_accuracy`` repeats the
        trial's); on a GPU it may differ slightly. Nothing of it is reported to the study.

        Args:
            trial: A completed trial of this objective's study.

        Returns:
            ``number``, ``label``, ``trial_val_accuracy`` (the trial's), ``val_accuracy`` (the
            retrained model's), ``test_accuracy``, ``test_samples`` and ``train_s``; ``None``
            when the data have no test split (no ``data.val_split`` in the recipe, or a source
            without its own held-out split).

        Raises:
            TrialFailedError: The retrained model diverged.

        Example:
            >>> import optuna
            >>> from delve_advisor.search import build_space, parse_recipe
            >>> recipe = parse_recipe({
            ...     "version": 1,
            ...     "model": {"spec": "delve_advisor.testing:tail_cnn"},
            ...     "data": {"spec": "synthetic:n=20,size=16,val=8", "batch_size": 8,
            ...              "val_split": 0.2},
            ...     "training": {"epochs": 1, "device": "cpu", "track_saturation": False},
            ... })
            >>> objective = SearchObjective(recipe, build_space([], input_size=16), progress=False)
            >>> study = optuna.create_study(direction="maximize")
            >>> study.optimize(objective, n_trials=1)
            >>> measured = objective.measure_on_test(study.best_trial)
            >>> measured["test_samples"], measured["val_accuracy"] == study.best_value
            (8, True)
        """
        config = self.space.sample(optuna.trial.FixedTrial(dict(trial.params)))
        data, model, _ = self._prepare(config)
        if data.test is None:
            return None
        result = self._train(model, data, config, trial.number, [])
        if result.status == "diverged":
            raise TrialFailedError(f"retraining trial {trial.number}: {result.status_detail}")
        budget = self.recipe.training
        accuracy = evaluate(
            model, data.test, resolve_device(budget.device), amp=budget.amp, progress=False
        )
        return {
            "number": trial.number,
            "label": config.label,
            "trial_val_accuracy": trial.user_attrs.get("val_accuracy"),
            "val_accuracy": result.val_accuracy[-1],
            "test_accuracy": accuracy,
            "test_samples": len(data.test.dataset),
            "train_s": result.seconds,
        }

    def _run(self, trial: optuna.Trial, config: TrialConfig, start: float) -> Any:
        data, model, run_size = self._prepare(config)
        trial.set_user_attr("input_size", list(run_size))
        params = count_parameters(model)
        try:
            flops = total_flops(model, run_size, device="meta")
        except Exception:  # a model whose forward reads values: count on a real copy
            flops = total_flops(model, run_size, device="cpu")
        trial.set_user_attr("params", int(params))
        trial.set_user_attr("flops", int(flops))
        limits = {
            "flops": self.recipe.objective.max_flops,
            "params": self.recipe.objective.max_params,
        }
        for key, limit in limits.items():
            if limit is not None:  # feasible when <= 0; samplers and best trials honour it
                trial.set_constraint(key, float({"flops": flops, "params": params}[key] - limit))
        budget = self.recipe.training
        tracking = TrackerCallback({"stats": ["lsat"]}) if budget.track_saturation else None
        callbacks: list[TrainingCallback] = [tracking] if tracking is not None else []
        if self.prune:
            callbacks.append(PruningCallback(trial))
        result = self._train(model, data, config, trial.number, callbacks)
        trial.set_user_attr("wall_s", time.perf_counter() - start)
        trial.set_user_attr("train_s", result.seconds)
        trial.set_user_attr("epochs", result.epochs)
        if result.status == "diverged":
            raise TrialFailedError(result.status_detail)
        accuracy = result.val_accuracy[-1]
        if not math.isfinite(accuracy):
            raise TrialFailedError("no validation accuracy: the validation split is empty")
        trial.set_user_attr("val_accuracy", accuracy)
        trial.set_user_attr("saturation", _saturation_summary(tracking))
        return (accuracy, float(flops)) if self.multi else accuracy
