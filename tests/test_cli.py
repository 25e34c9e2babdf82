"""The command line, run as a user runs it: a subprocess of the installed entry point."""

import json
import os
import subprocess
import sys

import pytest


def _cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "delve_advisor.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_help_lists_the_commands():
    out = _cli("--help")
    assert out.returncode == 0
    assert "analyze" in out.stdout and "demo" in out.stdout


def test_analyze_on_synthetic_data_writes_the_report(tmp_path):
    out = _cli(
        "analyze",
        "--model",
        "torchvision:resnet18",
        "--data",
        "synthetic:n=256,size=32,val=64",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "r"),
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    assert f"report: {tmp_path / 'r' / 'report.html'}" in out.stdout
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["meta"]["status"] == "ok"
    assert report["meta"]["model"] == "torchvision:resnet18"
    assert out.stdout.strip().splitlines()[-1] == report["headline"]


def test_graph_only_without_data(tmp_path):
    out = _cli(
        "analyze",
        "--model",
        "torchvision:resnet18",
        "--input-size",
        "28",
        "--in-channels",
        "1",
        "--out",
        str(tmp_path),
        "-q",
    )
    assert out.returncode == 0, out.stderr
    assert "From the graph alone" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnet18", "--input-size", "28"], "torchvision:NAME"),
        (["--model", "torchvision:resnet81", "--input-size", "28"], "resnet18"),
        (["--model", "torchvision:resnet18", "--data", "mnist:/x"], "valid data specs"),
        (["--model", "torchvision:resnet18"], "--input-size is required"),
        (
            [
                "--model",
                "torchvision:resnet18",
                "--data",
                "synthetic:n=64,size=32,val=16",
                "--num-classes",
                "5",
            ],
            "10",
        ),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(tmp_path, args, message):
    out = _cli("analyze", *args, "--out", str(tmp_path), "-q")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("delve-advisor: error: ")
    assert message in lines[0]
