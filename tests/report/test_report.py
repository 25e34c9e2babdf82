"""Tests of the report data model, its JSON form and schema, and the Markdown rendering."""

from __future__ import annotations

import dataclasses
import json
import math
import sys

import numpy as np
import pandas as pd
import pytest

from delve_advisor.edits.operations import ResizeInput
from delve_advisor.exceptions import (
    DelveAdvisorError,
    InvalidArgumentError,
    MissingDependencyError,
    ReportFormatError,
)
from delve_advisor.report import (
    LAYER_COLUMNS,
    Prediction,
    Report,
    Suggestion,
    report_schema,
    validate_report,
)

jsonschema = pytest.importorskip("jsonschema")

STATUSES = ["ok", "graph_only", "diverged", "eval_only"]


# ------------------------------------------------------------------------ schema


def test_schema_is_a_valid_draft_2020_12_schema():
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"]["pattern"] == "^1\\.[0-9]+$"
    # report_schema returns a fresh copy each time
    schema["title"] = "changed"
    assert report_schema()["title"] == "delve-advisor report"


@pytest.mark.parametrize("status", STATUSES)
def test_json_validates_against_schema(samples, status):
    data = json.loads(samples.report(status).to_json())
    jsonschema.validate(data, report_schema(), cls=jsonschema.Draft202012Validator)
    validate_report(data)  # the library's own entry point agrees
    assert data["schema_version"] == Report.SCHEMA_VERSION == "1.0"
    assert data["generator"]["name"] == "delve-advisor"
    assert data["meta"]["status"] == status


def test_schema_rejects_out_of_range_values_naming_the_field(samples):
    data = samples.report().to_dict()
    data["layers"][2]["saturation_train"] = 1.5
    with pytest.raises(ReportFormatError, match=r"layers/2/saturation_train"):
        validate_report(data)
    data = samples.report().to_dict()
    data["suggestions"][0]["kind"] = "add_layers"
    with pytest.raises(ReportFormatError, match=r"suggestions/0/kind"):
        validate_report(data)
    data = samples.report().to_dict()
    del data["meta"]["status"]
    with pytest.raises(ReportFormatError, match=r"meta: 'status' is a required property"):
        validate_report(data)


def test_validate_report_without_jsonschema_raises_a_clear_error(samples, monkeypatch):
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # makes `import jsonschema` fail
    with pytest.raises(MissingDependencyError, match=r"pip install jsonschema") as info:
        validate_report(samples.report().to_dict())
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value, DelveAdvisorError)
    # reading and writing do not need it
    report = samples.report()
    assert Report.from_json(report.to_json()).equals(report)


# ------------------------------------------------------------------------ JSON content


def test_json_encodes_nan_and_inf_as_null_with_is_global(samples):
    text = samples.report().to_json()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    rows = {row["name"]: row for row in data["layers"]}
    fc = rows["fc"]
    assert fc["r_min"] is None and fc["r_max"] is None and fc["is_global"] is True
    assert fc["saturation_train"] is None and fc["idim_train"] is None
    assert fc["probe_accuracy"] is None
    conv = rows["layer2.0.conv1"]
    assert conv["is_global"] is False
    assert conv["r_min"] == 7.0 and conv["r_max"] == 9.0
    assert conv["saturation_train"] == 0.5 and conv["saturation_eval"] == 0.46875
    assert conv["idim_train"] == 16 and isinstance(conv["idim_train"], int)
    assert conv["output_shape"] == [32, 14, 14]
    assert rows["layer4.0.conv2"]["dead"] is True
    assert data["layer_columns"] == list(LAYER_COLUMNS)
    assert [row["name"] for row in data["layers"]] == [r[0] for r in samples.layers().values]
    assert data["tail"] == ["layer4.0.conv1", "layer4.0.conv2"]
    # suggestions are written in rank order; tuples become lists; infinite r_max -> null
    assert [s["rank"] for s in data["suggestions"]] == [1, 2]
    first = data["suggestions"][0]
    assert first["edits"] == [{"op": "set_stride", "module": "layer2.0.conv1", "value": [1, 1]}]
    assert first["after"]["receptive_field"] == {"layer4.0.conv2": 45.0, "fc": None}
    assert first["before"]["input_range"] == [57, 89]
    assert data["history"][0] == {
        "epoch": 0,
        "mode": "train",
        "layer": "conv1",
        "stat": "lsat",
        "value": 0.5,
    }
    assert data["history"][1]["value"] is None
    assert data["headline"] == samples.report().headline


