"""Names renamed or moved by the house refactor still work, and warn with the new name."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

import delve_advisor
import delve_advisor.advisor
import delve_advisor.report
import delve_advisor.saturation

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        (delve_advisor, "AbstractWriter", delve_advisor.saturation.TrackerOutput),
        (delve_advisor.saturation, "AbstractWriter", delve_advisor.saturation.TrackerOutput),
        (delve_advisor.saturation, "CSVWriter", delve_advisor.saturation.CSVOutput),
        (delve_advisor.saturation, "PrintWriter", delve_advisor.saturation.PrintOutput),
        (delve_advisor.saturation, "CompositeWriter", delve_advisor.saturation.CompositeOutput),
        (delve_advisor.advisor, "Report", delve_advisor.report.Report),
        (delve_advisor.advisor, "Suggestion", delve_advisor.report.Suggestion),
        (delve_advisor.advisor, "Prediction", delve_advisor.report.Prediction),
        (delve_advisor.advisor, "BaseReportWriter", delve_advisor.report.BaseReportFormat),
        (delve_advisor.advisor, "plot_receptive_field", delve_advisor.report.plot_receptive_field),
        (delve_advisor.advisor, "validate_report", delve_advisor.report.validate_report),
    ],
)
def test_moved_names_warn_and_are_the_new_objects(module, old, new):
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated; use .*{new.__name__}"):
        assert getattr(module, old) is new


@pytest.mark.parametrize(
    ("module", "old", "args"),
    [
        (delve_advisor, "register_writer", None),
        (delve_advisor, "register_report_writer", None),
        (delve_advisor.saturation, "list_writers", ()),
        (delve_advisor.advisor, "list_report_writers", ()),
        (delve_advisor.advisor, "get_report_writer", ("json",)),
    ],
)
def test_renamed_functions_warn_when_called(module, old, args):
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated"):
        function = getattr(module, old)
    if args is not None:
        with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated"):
            function(*args)


def test_a_subclass_of_abstract_writer_still_works_as_a_tracker_output():
    with pytest.warns(DeprecationWarning):
        base = delve_advisor.AbstractWriter

    class Mine(base):
        def write(self, result):
            pass

    assert isinstance(Mine(), delve_advisor.saturation.TrackerOutput)


@pytest.mark.parametrize(
    "name",
    [
        "delve_advisor.advisor.report",
        "delve_advisor.advisor.writers",
        "delve_advisor.advisor.plots",
    ],
)
def test_old_module_paths_import_with_a_warning(name):
    sys.modules.pop(name, None)
    with pytest.warns(DeprecationWarning, match=rf"{name} is deprecated"):
        module = importlib.import_module(name)
    assert all(hasattr(module, n) for n in module.__all__)


def test_old_writer_registry_names_still_register_report_formats(tmp_path):
    sys.modules.pop("delve_advisor.advisor.writers", None)
    with pytest.warns(DeprecationWarning):
        writers = importlib.import_module("delve_advisor.advisor.writers")

    class Tail(writers.BaseReportWriter):
        def write(self, report, directory):
            path = directory / "tail.txt"
            path.write_text("\n".join(report.tail))
            return {"tail": path}

    with pytest.warns(DeprecationWarning):
        writers.register_report_writer("old-tail", Tail)
    try:
        assert "old-tail" in delve_advisor.report.list_report_formats()
    finally:
        delve_advisor.report.unregister_report_format("old-tail")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_golden_report_files_still_load_and_round_trip(path):
    report = delve_advisor.Report.load(path)
    again = delve_advisor.Report.from_json(report.to_json())
    assert again.equals(report)
    original = json.loads(path.read_text(encoding="utf-8"))
    written = report.to_dict()
    for key in ("schema_version", "tail", "layers", "suggestions", "layer_columns", "history"):
        assert written[key] == original[key], key


def test_layer_receptive_field_name_is_the_node_name_with_a_warning():
    import torch

    rf = delve_advisor.receptive_field(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)), (1, 8, 8))
    layer = rf.layer("0")
    with pytest.warns(DeprecationWarning, match=r"LayerReceptiveField.name is deprecated"):
        assert layer.name == layer.node_name == "0"
