"""Storages and studies for the search: journal file by default, any Optuna storage URL.

- No URL: Optuna's journal file storage, ``<out>/study.journal`` (several processes on one
  machine, no server). ``journal:PATH`` names another journal file.
- ``postgresql+psycopg://...`` (tested), ``mysql://...``: an :class:`optuna.storages.RDBStorage`
  with heartbeats, so a killed worker's trial is failed and retried
  (:class:`optuna.storages.RetryHeartbeatStaleTrialCallback`) instead of staying RUNNING.
- ``sqlite:///FILE``: works, but one writer at a time only (SQLite locks the whole file).

The journal storage has no heartbeat: :func:`fail_stale_trials` fails the RUNNING trials whose
worker process is gone (same host, pid no longer alive) or that started longer ago than a limit;
:func:`~delve_advisor.search.run.run_search` calls it before it starts workers.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import socket
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import (
    BaseStorage,
    JournalStorage,
    RDBStorage,
    RetryHeartbeatStaleTrialCallback,
)
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from delve_advisor.exceptions import InvalidArgumentError, StorageError

__all__ = [
    "create_search_study",
    "describe_storage",
    "fail_stale_trials",
    "open_storage",
]

logger = logging.getLogger(__name__)

JOURNAL_FILE = "study.journal"


def describe_storage(url: str | None) -> str:
    """The storage URL with any password replaced by ``***`` (for messages and logs).

    Example:
        >>> describe_storage("postgresql+psycopg://optuna:s3cret@db.example:5432/search")
        'postgresql+psycopg://optuna:***@db.example:5432/search'
        >>> describe_storage(None)
        'journal file study.journal in the run directory'
    """
    if url is None:
        return f"journal file {JOURNAL_FILE} in the run directory"
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def _journal_path(url: str | None, out_dir: Path) -> Path | None:
    if url is None:
        return out_dir / JOURNAL_FILE
    if url.startswith("journal:"):
        path = Path(url[len("journal:") :]).expanduser()
        return path if path.is_absolute() else out_dir / path
    return None


def open_storage(
    url: str | None,
    out_dir: str | Path,
    *,
    heartbeat_interval: int = 10,
    grace_period: int | None = 30,
    max_retry: int = 1,
) -> BaseStorage:
    """Opens (creating when needed) the storage of a search.

    Args:
        url: None (journal file in ``out_dir``), ``journal:PATH``, or an SQLAlchemy URL.
        out_dir: The run directory.
        heartbeat_interval: Seconds between a running trial's heartbeats (RDB storages).
        grace_period: Seconds without a heartbeat after which a trial is stale (RDB storages).
        max_retry: How often a stale trial is re-queued (``RetryHeartbeatStaleTrialCallback``).

    Returns:
        The storage.

    Raises:
        StorageError: The storage cannot be opened or reached; the message names the URL
            (password hidden) and the reason.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> run_dir = Path(tempfile.mkdtemp())
        >>> storage = open_storage(None, run_dir)  # the journal file study.journal in run_dir
        >>> type(storage).__name__, (run_dir / "study.journal").is_file()
        ('JournalStorage', True)
        >>> other = open_storage("journal:shared/search.journal", run_dir)  # relative to run_dir
        >>> (run_dir / "shared" / "search.journal").is_file()
        True
    """
    out_dir = Path(out_dir)
    journal = _journal_path(url, out_dir)
    try:
        if journal is not None:
            journal.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(journal)))
        engine_kwargs: dict[str, Any] = {}
        if url.startswith("postgresql"):
            engine_kwargs = {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                    max_retry=max_retry
                ),
            )
    except Exception as error:  # sqlalchemy, drivers and OS errors all mean "cannot open"
        reason = " ".join(str(error).split())
        if len(reason) > 300:
            reason = reason[:300] + "..."
        raise StorageError(
            f"cannot open the storage {describe_storage(url)}: {type(error).__name__}: {reason}. "
            "Check the URL, that the server is running and reachable, and that the driver is "
            "installed (PostgreSQL: pip install 'delve-advisor[postgres]')"
        ) from error


def create_search_study(
    storage: BaseStorage,
    study_name: str,
    *,
    multi: bool = False,
    pruner: str = "median",
    epochs: int = 1,
    seed: int | None = None,
) -> optuna.Study:
    """Creates the study, or loads it when it exists (``load_if_exists``: re-running resumes).

    Args:
        storage: From :func:`open_storage`.
        study_name: The study's name in the storage.
        multi: Two objectives (maximise accuracy, minimise FLOPs), no pruning.
        pruner: ``"median"``, ``"hyperband"`` or ``"none"`` (single objective only).
        epochs: Epochs per trial (Hyperband's maximum resource).
        seed: The sampler's seed; give each worker its own.

    Returns:
        The study.

    Raises:
        InvalidArgumentError: The pruner is unknown.

    Example:
        >>> import tempfile
        >>> import optuna
        >>> storage = open_storage(None, tempfile.mkdtemp())
        >>> study = create_search_study(storage, "demo", pruner="hyperband", epochs=3, seed=0)
        >>> [d.name for d in study.directions], type(study.pruner).__name__
        (['MAXIMIZE'], 'HyperbandPruner')
        >>> pareto = create_search_study(storage, "demo-flops", multi=True)
        >>> [d.name for d in pareto.directions], type(pareto.pruner).__name__
        (['MAXIMIZE', 'MINIMIZE'], 'NopPruner')
        >>> again = create_search_study(storage, "demo")  # re-running loads, never duplicates
        >>> sorted(optuna.get_all_study_names(storage))
        ['demo', 'demo-flops']
    """
    # FLOPs / parameter budgets are set per trial with ``trial.set_constraint`` (Optuna 5; the
    # samplers' ``constraints_func`` is deprecated since 5.0) by the objective, and TPE reads
    # them. Every edit configuration is enqueued once first (SearchSpace.first_trials), so TPE
    # only chooses after the space has been covered.
    sampler = optuna.samplers.TPESampler(seed=seed)
    if multi or pruner == "none":
        chosen: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
    elif pruner == "median":
        chosen = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    elif pruner == "hyperband":
        chosen = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1))
    else:
        raise InvalidArgumentError(
            f"pruner must be 'median', 'hyperband' or 'none', got {pruner!r}"
        )
    directions = ["maximize", "minimize"] if multi else ["maximize"]
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        directions=directions,
        sampler=sampler,
        pruner=chosen,
        load_if_exists=True,
    )
    existing = study.directions
    if len(existing) != len(directions):
        raise InvalidArgumentError(
            f"study {study_name!r} exists with {len(existing)} objective(s) but the recipe asks "
            f"for {len(directions)}; use another --study name"
        )
    return study


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_stale_trials(study: optuna.Study, *, older_than_s: float | None = None) -> list[int]:
    """Fails RUNNING trials whose worker is gone (for storages without heartbeats).

    A trial is stale when its ``worker_host`` is this machine and its ``worker_pid`` is no
    longer alive, or, with ``older_than_s``, when it started longer ago than that (any host).
    Each stale trial gets a ``fail_reason`` and the state FAIL; its parameters are enqueued
    again so that the search still runs them.

    Args:
        study: The study.
        older_than_s: Also fail trials running for longer than this; None only checks pids.

    Returns:
        The numbers of the trials failed.

    Example:
        >>> import socket, subprocess, sys, tempfile
        >>> study = create_search_study(open_storage(None, tempfile.mkdtemp()), "demo")
        >>> worker = subprocess.Popen([sys.executable, "-c", "pass"])  # a worker that exits
        >>> worker.wait()
        0
        >>> trial = study.ask()  # RUNNING, as the worker left it
        >>> trial.set_user_attr("worker_host", socket.gethostname())
        >>> trial.set_user_attr("worker_pid", worker.pid)
        >>> fail_stale_trials(study)
        [0]
        >>> [t.state.name for t in study.get_trials()]  # failed, and queued again
        ['FAIL', 'WAITING']
        >>> study.get_trials()[0].user_attrs["fail_reason"]
        'worker pid ... is gone (stale trial failed on restart)'
    """
    host = socket.gethostname()
    now = datetime.datetime.now()
    failed = []
    storage = study._storage
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("worker_pid")
        reason = None
        if trial.user_attrs.get("worker_host") == host and pid is not None and not _pid_alive(pid):
            reason = f"worker pid {pid} on {host} is gone (stale trial failed on restart)"
        elif older_than_s is not None and trial.datetime_start is not None:
            age = (now - trial.datetime_start).total_seconds()
            if age > older_than_s:
                reason = f"running for {age:.0f} s > {older_than_s:.0f} s (stale trial failed)"
        if reason is None:
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                failed.append(trial.number)
                study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})
                logger.warning("trial %d: %s", trial.number, reason)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process finished or failed it first
    return failed