def test_numpy_and_pandas_scalars_in_meta_become_plain_json(samples):
    meta = samples.meta()
    meta["epochs"] = np.int64(3)
    meta["elapsed_s"] = np.float32(2.5)
    meta["train"] = np.bool_(True)
    meta["thresholds"] = {"ratio": np.float64(0.5), "nan": float("nan"), "dims": np.arange(3)}
    report = Report(
        layers=samples.layers(),
        tail=["layer4.0.conv1", "layer4.0.conv2"],
        suggestions=[],
        meta=meta,
    )
    data = json.loads(report.to_json())
    assert data["meta"]["epochs"] == 3 and isinstance(data["meta"]["epochs"], int)
    assert data["meta"]["elapsed_s"] == 2.5
    assert data["meta"]["train"] is True
    assert data["meta"]["thresholds"] == {"ratio": 0.5, "nan": None, "dims": [0, 1, 2]}
    validate_report(data)


def test_meta_that_cannot_be_json_is_rejected_naming_the_key(samples):
    meta = samples.meta()
    meta["thresholds"] = {"fn": object()}
    with pytest.raises(InvalidArgumentError, match=r"meta\.thresholds\.fn: a object cannot"):
        Report(
            layers=samples.layers(),
            tail=["layer4.0.conv1", "layer4.0.conv2"],
            suggestions=[],
            meta=meta,
        )


# ------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("status", STATUSES)
def test_round_trip_through_json_is_exact(samples, status):
    report = samples.report(status)
    again = Report.from_json(report.to_json())
    assert again.equals(report)
    pd.testing.assert_frame_equal(again.layers, report.layers)
    if report.history is None:
        assert again.history is None
    else:
        pd.testing.assert_frame_equal(again.history, report.history)
    assert again.suggestions == report.suggestions
    assert again.tail == report.tail
    assert again.meta == report.meta
    assert again.to_json() == report.to_json()


def test_round_trip_keeps_infinities_nan_and_dtypes(samples):
    again = Report.from_json(samples.report().to_json())
    layers = again.layers.set_index("name")
    assert math.isinf(layers.loc["fc", "r_min"]) and math.isinf(layers.loc["fc", "r_max"])
    assert math.isnan(layers.loc["fc", "saturation_train"])
    assert layers.loc["layer2.0.conv1", "output_shape"] == [32, 14, 14]
    dtypes = again.layers.dtypes
    assert dtypes["params"] == np.int64 and dtypes["flops"] == np.int64
    assert dtypes["r_max"] == np.float64 and dtypes["idim_train"] == np.float64
    assert dtypes["unproductive"] == np.bool_ and dtypes["in_tail"] == np.bool_
    assert again.suggestions[0].after.receptive_field["fc"] == math.inf
    assert again.suggestions[0].before.input_range == (57, 89)


def test_round_trip_of_half_global_layer_and_extra_columns(samples):
    layers = samples.layers()
    # a merge of a global and a spatial branch: r_min finite, r_max infinite
    layers.loc[layers["name"] == "fc", "r_min"] = 89.0
    layers["kernel"] = [3, 3, 3, 3, 3, 3, 1]
    layers["note"] = ["a", "b", "c", "d", "e", "f", "g"]
    report = Report(
        layers=layers,
        tail=["layer4.0.conv1", "layer4.0.conv2"],
        suggestions=[],
        meta={"status": "graph_only"},
    )
    data = report.to_dict()
    assert data["layer_columns"][-2:] == ["kernel", "note"]
    fc = data["layers"][-1]
    assert fc["r_min"] == 89.0 and fc["r_max"] is None and fc["is_global"]
    again = Report.from_dict(json.loads(json.dumps(data)))
    assert again.equals(report)
    assert list(again.layers.columns) == [*LAYER_COLUMNS, "kernel", "note"]


