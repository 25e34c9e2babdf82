"""The test suite's wall time, before issue 7 (``2341ffb``) and now, in one run on this machine.

Each tree runs the pytest part of its own README test command (old: ``pytest``, everything in
one process; new: the fast set then the slow set, each with ``-n auto``), one after the other,
with the same interpreter and installed packages, the old tree checked out in a temporary git
worktree and put first on ``PYTHONPATH``. Prints each wall time, test count and the ratio
(target: new <= 0.70 x old). Run it on an idle machine; it takes about 15 minutes.

    python benchmarks/bench_tests.py [--old 2341ffb]
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


if __name__ == "__main__":
    main()
