"""CI runs the README's second command, and that command runs the fast and the slow set."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PATTERN = r"^python3 -m venv \.venv .*pytest"


def test_ci_reads_the_readme_command_and_it_runs_both_sets():
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert f"grep -m1 -E '{PATTERN}' README.md" in script
    readme = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    commands = [line for line in readme if re.match(PATTERN, line)]
    assert readme.index(commands[0]) == 4  # the second line of the two-command opening
    first = commands[0]
    fast = re.search(r'pytest (-n auto )?-m "not slow"', first)
    slow = re.search(r"pytest (-n auto )?-m slow", first)
    assert fast and slow and fast.start() < slow.start()
    assert " || " not in first and ";" not in first  # a failing (or empty) set fails the run