def test_from_json_reads_a_path_and_a_directory(samples, tmp_path):
    report = samples.report()
    (tmp_path / "report.json").write_text(report.to_json(), encoding="utf-8")
    assert Report.from_json(tmp_path / "report.json").equals(report)
    assert Report.from_json(str(tmp_path / "report.json")).equals(report)
    assert Report.load(tmp_path).equals(report)
    with pytest.raises(FileNotFoundError):
        Report.from_json(tmp_path / "missing.json")


def test_from_json_rejects_bad_documents_naming_the_problem(samples):
    with pytest.raises(ReportFormatError, match="not valid JSON"):
        Report.from_json("{not json")
    data = samples.report().to_dict()
    data["schema_version"] = "2.0"
    with pytest.raises(ReportFormatError, match=r"'2\.0' is not supported .* reads 1\.x"):
        Report.from_dict(data)
    data = samples.report().to_dict()
    del data["schema_version"]
    with pytest.raises(ReportFormatError, match="schema_version"):
        Report.from_dict(data)
    data = samples.report().to_dict()
    del data["layers"][3]["evidence"]
    with pytest.raises(ReportFormatError, match=r"layers\[3\] lacks the field 'evidence'"):
        Report.from_dict(data)
    data = samples.report().to_dict()
    data["layers"][0]["saturation_train"] = 2.0
    with pytest.raises(ReportFormatError, match=r"'saturation_train', row 0 \('conv1'\)"):
        Report.from_dict(data)
    data = samples.report().to_dict()
    del data["suggestions"][0]["after"]
    with pytest.raises(ReportFormatError, match=r"suggestion lacks the field\(s\) \['after'\]"):
        Report.from_dict(data)


def test_a_later_minor_version_is_read(samples):
    data = samples.report().to_dict()
    data["schema_version"] = "1.7"
    data["future_field"] = {"x": 1}
    assert Report.from_dict(data).equals(samples.report())


# ------------------------------------------------------------------------ constructor checks


def test_constructor_normalises_on_a_copy_and_fills_optional_columns(samples):
    layers = samples.layers().drop(columns=["probe_accuracy", "dead", "idim_eval"])
    layers["params"] = layers["params"].astype(float)  # whole floats are accepted as counts
    before = layers.copy()
    report = Report(
        layers=layers,
        tail=["layer4.0.conv1", "layer4.0.conv2"],
        suggestions=[],
        meta={"status": "ok"},
    )
    pd.testing.assert_frame_equal(layers, before)  # the caller's frame is untouched
    assert list(report.layers.columns) == list(LAYER_COLUMNS)
    assert report.layers["probe_accuracy"].isna().all()
    assert not report.layers["dead"].any()
    assert report.layers["params"].dtype == np.int64
    assert report.meta["warnings"] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.drop(columns=["r_min"]), r"lacks the column\(s\) \['r_min'\]"),
        (
            lambda df: df.assign(saturation_eval=[0.5] * 6 + [1.2]),
            r"'saturation_eval', row 6 \('fc'\): expected a number in \[0, 1\] or NaN, got 1\.2",
        ),
        (
            lambda df: df.assign(evidence=["maybe"] + ["neither"] * 6),
            r"'evidence', row 0 \('conv1'\): expected one of",
        ),
        (lambda df: df.assign(params=[-1] + [0] * 6), r"'params', row 0 .* non-negative"),
        (lambda df: df.assign(idim_train=[1.5] + [1] * 6), r"'idim_train', row 0"),
        (lambda df: df.assign(unproductive=[1] * 7), r"'unproductive', row 0 .* True or False"),
        (lambda df: df.assign(r_max=[-3.0] * 7), r"'r_max', row 0 .* >= 0"),
        (lambda df: df.assign(output_shape=["16x28x28"] * 7), r"'output_shape', row 0"),
        (lambda df: df.assign(name=["conv1"] * 7), r"duplicate layer names"),
    ],
)
def test_constructor_rejects_bad_layer_tables(samples, change, message):
    with pytest.raises(InvalidArgumentError, match=message):
        Report(layers=change(samples.layers()), tail=[], suggestions=[], meta={"status": "ok"})


