"""save_edited / load_edited: weights, edits, spec and input size, no pickled objects."""

import pickle

import pytest
import torch

from delve_advisor.edits import (
    ChangeStem,
    ReplaceWithIdentity,
    ResizeInput,
    SetStride,
    apply_edits,
    apply_to_spec,
    edits_from_report,
    load_edited,
    save_edited,
)
from delve_advisor.exceptions import EditError, InvalidArgumentError
from delve_advisor.models import load_model

SPEC = "torchvision:resnet18"


def test_save_then_load_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = load_model(SPEC, num_classes=10, in_channels=1)
    edits = [
        ChangeStem("conv1", {"kernel_size": 3, "stride": 1}),
        ReplaceWithIdentity("maxpool"),
        SetStride("layer2.0.conv1", [1, 1]),
        ResizeInput(value=[40, 40]),
    ]
    result = apply_edits(model, edits, (1, 32, 32))
    with torch.no_grad():  # "train" it a little so the weights differ from any fresh build
        for p in result.model.parameters():
            p.add_(0.01)
    path = save_edited(tmp_path / "edited.pt", result, SPEC, num_classes=10, in_channels=1)
    payload = torch.load(path, weights_only=True)
    assert payload["model_spec"] == SPEC and payload["input_size"] == [1, 32, 32]
    assert [e["op"] for e in payload["edits"]] == [
        "change_stem",
        "replace_with_identity",
        "set_stride",
        "set_stride",
        "resize_input",
    ]
    again = load_edited(path)
    assert again.input_size == (1, 40, 40) and again.edits == result.edits
    x = torch.rand(2, 1, 40, 40)
    result.model.eval(), again.model.eval()
    with torch.no_grad():
        assert torch.equal(result.model(x), again.model(x))


def test_graph_rewritten_models_round_trip_too(tmp_path):
    model = load_model("delve_advisor.testing:matched_cnn")
    result = apply_edits(model, [ReplaceWithIdentity("2")], (1, 28, 28))
    path = save_edited(tmp_path / "m.pt", result, "delve_advisor.testing:matched_cnn")
    again = load_edited(path)
    x = torch.rand(1, 1, 28, 28)
    assert torch.equal(result.model.eval()(x), again.model.eval()(x))


def test_files_that_are_not_saved_edits_are_refused(tmp_path):
    plain = tmp_path / "state.pt"
    torch.save({"a": torch.zeros(1)}, plain)
    with pytest.raises(EditError, match="not a file written by save_edited"):
        load_edited(plain)
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(pickle.dumps(object()))
    with pytest.raises(EditError, match="cannot read an edited model"):
        load_edited(pickled)
    with pytest.raises(InvalidArgumentError, match="result must be an EditResult"):
        save_edited(tmp_path / "x.pt", object(), SPEC)


def test_suggestion_out_of_range_lists_the_valid_ranks(tmp_path):
    path = tmp_path / "report.json"
    path.write_text(
        '{"meta": {"input_size": [3, 32, 32]}, "suggestions": [{"rank": 1, "edits": []}]}'
    )
    with pytest.raises(EditError, match=r"has no suggestion 3; its suggestions are \[1\]"):
        edits_from_report(path, 3)
    assert edits_from_report(path, 1) == ([], (3, 32, 32))


def test_apply_to_spec_loads_the_weights_first(tmp_path):
    torch.manual_seed(1)
    model = load_model(SPEC, num_classes=10)
    weights = tmp_path / "w.pt"
    torch.save(model.state_dict(), weights)
    result = apply_to_spec(
        SPEC, [SetStride("conv1", [1, 1])], (3, 32, 32), weights=weights, num_classes=10
    )
    assert torch.equal(result.model.layer1[0].conv1.weight, model.layer1[0].conv1.weight)
