"""Fixtures for the search tests: tiny recipes and a throwaway PostgreSQL server."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

TINY = {
    "version": 1,
    "model": {"spec": "delve_advisor.testing:tail_cnn"},
    "data": {"spec": "synthetic:n=48,val=32,size=16", "batch_size": 16},
    "input_size": 16,
    "training": {"epochs": 1, "device": "cpu", "track_saturation": True},
    "advice": {"epochs": 1},
    "space": {"max_suggestions": 3},
    "n_trials": 4,
    "heartbeat_interval": 1,
    "grace_period": 3,
    "out": "run",
}


@pytest.fixture
def write_recipe(tmp_path):
    """Writes a tiny recipe (overrides merged one level deep) and returns its path."""

    def write(name: str = "tiny", **overrides) -> Path:
        data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in TINY.items()}
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key].update(value)
            else:
                data[key] = value
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required in CI (CI=true) but {reason}")
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on a unix socket; yields a ``postgresql+psycopg`` URL.

    Run as the ``postgres`` system user when the tests run as root (``initdb`` refuses root).
    Skips where the server binaries or the driver are missing; fails instead under ``CI=true``.
    """
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the driver psycopg is not installed (pip install 'psycopg[binary]')")
    bindir = _postgres_bin()
    if bindir is None:
        _unavailable("no server binaries (initdb); install Debian's postgresql package")
    root = Path(tempfile.mkdtemp(prefix="delve-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no 'postgres' user to run the server")
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "server.log"

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres")
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-o",
            f"-c listen_addresses='' -k {root} -c max_connections=100",
            "start",
        )
    except (subprocess.CalledProcessError, OSError) as error:
        detail = getattr(error, "stderr", b"") or b""
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"the server did not start: {error} {detail.decode(errors='replace')}")
    try:
        run(str(bindir / "createdb"), "-h", str(root), "-U", "postgres", "search")
        yield f"postgresql+psycopg://postgres@/search?host={root}"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(root, ignore_errors=True)