def test_constructor_checks_tail_suggestions_and_meta(samples):
    layers = samples.layers()
    tail = ["layer4.0.conv1", "layer4.0.conv2"]
    with pytest.raises(InvalidArgumentError, match=r"tail names \['layer9'\]"):
        Report(layers=layers, tail=[*tail, "layer9"], suggestions=[], meta={"status": "ok"})
    with pytest.raises(InvalidArgumentError, match=r"disagrees with the layers marked in_tail"):
        Report(layers=layers, tail=tail[:1], suggestions=[], meta={"status": "ok"})
    with pytest.raises(InvalidArgumentError, match=r"meta\['status'\] must be one of"):
        Report(layers=layers, tail=tail, suggestions=[], meta={"status": "fine"})
    with pytest.raises(InvalidArgumentError, match=r"meta\['status'\]"):
        Report(layers=layers, tail=tail, suggestions=[], meta={})
    with pytest.raises(InvalidArgumentError, match=r"meta\['warnings'\] must be a list"):
        Report(layers=layers, tail=tail, suggestions=[], meta={"status": "ok", "warnings": "x"})
    with pytest.raises(InvalidArgumentError, match=r"input_size"):
        Report(
            layers=layers,
            tail=tail,
            suggestions=[],
            meta={"status": "ok", "input_size": [1, 0, 28]},
        )
    s1, s2 = samples.suggestions()
    s2 = dataclasses.replace(s2, rank=s1.rank)
    with pytest.raises(InvalidArgumentError, match=r"ranks must be unique"):
        Report(layers=layers, tail=tail, suggestions=[s1, s2], meta={"status": "ok"})
    with pytest.raises(InvalidArgumentError, match=r"Report.layers must be a pandas DataFrame"):
        Report(layers=layers.to_dict(), tail=tail, suggestions=[], meta={"status": "ok"})
    with pytest.raises(InvalidArgumentError, match=r"history must have exactly the columns"):
        Report(
            layers=layers,
            tail=tail,
            suggestions=[],
            meta={"status": "ok"},
            history=samples.history().drop(columns=["stat"]),
        )
    bad_mode = samples.history().assign(mode="test")
    with pytest.raises(InvalidArgumentError, match=r"history.mode\[0\] must be one of"):
        Report(layers=layers, tail=tail, suggestions=[], meta={"status": "ok"}, history=bad_mode)


def test_suggestions_in_rank_order_and_tail_in_forward_order(samples):
    report = samples.report()
    assert [s.rank for s in report.suggestions] == [1, 2]
    assert report.suggestions[0].kind == "drop_downsampling"
    reversed_tail = Report(
        layers=samples.layers(),
        tail=["layer4.0.conv2", "layer4.0.conv1"],
        suggestions=[],
        meta={"status": "ok"},
    )
    assert reversed_tail.tail == ("layer4.0.conv1", "layer4.0.conv2")


def test_schema_id_and_docs_follow_the_schema_version():
    from pathlib import Path

    assert report_schema()["$id"].endswith(":" + Report.SCHEMA_VERSION)
    docs = Path(__file__).resolve().parents[2] / "docs" / "report-schema.md"
    text = docs.read_text(encoding="utf-8")
    assert f"# The report format (schema {Report.SCHEMA_VERSION})" in text
    for column in (*LAYER_COLUMNS, "is_global"):
        assert f"| `{column}` |" in text, column
    for key in ("schema_version", "generator", "headline", "layer_columns", "history"):
        assert f"| `{key}` |" in text, key


