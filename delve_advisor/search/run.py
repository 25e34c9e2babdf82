"""run_search(): the advisor's suggestions validated by an Optuna study of short training runs."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.storages import JournalStorage
from optuna.trial import TrialState

from delve_advisor.advisor.advise import advise
from delve_advisor.data import load_data
from delve_advisor.exceptions import InvalidArgumentError, TrialFailedError
from delve_advisor.report import Report
from delve_advisor.search.objective import SearchObjective
from delve_advisor.search.outputs import (
    TEST_FILE,
    baseline_trial,
    best_trial,
    write_search_outputs,
)
from delve_advisor.search.recipe import Recipe, load_recipe, parse_recipe
from delve_advisor.search.space import SearchSpace, build_space
from delve_advisor.search.study import (
    create_search_study,
    describe_storage,
    fail_stale_trials,
    open_storage,
)
from delve_advisor.training import progress_bar

__all__ = ["SearchResult", "run_search"]

logger = logging.getLogger(__name__)

ADVICE_FILE = "advice.json"
ADVICE_ATTR = "delve_advisor_advice"
_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_POLL_S = 1.0
#: How long a worker waits for the others to be ready (importing torch, opening the study).
_START_TIMEOUT_S = 120.0


@dataclass
class SearchResult:
    """What a search left behind.

    Attributes:
        study_name: The study's name.
        storage: The storage (password hidden).
        out_dir: The run directory.
        trials: Trials in the study by state name (``{"COMPLETE": 8, "FAIL": 1}``).
        best: The best trial's number, values and label (single objective: the one
            ``best_edits.json`` holds), or the Pareto front's trials (multi-objective).
        paths: Output kind -> file.
        test: The best trial and the baseline retrained once and measured on the test split
            (``test.json``); empty without the recipe's ``data.val_split`` or a test split.

    Example:
        >>> from pathlib import Path
        >>> result = SearchResult(
        ...     "tiny", "journal file study.journal in the run directory", Path("run"),
        ...     trials={"COMPLETE": 7, "FAIL": 1},
        ...     best=[{"number": 3, "values": [0.81], "label": "1+2"}],
        ... )
        >>> sum(result.trials.values()), result.best[0]["label"], result.paths
        (8, '1+2', {})
    """

    study_name: str
    storage: str
    out_dir: Path
    trials: dict[str, int]
    best: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)
    test: list[dict[str, Any]] = field(default_factory=list)


def _advice(
    recipe: Recipe, out_dir: Path, objective: SearchObjective, study: optuna.Study
) -> Report:
    """The advisor's report: from the study (another machine's), the run dir, or a new run.

    The report is kept in the study's user attributes too, so that every machine joining the
    study searches the same space.
    """
    path = out_dir / ADVICE_FILE
    stored = study.user_attrs.get(ADVICE_ATTR)
    if stored is not None:
        report = Report.from_json(json.dumps(stored))
    elif path.is_file():
        report = Report.from_json(path)
    else:
        report = _run_advisor(recipe, objective)
    if stored is None:
        study.set_user_attr(ADVICE_ATTR, json.loads(report.to_json()))
    if not path.is_file():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(report.to_json())
        os.replace(tmp, path)
    return report


def _run_advisor(recipe: Recipe, objective: SearchObjective) -> Report:
    side = recipe.input_size or _native(objective)
    data = objective.data(side)
    model = objective.build_model(data)
    return advise(
        model,
        data,
        input_size=(data.in_channels, side, side),
        epochs=recipe.advice.epochs,
        max_batches=recipe.advice.max_batches,
        device=recipe.training.device,
        lr=recipe.training.lr,
        model_name=recipe.model.spec,
        progress=False,
    )


def _native(objective: SearchObjective) -> int:
    data = load_data(objective.recipe.data_spec, batch_size=1, limit=1)
    return int(data.input_size[0])


def _space(recipe: Recipe, report: Report) -> SearchSpace:
    side = int(report.meta["input_size"][1])
    return build_space(
        report.suggestions,
        input_size=side,
        edits=recipe.space.edits,
        max_suggestions=recipe.space.max_suggestions,
        input_sizes=recipe.space.input_sizes,
        lr=recipe.training.lr,
        lr_range=recipe.space.lr,
        widths=recipe.space.widths,
    )


def _open(
    recipe: Recipe, storage: str | None, study_name: str, out_dir: Path, seed: int
) -> optuna.Study:
    store = open_storage(
        storage,
        out_dir,
        heartbeat_interval=recipe.heartbeat_interval,
        grace_period=recipe.grace_period,
    )
    return create_search_study(
        store,
        study_name,
        multi=recipe.objective.mode == "multi",
        pruner=recipe.objective.pruner,
        epochs=recipe.training.epochs,
        seed=seed,
    )


def _counted(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=_COUNTED))


def _finished(study: optuna.Study) -> int:
    """Trials that ended: COMPLETE, PRUNED or FAIL (not RUNNING, not WAITING)."""
    return len(study.get_trials(deepcopy=False, states=_FINISHED))


def _watch(
    study: optuna.Study,
    processes: list[Any],
    total: int,
    progress: bool | None,
    interval: float = _POLL_S,
) -> int:
    """Shows a trials bar while worker processes run, polling the study every ``interval`` s.

    Returns:
        The count of finished trials the bar showed last (at most ``total``).
    """
    bar = progress_bar(
        None, progress, total=total, initial=min(_finished(study), total), desc="trials"
    )
    shown = bar.n
    try:
        while alive := [p for p in processes if p.is_alive()]:
            alive[0].join(interval)
            shown = min(_finished(study), total)
            if shown != bar.n:
                bar.n = shown
                bar.refresh()
        shown = min(_finished(study), total)
        bar.n = shown
        bar.refresh()
    finally:
        bar.close()
    return shown


def _measure_on_test(
    study: optuna.Study, objective: SearchObjective, space: SearchSpace, out_dir: Path
) -> list[dict[str, Any]]:
    """The best trial and the baseline retrained once and measured on the test split.

    Only with the recipe's ``data.val_split`` (otherwise the trials were chosen on the source's
    own held-out split, and there is no unseen test split). Entries already in ``test.json``
    for the same trial are reused, so a resumed search that ends on the same best trial does
    not retrain it; a measurement that failed (recorded with ``error``) is tried again.
    """
    if objective.recipe.data.val_split is None:
        return []
    picks: dict[int, tuple[Any, list[str]]] = {}
    for role, trial in (("best", best_trial(study)), ("baseline", baseline_trial(study, space))):
        if trial is not None:
            picks.setdefault(trial.number, (trial, []))[1].append(role)
    path = out_dir / TEST_FILE
    try:
        cached = {e["number"]: e for e in json.loads(path.read_text())} if path.is_file() else {}
    except (OSError, ValueError, KeyError, TypeError):
        cached = {}
    measured = []
    for number, (trial, roles) in picks.items():
        entry = cached.get(number)
        if entry is None or "error" in entry or entry.get("label") != trial.user_attrs.get("label"):
            try:
                entry = objective.measure_on_test(trial)
            except Exception as error:  # recorded; the study's outputs are written all the same
                logger.warning("measuring trial %d on the test split failed: %s", number, error)
                entry = {
                    "number": number,
                    "label": trial.user_attrs.get("label"),
                    "error": f"{type(error).__name__}: {error}",
                }
            if entry is None:  # the data have no test split of their own
                return []
            logger.info(
                "trial %d (%s) on the test split: %s",
                number,
                entry.get("label"),
                entry.get("test_accuracy", entry.get("error")),
            )
        measured.append({**entry, "roles": roles})
    return measured


def _enqueue_next(study: optuna.Study, space: SearchSpace, allow_waiting: bool = False) -> None:
    """Enqueues the next configuration of :meth:`SearchSpace.first_trials` not in the study.

    One at a time, and only when nothing is waiting, so that the study holds no queued trial
    beyond the ones it runs (the baseline and the first suggestion always come first).
    """
    trials = study.get_trials(deepcopy=False)
    if not allow_waiting and any(t.state == TrialState.WAITING for t in trials):
        return
    seen = []
    for t in trials:
        seen.append(dict(t.params) or dict(t.system_attrs.get("fixed_params", {})))
    for params in space.first_trials():
        if not any(all(p.get(k) == v for k, v in params.items()) for p in seen):
            study.enqueue_trial(params, skip_if_exists=True)
            return


def _optimize(
    study: optuna.Study,
    objective: SearchObjective,
    n_trials: int,
    deadline: float | None,
    progress: bool | None,
) -> None:
    bar = progress_bar(None, progress, total=n_trials, initial=_counted(study), desc="trials")
    try:
        while _counted(study) < n_trials and (deadline is None or time.time() < deadline):
            _enqueue_next(study, objective.space)
            study.optimize(objective, n_trials=1, catch=(TrialFailedError,), gc_after_trial=False)
            bar.n = min(_counted(study), n_trials)
            bar.refresh()
    finally:
        bar.close()


def _worker(
    recipe_data: dict[str, Any],
    recipe_path: str | None,
    storage: str | None,
    study_name: str,
    out_dir: str,
    n_trials: int,
    deadline: float | None,
    index: int,
    threads: int,
    ready: Any = None,
) -> None:
    # each worker gets its share of the cores: more threads than cores in total makes every
    # worker's OpenMP threads spin against the others' (measured: 2 workers at 0.19x 1 worker)
    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    recipe = parse_recipe(recipe_data, recipe_path)
    report = Report.from_json(Path(out_dir) / ADVICE_FILE)
    space = _space(recipe, report)
    study = _open(recipe, storage, study_name, Path(out_dir), recipe.seed + index)
    objective = SearchObjective(
        recipe, space, multi=recipe.objective.mode == "multi", progress=False
    )
    if ready is not None:  # start together: the first one up must not take every short trial
        try:
            ready.wait(timeout=_START_TIMEOUT_S)
        except threading.BrokenBarrierError:  # a worker failed to start: go on without it
            logger.warning("worker %d: not every worker started; going on", index)
    _optimize(study, objective, n_trials, deadline, progress=False)


def run_search(
    recipe: Recipe | str | Path,
    *,
    storage: str | None = None,
    study: str | None = None,
    n_trials: int | None = None,
    workers: int = 1,
    timeout: float | None = None,
    out: str | Path | None = None,
    progress: bool | None = None,
) -> SearchResult:
    """Runs (or resumes) the validation search a recipe describes and writes its outputs.

    The advisor runs once (its report is kept as ``advice.json`` in the run directory and
    reused on resume); its top suggestions span the search space; the baseline and the first
    suggestion are enqueued as the first trials. ``n_trials`` counts the trials wanted in the
    study in total (finished, pruned, failed and running): re-running the same command after an
    interruption runs only the missing ones. With several workers a study may end up to
    ``workers - 1`` trials above ``n_trials``; the parent process then shows the trials bar,
    polling the study every second for finished (COMPLETE, PRUNED, FAIL) trials.

    Trials are evaluated and chosen on the data's validation split. With the recipe's
    ``data.val_split`` that split is held out of the training data, and after the study the
    best trial and the baseline are retrained once (same budget and seed) and measured on the
    source's own test split, which no trial saw: ``SearchResult.test`` and ``test.json``.

    Args:
        recipe: A :class:`Recipe` or the path of a YAML recipe.
        storage: Optuna storage URL (or ``journal:PATH``); default the recipe's, else the
            journal file ``study.journal`` in the run directory.
        study: Study name; default the recipe's, else the recipe file's stem.
        n_trials: Trials wanted in total; default the recipe's.
        workers: Processes on this machine working on the study.
        timeout: Stop starting new trials after this many seconds.
        out: Run directory; default the recipe's ``out`` (relative to the recipe file).
        progress: tqdm bar for trials; None shows it only on a terminal.

    Returns:
        The :class:`SearchResult`.

    Raises:
        RecipeError: The recipe is invalid.
        StorageError: The storage cannot be opened.
        InvalidArgumentError: ``workers``, ``n_trials`` or ``timeout`` is out of range.

    Example:
        A tiny real search (about a second on a CPU): the baseline and the rank-1 suggestion.

        >>> import tempfile
        >>> from delve_advisor.search import parse_recipe
        >>> recipe = parse_recipe({
        ...     "version": 1,
        ...     "model": {"spec": "delve_advisor.testing:tail_cnn"},
        ...     "data": {"spec": "synthetic:n=16,size=16,val=8", "batch_size": 8},
        ...     "input_size": 16,
        ...     "training": {"epochs": 1, "device": "cpu", "track_saturation": False},
        ...     "space": {"max_suggestions": 1},
        ...     "n_trials": 2,
        ... })
        >>> result = run_search(recipe, out=tempfile.mkdtemp(), progress=False)
        >>> result.study_name, result.trials
        ('delve-advisor-search', {'COMPLETE': 2})
        >>> sorted(path.name for path in result.paths.values())
        ['best_edits.json', 'history.png', 'pareto.png', 'search.html', 'search.md', 'trials.csv']
        >>> (result.out_dir / "advice.json").is_file()  # reused when the search is resumed
        True
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    for name, value in (("workers", workers), ("n_trials", n_trials)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InvalidArgumentError(f"run_search: {name} must be an int >= 1, got {value!r}")
    if timeout is not None and timeout <= 0:
        raise InvalidArgumentError(f"run_search: timeout must be > 0 seconds, got {timeout!r}")
    out_dir = Path(out) if out is not None else recipe.resolve(recipe.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = storage if storage is not None else recipe.storage
    if storage is not None and storage.startswith("journal:"):
        rel = Path(storage[len("journal:") :])
        storage = f"journal:{rel if rel.is_absolute() else recipe.resolve(rel)}"
    study_name = study or recipe.study_name
    wanted = n_trials or recipe.n_trials
    deadline = time.time() + timeout if timeout is not None else None

    optuna_study = _open(recipe, storage, study_name, out_dir, recipe.seed)
    if isinstance(optuna_study._storage, JournalStorage):  # RDB storages use heartbeats
        fail_stale_trials(optuna_study)
    objective = SearchObjective(
        recipe, SearchSpace({}, ("baseline",), 1), multi=recipe.objective.mode == "multi"
    )
    report = _advice(recipe, out_dir, objective, optuna_study)
    space = _space(recipe, report)
    objective.space = space
    objective.progress = progress
    logger.info(
        "search %s on %s: %d trials wanted, %d in the study, %d worker(s)",
        study_name,
        describe_storage(storage),
        wanted,
        _counted(optuna_study),
        workers,
    )
    if workers == 1:
        _optimize(optuna_study, objective, wanted, deadline, progress)
    else:
        # one queued configuration per worker before they start, so that two workers do not
        # race to enqueue the same first trial (later they enqueue as they finish)
        queued = sum(t.state == TrialState.WAITING for t in optuna_study.get_trials())
        free = min(workers, wanted - _counted(optuna_study)) - queued
        for _ in range(max(free, 0)):
            before = len(optuna_study.get_trials(deepcopy=False))
            _enqueue_next(optuna_study, space, allow_waiting=True)
            if len(optuna_study.get_trials(deepcopy=False)) == before:
                break
        context = multiprocessing.get_context("spawn")
        data = recipe.model_dump(exclude={"path"})
        path = str(recipe.path) if recipe.path is not None else None
        threads = max(1, torch.get_num_threads() // workers)
        ready = context.Barrier(workers)
        processes = [
            context.Process(
                target=_worker,
                args=(
                    data,
                    path,
                    storage,
                    study_name,
                    str(out_dir),
                    wanted,
                    deadline,
                    i,
                    threads,
                    ready,
                ),
            )
            for i in range(workers)
        ]
        for process in processes:
            process.start()
        try:
            _watch(optuna_study, processes, wanted, progress)
        finally:
            for process in processes:
                process.join()
        bad = [p.exitcode for p in processes if p.exitcode != 0]
        if bad:
            logger.warning("%d worker(s) exited with status %s", len(bad), bad)
    test = _measure_on_test(optuna_study, objective, space, out_dir)
    paths = write_search_outputs(optuna_study, report, space, out_dir, test=test)
    counts: dict[str, int] = {}
    for trial in optuna_study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    # one best trial as the outputs pick it (feasible, fewest FLOPs on a tie); the Pareto front
    # of a multi-objective study
    if len(optuna_study.directions) == 1:
        chosen = [t for t in (best_trial(optuna_study),) if t is not None]
    else:
        chosen = optuna_study.best_trials if counts.get("COMPLETE") else []
    best = [
        {"number": t.number, "values": list(t.values), "label": t.user_attrs.get("label")}
        for t in chosen
    ]
    return SearchResult(study_name, describe_storage(storage), out_dir, counts, best, paths, test)
