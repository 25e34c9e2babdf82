"""Edit operations: applied to copies, verified, replayable as plain data."""

import pytest
import torch
import torchvision
from torch import nn

from delve_advisor.edits import (
    Edit,
    SetStride,
    apply_edits,
    edit_from_dict,
    list_edits,
    load_edits,
    register_edit,
    save_edits,
)
from delve_advisor.edits.operations import _EDITS
from delve_advisor.exceptions import DuplicateRegistrationError, EditError, UnknownNameError


@pytest.fixture(scope="module")
def resnet():
    return torchvision.models.resnet18(num_classes=10)


def test_stem_edits_work_on_a_copy_and_keep_outputs(resnet):
    edits = [
        {"op": "set_stride", "module": "conv1", "value": [1, 1]},
        {"op": "replace_with_identity", "module": "maxpool"},
    ]
    edited = apply_edits(resnet, edits, (3, 28, 28))
    assert edited.conv1.stride == (1, 1) and isinstance(edited.maxpool, nn.Identity)
    assert resnet.conv1.stride == (2, 2) and isinstance(resnet.maxpool, nn.MaxPool2d)
    assert edited(torch.zeros(1, 3, 28, 28)).shape == (1, 10)


def test_a_residual_stride_needs_its_shortcut(resnet):
    with pytest.raises(EditError, match=r"set_stride on 'layer2.0.conv1'.*size of tensor"):
        apply_edits(
            resnet, [{"op": "set_stride", "module": "layer2.0.conv1", "value": [1, 1]}], (3, 32, 32)
        )
    both = [
        {"op": "set_stride", "module": m, "value": [1, 1]}
        for m in ("layer2.0.conv1", "layer2.0.downsample.0")
    ]
    assert apply_edits(resnet, both, (3, 32, 32)).layer2[0].conv1.stride == (1, 1)


def test_truncating_a_stage_needs_the_head_reattached(resnet):
    with pytest.raises(EditError, match="no longer runs"):
        apply_edits(resnet, [{"op": "replace_with_identity", "module": "layer4"}], (3, 32, 32))
    edited = apply_edits(
        resnet,
        [
            {"op": "replace_with_identity", "module": "layer4"},
            {"op": "replace_linear_input", "module": "fc", "value": 256},
        ],
        (3, 32, 32),
    )
    assert edited.fc.in_features == 256 and edited.fc.out_features == 10


def test_unknown_module_names_the_nearest(resnet):
    with pytest.raises(EditError, match=r"no module 'layer5.0.conv1'.*'layer4.0.conv1'"):
        apply_edits(resnet, [{"op": "set_stride", "module": "layer5.0.conv1", "value": [1, 1]}])


def test_bad_values_name_the_module(resnet):
    with pytest.raises(EditError, match="cannot set_stride on 'relu'"):
        apply_edits(resnet, [{"op": "set_stride", "module": "relu", "value": [1, 1]}])
    with pytest.raises(EditError, match="value must be a list of ints"):
        apply_edits(resnet, [{"op": "set_stride", "module": "conv1", "value": "1"}])
    with pytest.raises(EditError, match=r"expected an nn\.Linear"):
        apply_edits(resnet, [{"op": "replace_linear_input", "module": "conv1", "value": 3}])


def test_unknown_op_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="valid: replace_linear_input, "):
        edit_from_dict({"op": "drop", "module": "conv1"})
    with pytest.raises(ValueError, match="'op' and 'module'"):
        edit_from_dict({"module": "conv1"})


def test_save_and_load_round_trip(tmp_path, resnet):
    edits = [SetStride("conv1", (1, 1)), {"op": "replace_with_identity", "module": "maxpool"}]
    path = save_edits(tmp_path / "edits.json", edits)
    loaded = load_edits(path)
    assert [e.to_dict() for e in loaded] == [
        {"op": "set_stride", "module": "conv1", "value": [1, 1]},
        {"op": "replace_with_identity", "module": "maxpool"},
    ]
    a = apply_edits(resnet, loaded, (3, 28, 28))
    assert a.conv1.stride == (1, 1)


def test_resize_input_checks_outputs_at_the_new_size(resnet):
    edited = apply_edits(
        resnet, [{"op": "resize_input", "module": "input", "value": [64, 64]}], (3, 28, 28)
    )
    assert edited is not resnet


def test_registry_of_edit_ops():
    assert {"set_stride", "replace_with_identity", "replace_linear_input", "resize_input"} <= set(
        list_edits()
    )

    class Freeze(Edit):
        op = "freeze"

        def apply(self, model):
            for p in model.get_submodule(self.module).parameters():
                p.requires_grad_(False)

    try:
        register_edit(Freeze)
        with pytest.raises(DuplicateRegistrationError):
            register_edit(Freeze)
        model = apply_edits(nn.Sequential(nn.Linear(2, 2)), [{"op": "freeze", "module": "0"}])
        assert not model[0].weight.requires_grad
    finally:
        _EDITS.unregister("freeze")