def test_suggestion_and_prediction_checks_and_round_trip(samples):
    prediction = Prediction(params=10, flops=np.int64(20), input_range=[3, 40], unproductive=0)
    assert prediction.input_range == (3, 40) and isinstance(prediction.flops, int)
    assert Prediction.from_dict(prediction.to_dict()) == prediction
    with pytest.raises(InvalidArgumentError, match=r"Prediction.params must be a non-negative"):
        Prediction(params=-1, flops=0, input_range=None, unproductive=0)
    with pytest.raises(InvalidArgumentError, match=r"input_range must be a pair"):
        Prediction(params=1, flops=0, input_range=(1, 2, 3), unproductive=0)
    with pytest.raises(InvalidArgumentError, match=r"receptive_field\['a'\] must be"):
        Prediction(
            params=1, flops=0, input_range=None, unproductive=0, receptive_field={"a": float("nan")}
        )
    suggestion = samples.suggestions()[1]
    assert Suggestion.from_dict(suggestion.to_dict()) == suggestion
    kwargs = {
        "kind": "resize_input",
        "targets": ["input"],
        "rationale": "r",
        "edits": [{"op": "resize_input", "module": "input", "value": (56, 56)}],
        "before": prediction,
        "after": prediction,
        "rank": 1,
    }
    built = Suggestion(**kwargs)
    assert built.edits == (ResizeInput(module="input", value=(56, 56)),)
    assert built.to_dict()["edits"] == [
        {"op": "resize_input", "module": "input", "value": [56, 56]}
    ]
    assert Suggestion(**{**kwargs, "edits": list(built.edits)}) == built  # Edit objects accepted
    for key, value, message in [
        ("kind", "add_layers", r"kind must be one of \['drop_downsampling'"),
        ("targets", "conv1", r"targets must be a non-empty list"),
        ("targets", [], r"targets must be a non-empty list"),
        ("edits", [{"module": "x"}], r"edits\[0\] must be an Edit or a dict with a string 'op'"),
        ("edits", [{"op": "nope", "module": "x"}], r"edits\[0\]: unknown edit op 'nope'"),
        (
            "edits",
            [{"op": "set_stride", "module": "x", "value": object()}],
            r"edits\[0\]: set_stride on 'x': value must be",
        ),
        ("rank", 0, r"rank must be >= 1"),
        ("rank", True, r"rank must be an int"),
        ("before", 3, r"before must be a Prediction"),
    ]:
        with pytest.raises(InvalidArgumentError, match=message):
            Suggestion(**{**kwargs, key: value})


# ------------------------------------------------------------------------ headline


def test_headline_given_or_composed(samples):
    report = samples.report()
    assert report.headline == (
        "tests:small_resnet: 2 of 7 layers form a tail (layer4.0.conv1 … layer4.0.conv2) at 28 px,"
        " by both evidences; first suggestion: drop_downsampling on layer2.0.conv1 (unproductive "
        "layers 2 → 0)."
    )
    assert "receptive field only" in samples.report("graph_only").headline
    assert samples.report("graph_only").headline.startswith("From the graph alone (no data): ")
    assert samples.report("diverged").headline.startswith("Training diverged; ")
    given = Report(
        layers=report.layers,
        tail=report.tail,
        suggestions=report.suggestions,
        meta={**report.meta, "headline": "Given headline."},
    )
    assert given.headline == "Given headline."
    assert json.loads(given.to_json())["headline"] == "Given headline."
    layers = samples.layers().assign(in_tail=False, unproductive=False, evidence="neither")
    quiet = Report(
        layers=layers, tail=[], suggestions=[], meta={"status": "ok", "input_size": [1, 28, 28]}
    )
    assert quiet.headline == "No tail: all 7 analysed layers are productive at 28 px."


# ------------------------------------------------------------------------ Markdown


