"""The test suite's wall time, before issue 7 (``2341ffb``) and now, in one run on this machine.

Each tree runs the pytest part of its own README test command (old: ``pytest``, everything in
one process; new: the fast set then the slow set, each with ``-n auto``), one after the other,
with the same interpreter and installed packages, the old tree checked out in a temporary git
worktree and put first on ``PYTHONPATH``. Prints each wall time, test count and the ratio
(target: new <= 0.70 x old). Run it on an idle machine; it took 9 minutes on 2026-12-03.

The new suite has grown since the old tree by whole features with their own tests (the search
with its PostgreSQL workers, delve's ported test suite, the edits' zoo matrix, the experiment).
So the new tree is also timed on the old suite's scope (:data:`OLD_SCOPE`): the test files the
old tree had, at their paths now (``tests/advisor/test_cost.py`` is ``tests/test_cost.py``, the
report tests are ``tests/report/``), plus issue 7's own new test files; each set again as the
README runs it.

    python benchmarks/bench_tests.py [--old 2341ffb] [--no-scope]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: The old tree's test files as they are named now, and issue 7's own new ones.
OLD_SCOPE = [
    "tests/advisor/test_advise.py",
    "tests/advisor/test_suggestions.py",
    "tests/advisor/test_tail.py",
    "tests/edits/test_edits.py",
    "tests/saturation",
    "tests/report",
    "tests/test_capture.py",
    "tests/test_cli.py",
    "tests/test_cost.py",
    "tests/test_data.py",
    "tests/test_docstrings.py",
    "tests/test_models.py",
    "tests/test_modules.py",
    "tests/test_receptive_field.py",
    "tests/test_rf_rules.py",
    "tests/test_rf_zoo.py",
    "tests/test_testing.py",
    # issue 7's new tests
    "tests/test_architecture.py",
    "tests/test_ci.py",
    "tests/test_deprecation.py",
    "tests/test_hooks.py",
    "tests/test_meta.py",
    "tests/test_registry.py",
]


def _pytest(tree: Path, args: list[str]) -> tuple[float, int, str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("OMP_NUM_THREADS", None)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    passed = sum(int(n) for n in re.findall(r"(\d+) (?:passed|failed|skipped)", summary))
    return seconds, passed, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", default="2341ffb", help="the commit before issue 7")
    parser.add_argument(
        "--no-scope", action="store_true", help="skip the run on the old suite's scope"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(
            ["git", "worktree", "add", "-q", "--detach", str(old), args.old], cwd=REPO, check=True
        )
        try:
            old_s, old_n, old_summary = _pytest(old, [])
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(old)], cwd=REPO, check=False
            )
    fast_s, fast_n, fast_summary = _pytest(REPO, ["-n", "auto", "-m", "not slow"])
    slow_s, slow_n, slow_summary = _pytest(REPO, ["-n", "auto", "-m", "slow"])
    new_s = fast_s + slow_s
    print(f"old ({args.old}) pytest:            {old_n:4d} tests {old_s:7.1f} s  [{old_summary}]")
    print(f"new fast set (-n auto):       {fast_n:4d} tests {fast_s:7.1f} s  [{fast_summary}]")
    print(f"new slow set (-n auto):       {slow_n:4d} tests {slow_s:7.1f} s  [{slow_summary}]")
    print(f"new full suite:               {fast_n + slow_n:4d} tests {new_s:7.1f} s")
    print(f"ratio new / old: {new_s / old_s:.2f} (target <= 0.70)")
    if args.no_scope:
        return
    fast_s, fast_n, fast_summary = _pytest(REPO, ["-n", "auto", "-m", "not slow", *OLD_SCOPE])
    slow_s, slow_n, slow_summary = _pytest(REPO, ["-n", "auto", "-m", "slow", *OLD_SCOPE])
    print(f"old scope, fast set:          {fast_n:4d} tests {fast_s:7.1f} s  [{fast_summary}]")
    print(f"old scope, slow set:          {slow_n:4d} tests {slow_s:7.1f} s  [{slow_summary}]")
    scoped = fast_s + slow_s
    print(f"old scope, both sets:         {fast_n + slow_n:4d} tests {scoped:7.1f} s")
    print(f"ratio old scope new / old: {scoped / old_s:.2f} (target <= 0.70)")


if __name__ == "__main__":
    main()
