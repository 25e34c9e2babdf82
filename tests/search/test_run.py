"""Tests for run_search: outputs, resume, failures, several workers, killed workers.

The multi-process tests run on both the default journal file storage and PostgreSQL (the
``postgres_url`` fixture skips, or fails under CI=true, where no server can be started).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from delve_advisor.edits import load_edits
from delve_advisor.search import open_storage, run_search

REPO = Path(__file__).resolve().parents[2]
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _study(out: Path, name: str, url: str | None = None) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url, out))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def test_one_worker_search_writes_every_output(write_recipe):
    path = write_recipe()
    result = run_search(path, progress=False)
    out = path.parent / "run"
    study = _study(out, "tiny")
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert [t.user_attrs["label"] for t in trials[:2]] == ["baseline", "1"]
    assert [t.user_attrs["label"] for t in trials].count("baseline") == 1
    assert result.trials == {"COMPLETE": 4}
    assert set(result.paths) == {"csv", "best_edits", "history", "pareto", "markdown", "html"}
    csv = (out / "trials.csv").read_text().splitlines()
    assert len(csv) == 5 and "user_attrs_val_accuracy" in csv[0]
    best = max(trials, key=lambda t: (t.value, -t.user_attrs["flops"]))
    assert [e.to_dict() for e in load_edits(out / "best_edits.json")] == best.user_attrs["edits"]
    # the one best trial, the one whose edits best_edits.json holds (ties go to fewer FLOPs)
    assert result.best == [
        {"number": best.number, "values": [best.value], "label": best.user_attrs["label"]}
    ]
    md = (out / "search.md").read_text()
    assert "Predicted vs measured" in md and "Δ accuracy vs baseline" in md
    assert "<img src='history.png'" in (out / "search.html").read_text()


def test_resume_runs_only_the_missing_trials(write_recipe):
    path = write_recipe()
    out = path.parent / "run"
    run_search(path, n_trials=2, progress=False)
    first = {t.number: t.datetime_start for t in _study(out, "tiny").get_trials()}
    advice = (out / "advice.json").stat().st_mtime_ns
    run_search(path, n_trials=4, progress=False)
    trials = _study(out, "tiny").get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert {t.number: t.datetime_start for t in trials[:2]} == first  # none repeated
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert [t.user_attrs["label"] for t in trials].count("baseline") == 1
    assert (out / "advice.json").stat().st_mtime_ns == advice  # the advice is reused


def test_failing_trials_are_recorded_with_their_reason(write_recipe):
    path = write_recipe(training={"lr": 1e30}, n_trials=2)
    result = run_search(path, progress=False)
    trials = _study(path.parent / "run", "tiny").get_trials()
    assert result.trials == {"FAIL": 2}
    assert all("training loss became nan" in t.user_attrs["fail_reason"] for t in trials)
    assert "## Failed trials" in (path.parent / "run" / "search.md").read_text()


def test_multi_objective_study_has_two_directions(write_recipe):
    path = write_recipe(objective={"mode": "multi"}, n_trials=3)
    result = run_search(path, progress=False)
    study = _study(path.parent / "run", "tiny")
    assert len(study.directions) == 2 and result.best
    assert all(len(t.values) == 2 for t in study.best_trials)


def test_finished_counts_complete_pruned_and_failed_trials_only():
    from delve_advisor.search.run import _finished

    study = optuna.create_study(direction="maximize")
    assert _finished(study) == 0
    for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE):
        value = 0.5 if state == TrialState.COMPLETE else None
        study.add_trial(optuna.trial.create_trial(state=state, value=value))
    study.ask()  # RUNNING
    study.enqueue_trial({})  # WAITING
    assert _finished(study) == 4


class _FakeWorker:
    """A process stand-in that finishes one trial in the study on each join, ``n`` in all."""

    def __init__(self, study: optuna.Study, n: int) -> None:
        self.study, self.left, self.joins = study, n, []

    def is_alive(self) -> bool:
        return self.left > 0

    def join(self, timeout: float | None = None) -> None:
        self.joins.append(timeout)
        self.study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED))
        self.left -= 1


def test_the_workers_bar_polls_the_study_until_the_workers_end():
    from delve_advisor.search.run import _watch

    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.1))  # from an earlier run
    workers = [_FakeWorker(study, 2), _FakeWorker(study, 3)]
    assert _watch(study, workers, total=10, progress=False, interval=0.25) == 6
    assert workers[0].joins == [0.25, 0.25] and workers[1].joins == [0.25] * 3
    more = [_FakeWorker(study, 5)]
    assert _watch(study, more, total=8, progress=False, interval=0.01) == 8  # capped at total


def test_with_val_split_the_best_and_the_baseline_are_measured_on_test(write_recipe, monkeypatch):
    from delve_advisor.search.objective import SearchObjective

    path = write_recipe(data={"val_split": 0.25}, n_trials=3)
    result = run_search(path, progress=False)
    out = path.parent / "run"
    trials = _study(out, "tiny").get_trials()
    best = max(trials, key=lambda t: (t.value, -t.user_attrs["flops"]))
    assert {r for e in result.test for r in e["roles"]} == {"best", "baseline"}
    for entry in result.test:
        trial = trials[entry["number"]]
        assert entry["trial_val_accuracy"] == trial.value == entry["val_accuracy"]  # CPU: same
        assert entry["test_samples"] == 32 and 0 <= entry["test_accuracy"] <= 1
    assert any(e["number"] == best.number and "best" in e["roles"] for e in result.test)
    assert json.loads((out / "test.json").read_text()) == result.test
    assert "## Test split" in (out / "search.md").read_text()
    # resumed with nothing left to run: the measurements are reused, nothing is retrained
    monkeypatch.setattr(SearchObjective, "measure_on_test", lambda self, trial: 1 / 0)
    again = run_search(path, progress=False)
    assert again.test == result.test


def test_a_failing_test_measurement_is_recorded_and_the_outputs_written(write_recipe, monkeypatch):
    from delve_advisor.search.objective import SearchObjective

    def boom(self, trial):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(SearchObjective, "measure_on_test", boom)
    path = write_recipe(data={"val_split": 0.25}, n_trials=2)
    result = run_search(path, progress=False)
    assert result.test and all(e["error"] == "RuntimeError: out of memory" for e in result.test)
    assert "markdown" in result.paths and "test" in result.paths
    monkeypatch.undo()  # resumed: the failed measurements are tried again
    again = run_search(path, progress=False)
    assert [e["number"] for e in again.test] == [e["number"] for e in result.test]
    assert all("error" not in e and 0 <= e["test_accuracy"] <= 1 for e in again.test)


def test_without_val_split_nothing_is_measured_on_test(write_recipe):
    path = write_recipe(n_trials=2)
    result = run_search(path, progress=False)
    assert result.test == [] and "test" not in result.paths
    assert not (path.parent / "run" / "test.json").exists()


def _storage(request) -> str | None:
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else None


@pytest.fixture(params=["journal", "postgres"])
def storage(request):
    return _storage(request)


@pytest.mark.slow
def test_two_workers_record_every_trial_once(write_recipe, storage, tmp_path):
    name = f"two-{tmp_path.name}"
    path = write_recipe(
        training={"epochs": 2}, data={"spec": "synthetic:n=96,val=32,size=16"}, n_trials=6
    )
    run_search(path, storage=storage, study=name, workers=2, progress=False)
    out = path.parent / "run"
    trials = _study(out, name, storage).get_trials()
    assert 6 <= len(trials) <= 7  # n_trials counts the total; a second worker may add one
    assert [t.number for t in trials] == list(range(len(trials)))
    assert all(t.state in FINISHED for t in trials)
    assert [t.user_attrs["label"] for t in trials].count("baseline") == 1
    assert len({t.user_attrs["worker_pid"] for t in trials}) == 2
    best = max((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    code = (
        "import json, optuna\n"
        "from delve_advisor.search import open_storage\n"
        f"store = open_storage({storage!r}, {str(out)!r})\n"
        f"s = optuna.load_study(study_name={name!r}, storage=store)\n"
        "print(json.dumps([s.best_value, len(s.trials)]))\n"
    )
    third = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout.strip().splitlines()[-1]) == [best.value, len(trials)]


@pytest.mark.slow
def test_a_killed_worker_leaves_no_trial_running(write_recipe, storage, tmp_path):
    name = f"kill-{tmp_path.name}"
    path = write_recipe(training={"epochs": 100000}, n_trials=1)
    code = (
        "from delve_advisor.search import run_search\n"
        f"run_search({str(path)!r}, storage={storage!r}, study={name!r}, progress=False)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", code], env=_env(), cwd=tmp_path)
    out = path.parent / "run"
    deadline = time.time() + 120
    running = []
    try:
        while time.time() < deadline and not running:
            time.sleep(0.5)
            if (out / "advice.json").is_file():
                study = _study(out, name, storage)
                running = [
                    t
                    for t in study.get_trials(states=(TrialState.RUNNING,))
                    if "worker_pid" in t.user_attrs
                ]
        assert running, "the worker never started a trial"
        assert running[0].user_attrs["worker_pid"] == worker.pid
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    time.sleep(4)  # past the grace period (3 s) of the recipe's heartbeat
    # A new worker joins: on the journal it fails the dead pid's trial at start; on PostgreSQL
    # Optuna fails the heartbeat-stale trial and RetryHeartbeatStaleTrialCallback re-queues it.
    path = write_recipe(training={"epochs": 1}, n_trials=1)
    run_search(path, storage=storage, study=name, n_trials=3, progress=False)
    trials = _study(out, name, storage).get_trials()
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    killed = trials[running[0].number]
    assert killed.state == TrialState.FAIL
    assert any(t.state == TrialState.COMPLETE for t in trials)


def test_a_second_machine_gets_the_advice_from_the_study(write_recipe, tmp_path):
    path = write_recipe(n_trials=1)
    journal = f"journal:{tmp_path / 'shared.journal'}"
    run_search(path, storage=journal, out=tmp_path / "machine-a", progress=False)
    first = (tmp_path / "machine-a" / "advice.json").read_text()
    # another machine, another run directory, a different advisor budget: same space
    other = write_recipe("other", advice={"epochs": 2}, n_trials=2)
    run_search(other, storage=journal, study="tiny", out=tmp_path / "machine-b", progress=False)
    assert (tmp_path / "machine-b" / "advice.json").read_text() == first
    study = optuna.load_study(study_name="tiny", storage=open_storage(journal, tmp_path))
    assert len(study.trials) == 2 and "delve_advisor_advice" in study.user_attrs