def _table_rows(markdown: str) -> dict[str, list[str]]:
    """Layer-table rows keyed by layer name."""
    section = markdown.split("## Layers", 1)[1].split("## Warnings", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("| #"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[1]] = cells
    return rows


def test_markdown_has_headline_tail_layers_suggestions_and_warnings(samples):
    report = samples.report()
    md = report.to_markdown()
    assert md.startswith("# delve-advisor report: tests:small_resnet\n")
    assert f"**{report.headline}**" in md
    rows = _table_rows(md)
    assert list(rows) == samples.layers()["name"].tolist()
    assert rows["layer2.0.conv1"] == [
        "2",
        "layer2.0.conv1",
        "Conv2d",
        "4.61 k",
        "903 k",
        "32×14×14",
        "7",
        "9",
        "",
        "50.0 %",
        "46.9 %",
        "16",
        "15",
        "78.0 %",
        "",
        "neither",
    ]
    assert rows["layer4.0.conv2"][9:11] == ["dead", "dead"]  # never "0.0 %"
    assert rows["fc"][6:8] == ["∞", "∞"] and rows["fc"][9] == "—"
    assert rows["layer4.0.conv1"][14:] == ["tail", "both"]
    tail = md.split("## Tail", 1)[1].split("## Suggestions", 1)[0]
    assert "- `layer4.0.conv1`: both (receptive field and saturation); r_min 31" in tail
    assert "The two evidences agree on 2 of 2 tail layer(s)." in tail
    assert "Unproductive by receptive field only: layer3.0.conv1." in tail
    # ranked, with before -> after numbers and the edits as JSON
    first = md.index("### 1. drop_downsampling: `layer2.0.conv1`")
    second = md.index("### 2. prune_layers: `layer4`")
    assert first < second
    block = md[first:second]
    assert "| FLOPs | 8.12 M | 29 M | ×3.57 |" in block
    assert "| feasible input range | 57–89 px | 29–45 px | changed |" in block
    assert "| unproductive layers | 2 | 0 | -2 |" in block
    assert '{"op": "set_stride", "module": "layer2.0.conv1", "value": [1, 1]}' in block
    assert "| parameters | 248 k | 27.1 k | ×0.11 |" in md[second:]
    assert "- layer 'fc' has no spatial extent" in md.split("## Warnings", 1)[1]
    assert "- saturation_ratio: 0.5" in md


def test_markdown_graph_only_and_diverged_say_so(samples):
    graph = samples.report("graph_only").to_markdown()
    assert "Graph only: no data was given, so saturation was not measured" in graph
    assert "- data: none (graph only)" in graph
    assert "Only the receptive field is available" in graph
    assert _table_rows(graph)["conv1"][9] == "—"
    diverged = samples.report("diverged").to_markdown()
    assert "> **Warning: training diverged.** Training diverged (loss became NaN at epoch 1)" in (
        diverged
    )
    assert "- status: training diverged" in diverged
    assert "Evaluation only" in samples.report("eval_only").to_markdown()


def test_markdown_escapes_table_cells_and_renders_empty_reports(samples):
    layers = samples.layers()
    layers.loc[0, "type"] = "My|Conv"
    report = Report(
        layers=layers,
        tail=["layer4.0.conv1", "layer4.0.conv2"],
        suggestions=[],
        meta={"status": "ok"},
    )
    md = report.to_markdown()
    assert "| My\\|Conv |" in md
    assert "No suggestion: nothing to change at this input size." in md
    empty = Report(
        layers=samples.layers().iloc[:0], tail=[], suggestions=[], meta={"status": "graph_only"}
    )
    md = empty.to_markdown()
    assert "No layer was analysed." in md and "No tail" in md
    assert Report.from_json(empty.to_json()).equals(empty)


# ------------------------------------------------------------------------ frozen


def test_report_is_frozen_and_accessors_return_copies(samples):
    report = samples.report()
    before = report.to_json()
    with pytest.raises(AttributeError, match=r"a Report is frozen: cannot set 'tail'"):
        report.tail = ()
    report.meta["status"] = "diverged"
    report.meta["warnings"].append("changed")
    report.layers.loc[0, "params"] = 0
    report.history.loc[0, "value"] = -1.0
    assert report.to_json() == before
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.suggestions[0].rank = 5
    with pytest.raises(TypeError):
        report.suggestions[0].after.receptive_field["fc"] = 1.0


def test_layer_evidence_records_match_the_table(samples):
    report = samples.report()
    records = report.layer_evidence
    table = report.layers
    assert [r.module_path for r in records] == list(table["name"])
    assert records[-1].is_global and not records[0].is_global
    assert records[5].dead and records[5].in_tail and records[5].evidence == "both"
    assert records[0].output_shape == (16, 28, 28)
    assert records[0].params == int(table.loc[0, "params"])
