"""Tests for delve_advisor.search.study: storages, study creation, stale-trial recovery."""

from __future__ import annotations

import socket
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from delve_advisor.exceptions import InvalidArgumentError, StorageError
from delve_advisor.search.study import (
    create_search_study,
    describe_storage,
    fail_stale_trials,
    open_storage,
)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_default_storage_is_a_journal_file_in_the_run_directory(tmp_path):
    storage = open_storage(None, tmp_path)
    assert isinstance(storage, optuna.storages.JournalStorage)
    create_search_study(storage, "s")
    assert (tmp_path / "study.journal").is_file()
    again = create_search_study(open_storage(None, tmp_path), "s")  # load_if_exists
    assert again.study_name == "s"


def test_sqlite_url_gets_heartbeats(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, heartbeat_interval=2)
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert storage.get_heartbeat_interval() == 2
    assert isinstance(
        storage.get_heartbeat_stale_trial_callback(),
        optuna.storages.RetryHeartbeatStaleTrialCallback,
    )


def test_bad_url_is_a_storage_error_naming_it(tmp_path):
    with pytest.raises(StorageError, match=r"cannot open the storage nosuch://x"):
        open_storage("nosuch://x", tmp_path)


def test_passwords_are_hidden():
    assert describe_storage("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"
    assert describe_storage("sqlite:///a.db") == "sqlite:///a.db"


def test_pruners_and_directions(tmp_path):
    storage = open_storage(None, tmp_path)
    study = create_search_study(storage, "h", pruner="hyperband", epochs=4)
    assert isinstance(study.pruner, optuna.pruners.HyperbandPruner)
    multi = create_search_study(storage, "m", multi=True, pruner="median")
    assert isinstance(multi.pruner, optuna.pruners.NopPruner) and len(multi.directions) == 2
    with pytest.raises(InvalidArgumentError, match="exists with 1 objective"):
        create_search_study(storage, "h", multi=True)
    with pytest.raises(InvalidArgumentError, match="pruner must be"):
        create_search_study(storage, "x", pruner="asha")


def test_a_trial_of_a_dead_worker_is_failed_and_requeued(tmp_path):
    study = create_search_study(open_storage(None, tmp_path), "stale")
    dead = study.ask({"edits": optuna.distributions.CategoricalDistribution(["baseline"])})
    dead.set_user_attr("worker_pid", _dead_pid())
    dead.set_user_attr("worker_host", socket.gethostname())
    alive = study.ask()
    alive.set_user_attr("worker_pid", 1)  # pid 1 is alive
    alive.set_user_attr("worker_host", socket.gethostname())
    assert fail_stale_trials(study) == [dead.number]
    trials = study.get_trials()
    assert trials[dead.number].state == TrialState.FAIL
    assert "is gone" in trials[dead.number].user_attrs["fail_reason"]
    assert trials[alive.number].state == TrialState.RUNNING
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == [{"edits": "baseline"}]
    assert fail_stale_trials(study, older_than_s=0) == [alive.number]
