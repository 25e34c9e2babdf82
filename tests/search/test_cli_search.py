"""Tests for ``delve-advisor search``, in-process with typer's CliRunner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from delve_advisor.cli import app

runner = CliRunner()


def test_search_runs_and_resumes(write_recipe, tmp_path):
    path = write_recipe(n_trials=2)
    out = tmp_path / "cli-run"
    result = runner.invoke(app, ["search", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "study tiny on journal file study.journal in the run directory: 2 complete" in (
        result.stdout
    )
    assert f"report: {out / 'search.html'}" in result.stdout
    again = runner.invoke(
        app, ["search", str(path), "--out", str(out), "--n-trials", "3", "--study", "tiny", "-q"]
    )
    assert again.exit_code == 0, again.output
    assert ": 3 complete" in again.stdout
    assert (out / "best_edits.json").is_file() and (out / "trials.csv").is_file()


def test_invalid_recipe_is_one_line_naming_the_key_path(write_recipe):
    path = write_recipe(training={"epochs": "many"})
    result = runner.invoke(app, ["search", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("delve-advisor: error: invalid recipe")
    assert "training.epochs: Input should be a valid integer" in lines[0]


def test_unknown_key_and_missing_model(write_recipe, tmp_path):
    result = runner.invoke(app, ["search", str(write_recipe(colour="red"))])
    assert result.exit_code == 2 and "colour: unknown key" in result.stderr
    path = tmp_path / "nomodel.yaml"
    path.write_text("version: 1\ndata: {spec: synthetic}\n")
    result = runner.invoke(app, ["search", str(path)])
    assert result.exit_code == 2 and "model: required key is missing" in result.stderr


def test_unreachable_storage_is_one_line_and_exit_2(write_recipe):
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"
    result = runner.invoke(app, ["search", str(write_recipe()), "--storage", url])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot open the storage" in lines[0]
    assert "nobody:***@127.0.0.1:1" in lines[0] and "secret" not in lines[0]


def test_missing_recipe_file(tmp_path):
    result = runner.invoke(app, ["search", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2 and "cannot read recipe" in result.stderr


def test_search_prints_the_best_trial_and_the_test_measurements(write_recipe, tmp_path):
    path = write_recipe(data={"val_split": 0.25}, n_trials=2)
    out = tmp_path / "cli-test"
    result = runner.invoke(app, ["search", str(path), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    test = json.loads((out / "test.json").read_text())
    best = [line for line in result.stdout.splitlines() if line.startswith("best: trial ")]
    assert len(best) == 1
    number = next(e["number"] for e in test if "best" in e["roles"])
    assert best[0].startswith(f"best: trial {number} (")
    lines = [line for line in result.stdout.splitlines() if line.startswith("test: trial ")]
    assert len(lines) == len(test) >= 1
    for entry, line in zip(test, lines, strict=True):
        assert line.startswith(f"test: trial {entry['number']} (")
        assert f"test accuracy {entry['test_accuracy']:.4f} on {entry['test_samples']}" in line


def test_without_val_split_no_test_line(write_recipe, tmp_path):
    result = runner.invoke(app, ["search", str(write_recipe(n_trials=1)), "-q"])
    assert result.exit_code == 0, result.output
    assert not [line for line in result.stdout.splitlines() if line.startswith("test: ")]
    assert [line for line in result.stdout.splitlines() if line.startswith("best: trial 0 (")]


def test_multi_objective_search_prints_the_pareto_front(write_recipe, tmp_path):
    path = write_recipe(objective={"mode": "multi"}, n_trials=2)
    result = runner.invoke(app, ["search", str(path), "--out", str(tmp_path / "multi"), "-q"])
    assert result.exit_code == 0, result.output
    front = [line for line in result.stdout.splitlines() if line.startswith("pareto front: ")]
    assert front and not [line for line in result.stdout.splitlines() if line.startswith("best:")]
    for line in front:  # accuracy and FLOPs
        assert len(line.rsplit(": ", 1)[1].split(", ")) == 2, line
