"""The command line: in-process through typer's CliRunner, plus one subprocess smoke test of the
installed entry point (``python -m delve_advisor.cli``)."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from delve_advisor.cli import app

runner = CliRunner()


def _cli(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_subprocess_smoke_graph_only(tmp_path):
    """The one subprocess: the real entry point, a graph-only report, exit 0 and the headline."""
    out = subprocess.run(
        [sys.executable, "-m", "delve_advisor.cli", "analyze", "--model", "torchvision:resnet18",
         "--input-size", "28", "--in-channels", "1", "--out", str(tmp_path), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "From the graph alone" in out.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert out.stdout.strip().splitlines()[-1] == report["headline"]
    assert (tmp_path / "report.md").is_file() and (tmp_path / "report.html").is_file()


def test_help_lists_the_commands():
    out = _cli("--help")
    assert out.exit_code == 0
    assert "analyze" in out.stdout and "demo" in out.stdout


def test_analyze_on_synthetic_data_writes_the_report(tmp_path):
    spec = "delve_advisor.testing:matched_cnn"
    out = _cli(
        "analyze", "--model", spec, "--data", "synthetic:n=64,size=28,val=16",
        "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert f"report: {tmp_path / 'r' / 'report.html'}" in out.stdout
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["meta"]["status"] == "ok"
    assert report["meta"]["model"] == spec
    assert out.stdout.strip().splitlines()[-1] == report["headline"]


def test_analyze_with_val_split_evaluates_on_a_share_of_the_training_split(tmp_path, monkeypatch):
    import delve_advisor.data

    loaded = []
    real = delve_advisor.data.load_data

    def spy(*args, **kwargs):
        loaded.append(real(*args, **kwargs))
        return loaded[-1]

    monkeypatch.setattr(delve_advisor.data, "load_data", spy)
    out = _cli(
        "analyze", "--model", "delve_advisor.testing:matched_cnn",
        "--data", "synthetic:n=64,size=28,val=16", "--val-split", "0.25",
        "--epochs", "1", "--out", str(tmp_path / "r"), "-q",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "r" / "report.json").read_text())["meta"]["status"] == "ok"
    (data,) = loaded
    # 25 % of the 64 training images held out as the evaluation data; the source's own 16
    # held-out images are the test split, which the analysis does not look at
    assert (len(data.train.dataset), len(data.val.dataset)) == (48, 16)
    assert data.test is not None and len(data.test.dataset) == 16


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnet18", "--input-size", "28"], "torchvision:NAME"),
        (["--model", "torchvision:resnet81", "--input-size", "28"], "resnet18"),
        (["--model", "torchvision:resnet18", "--data", "mnist:/x"], "valid data specs"),
        (["--model", "torchvision:resnet18"], "--input-size is required"),
        (
            ["--model", "torchvision:resnet18", "--input-size", "28", "--val-split", "0.2"],
            "--val-split needs --data",
        ),
        (
            ["--model", "torchvision:resnet18", "--data", "synthetic", "--val-split", "1.5"],
            "val_split",
        ),
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
    assert out.exit_code == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("delve-advisor: error: ")
    assert message in lines[0]
