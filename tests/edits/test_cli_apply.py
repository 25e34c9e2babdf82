"""``delve-advisor apply``: edits from a file or a report, a before/after table, exit 2."""

import json

import pytest
import torch
from typer.testing import CliRunner

from delve_advisor.cli import app
from delve_advisor.edits import SetStride, load_edited, save_edits

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["apply", *args])


def test_apply_an_edit_file_prints_the_table_and_saves(tmp_path):
    edits = save_edits(tmp_path / "edits.yaml", [SetStride("layer2.0.conv1", [1, 1])])
    out = tmp_path / "edited.pt"
    result = _run(
        "--model",
        "torchvision:resnet18",
        "--edits",
        str(edits),
        "--input-size",
        "3,32,32",
        "--num-classes",
        "10",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "edit: set_stride layer2.0.downsample.0 [1, 1] (coupled)" in result.output
    assert "FLOPs" in result.output and "unproductive layers" in result.output
    loaded = load_edited(out)
    assert loaded.model.layer2[0].downsample[0].stride == (1, 1)


def test_apply_a_reports_suggestion(tmp_path):
    report = tmp_path / "report.json"
    report.write_text(
        json.dumps(
            {
                "meta": {"input_size": [3, 32, 32]},
                "suggestions": [
                    {"rank": 1, "edits": [{"op": "replace_with_identity", "module": "maxpool"}]},
                    {
                        "rank": 2,
                        "edits": [{"op": "resize_input", "module": "input", "value": [64, 64]}],
                    },
                ],
            }
        )
    )
    weights = tmp_path / "w.pt"
    torch.save(__import__("torchvision").models.resnet18(num_classes=10).state_dict(), weights)
    out = tmp_path / "edited.pt"
    result = _run(
        "--model",
        "torchvision:resnet18",
        "--from-report",
        str(report),
        "--suggestion",
        "2",
        "--weights",
        str(weights),
        "--num-classes",
        "10",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "input size: 3x64x64 (resize the data)" in result.output


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no_source", "give exactly one of --edits FILE and --from-report FILE"),
        ("out_of_range", "has no suggestion 5; its suggestions are [1]"),
        ("not_a_list", "must hold a list of edits"),
        ("unknown_op", "unknown edit op 'drop'"),
        ("missing_module", "no module or graph node 'layer9'"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, setup, message):
    report = tmp_path / "report.json"
    report.write_text(
        json.dumps({"meta": {"input_size": [3, 32, 32]}, "suggestions": [{"rank": 1, "edits": []}]})
    )
    edits = tmp_path / "edits.json"
    content = {
        "not_a_list": {"op": "set_stride"},
        "unknown_op": [{"op": "drop", "module": "conv1"}],
        "missing_module": [{"op": "replace_with_identity", "module": "layer9"}],
    }.get(setup, [])
    edits.write_text(json.dumps(content))
    source = {
        "no_source": [],
        "out_of_range": ["--from-report", str(report), "--suggestion", "5"],
    }.get(setup, ["--edits", str(edits), "--input-size", "3,32,32"])
    result = _run("--model", "torchvision:resnet18", *source, "--out", str(tmp_path / "o.pt"))
    assert result.exit_code == 2
    lines = (
        result.stderr.strip().splitlines()
        if result.stderr_bytes
        else result.output.strip().splitlines()
    )
    assert len(lines) == 1 and lines[0].startswith("delve-advisor: error: ")
    assert message in lines[0]
