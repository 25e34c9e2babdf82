"""Edit operations: typed values, applied to copies, coupled, verified, replayable."""

import json
import math

import pytest
import torch
import torchvision
from torch import nn

from delve_advisor.cost import total_flops
from delve_advisor.edits import (
    ChangeStem,
    Edit,
    ReplaceLinearInput,
    ReplaceWithIdentity,
    ResizeInput,
    SetStride,
    TruncateStage,
    apply_edits,
    edit_from_dict,
    list_edits,
    load_edits,
    predict,
    register_edit,
    save_edits,
    unregister_edit,
)
from delve_advisor.exceptions import (
    DuplicateRegistrationError,
    EditError,
    InvalidArgumentError,
    UnknownNameError,
)


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}, repr(model)


def _same(model, snapshot):
    state, text = snapshot
    now = model.state_dict()
    return repr(model) == text and all(torch.equal(now[k], v) for k, v in state.items())


# ----------------------------------------------------------------- typed, validated values


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SetStride("conv1", "fast"), r"set_stride on 'conv1': value must be a non-empty"),
        (lambda: SetStride("conv1", [0, 1]), r"value must be a non-empty list of ints >= 1"),
        (lambda: SetStride("", [1, 1]), r"module must name a submodule"),
        (lambda: SetStride(3, [1, 1]), r"module must be a dotted module path"),
        (lambda: ReplaceWithIdentity("maxpool", 3), r"value must be absent"),
        (lambda: ReplaceLinearInput("fc", 0), r"value must be an int >= 1"),
        (lambda: ResizeInput("conv1", [32, 32]), r"module must be 'input'"),
        (lambda: ResizeInput(value=[32, -1]), r"value must be a non-empty list"),
        (lambda: ChangeStem("conv1", {"kernel_size": 3}), r"'kernel_size' and 'stride'"),
        (lambda: ChangeStem("conv1", {"kernel_size": 3, "stride": 1, "pad": 1}), "unknown keys"),
        (lambda: TruncateStage("layer3"), r"must be a block inside a stage"),
    ],
)
def test_constructors_refuse_invalid_fields(make, message):
    with pytest.raises(InvalidArgumentError, match=message):
        make()


def test_edits_are_frozen_values_with_plain_data_forms():
    edit = SetStride("conv1", [1, 1])
    assert edit.value == (1, 1) and edit == SetStride("conv1", (1, 1))
    with pytest.raises(AttributeError):
        edit.module = "x"
    for e in (
        edit,
        ReplaceWithIdentity("maxpool"),
        ReplaceLinearInput("fc", 256),
        ResizeInput(value=[64, 64]),
        ChangeStem("conv1", {"kernel_size": [3, 3], "stride": 1}),
        TruncateStage("layer3.0"),
    ):
        assert edit_from_dict(json.loads(json.dumps(e.to_dict()))) == e


def test_edit_lists_round_trip_through_json_and_yaml(tmp_path):
    edits = [
        SetStride("conv1", (1, 1)),
        {"op": "replace_with_identity", "module": "maxpool"},
        ChangeStem("conv1", {"kernel_size": 3, "stride": 1, "padding": 1}),
        ResizeInput(value=[56, 56]),
    ]
    parsed = [edit_from_dict(e) for e in edits]
    for suffix in (".json", ".yaml", ".yml"):
        assert load_edits(save_edits(tmp_path / f"edits{suffix}", edits)) == parsed
    assert "set_stride" in (tmp_path / "edits.yaml").read_text()
    with pytest.raises(InvalidArgumentError, match=r"unknown suffix '\.txt'"):
        save_edits(tmp_path / "edits.txt", edits)


def test_an_edit_file_that_is_not_a_list_is_refused(tmp_path):
    path = tmp_path / "edits.json"
    path.write_text(json.dumps({"op": "set_stride", "module": "conv1"}))
    with pytest.raises(EditError, match=r"edits.json must hold a list of edits.*got dict"):
        load_edits(path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("- op: set_stride\n  module: [unclosed\n")
    with pytest.raises(EditError, match="cannot read edits from"):
        load_edits(bad)


def test_unknown_op_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="unknown edit op 'drop'; valid: change_stem, "):
        edit_from_dict({"op": "drop", "module": "conv1"})
    with pytest.raises(InvalidArgumentError, match="'op' and 'module'"):
        edit_from_dict({"module": "conv1"})
    with pytest.raises(InvalidArgumentError, match=r"unknown keys \['stride'\]"):
        edit_from_dict({"op": "set_stride", "module": "conv1", "stride": [1, 1]})


# ----------------------------------------------------------------------- applied to copies


def test_stem_edits_work_on_a_copy_and_keep_every_other_weight(resnet):
    snapshot = _state(resnet)
    result = apply_edits(
        resnet, [SetStride("conv1", [1, 1]), ReplaceWithIdentity("maxpool")], (3, 28, 28)
    )
    edited = result.model
    assert edited.conv1.stride == (1, 1) and isinstance(edited.maxpool, nn.Identity)
    assert _same(resnet, snapshot) and resnet.conv1.stride == (2, 2)
    assert edited(torch.zeros(1, 3, 28, 28)).shape == (1, 10)
    original = dict(resnet.named_parameters())
    assert set(result.kept) == set(original) and result.reinitialised == ()
    for name, param in edited.named_parameters():
        assert torch.equal(param, original[name]), name
    assert result.input_size == (3, 28, 28) and result.resize is None
    assert result.transform() is None


def test_before_and_after_are_what_predict_measures(resnet):
    result = apply_edits(resnet, [SetStride("conv1", [1, 1])], (3, 32, 32))
    assert result.before == predict(resnet, (3, 32, 32))
    assert result.after == predict(result.model, (3, 32, 32))
    assert result.after.flops == total_flops(result.model, (3, 32, 32))
    assert result.after.flops > 3 * result.before.flops
    assert math.isinf(result.after.receptive_field["layer4.1.conv2"]) is False


def test_a_residual_stride_brings_its_shortcut_as_a_coupled_edit(resnet):
    result = apply_edits(resnet, [SetStride("layer2.0.conv1", [1, 1])], (3, 32, 32))
    assert result.coupled == (SetStride("layer2.0.downsample.0", [1, 1]),)
    assert result.edits == (SetStride("layer2.0.conv1", [1, 1]), *result.coupled)
    assert result.model.layer2[0].downsample[0].stride == (1, 1)
    both = [SetStride(m, [1, 1]) for m in ("layer2.0.conv1", "layer2.0.downsample.0")]
    assert apply_edits(resnet, both, (3, 32, 32)).coupled == ()  # given, so not added


def test_removing_a_stage_reattaches_the_head_as_a_coupled_edit(resnet):
    result = apply_edits(resnet, [ReplaceWithIdentity("layer4")], (3, 32, 32))
    assert result.coupled == (ReplaceLinearInput("fc", 256),)
    assert result.model.fc.in_features == 256 and result.model.fc.out_features == 10
    assert result.reinitialised == ("fc.weight", "fc.bias")
    assert "layer4.0.conv1.weight" in result.removed
    assert result.after.params < result.before.params


def test_change_stem_reinitialises_only_the_stem(resnet):
    result = apply_edits(
        resnet, [ChangeStem("conv1", {"kernel_size": 3, "stride": 1})], (3, 32, 32)
    )
    conv = result.model.conv1
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (1, 1), (1, 1))
    assert result.reinitialised == ("conv1.weight",)
    assert result.model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    bound = 1 / math.sqrt(3 * 3 * 3)  # kaiming_uniform(a=sqrt(5)) as nn.Conv2d initialises
    assert conv.weight.abs().max() <= bound


def test_convnext_patchify_stem_becomes_2x2_stride_2():
    net = torchvision.models.convnext_tiny(num_classes=10)
    edit = ChangeStem("features.0.0", {"kernel_size": 2, "stride": 2})
    result = apply_edits(net, [edit], (3, 32, 32))
    stem = result.model.features[0][0]
    assert (stem.kernel_size, stem.stride, stem.padding) == ((2, 2), (2, 2), (0, 0))
    assert result.reinitialised == ("features.0.0.weight", "features.0.0.bias")


def test_truncate_stage_drops_the_later_blocks_and_reattaches_the_head():
    net = torchvision.models.mobilenet_v2(num_classes=10)
    result = apply_edits(net, [TruncateStage("features.13")], (3, 32, 32))
    assert len(result.model.features) == 14 and len(net.features) == 19
    assert result.coupled == (ReplaceLinearInput("classifier.1", 96),)
    assert result.model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_resize_input_changes_the_size_the_copy_runs_at(resnet):
    result = apply_edits(resnet, [ResizeInput(value=[64, 64])], (3, 28, 28))
    assert result.input_size == (3, 64, 64) and result.resize == (64, 64)
    assert result.model is not resnet
    assert result.transform()(torch.zeros(3, 28, 28)).shape == (3, 64, 64)
    assert result.after == predict(resnet, (3, 64, 64))


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        (
            [SetStride("layer5.0.conv1", [1, 1])],
            r"no module or graph node 'layer5.0.conv1'.*the nearest are \['layer4.0.conv1'",
        ),
        ([SetStride("relu", [1, 1])], r"cannot set_stride on 'relu': a ReLU has no stride"),
        ([SetStride("conv1", [1, 1, 1])], r"set_stride on 'conv1': 3 values for a Conv2d with 2"),
        (
            [ReplaceLinearInput("conv1", 3)],
            r"replace_linear_input on 'conv1': expected an nn\.Linear",
        ),
        (
            [ReplaceWithIdentity("layer2.0")],
            r"no longer runs after replace_with_identity on 'layer2.0': RuntimeError in module "
            r"'layer2.1.conv1'",
        ),
        (
            [ChangeStem("fc", {"kernel_size": 3, "stride": 1})],
            r"change_stem on 'fc': expected a conv",
        ),
        ([TruncateStage("layer4.1")], r"truncate_stage on 'layer4.1': it is the last block"),
        (
            [SetStride("conv1", [1, 1]), {"op": "set_stride", "module": "nope", "value": [1, 1]}],
            r"'nope'",
        ),
    ],
)
def test_bad_edits_name_the_module_and_leave_the_model_unchanged(resnet, edits, message):
    snapshot = _state(resnet)
    with pytest.raises(EditError, match=message):
        apply_edits(resnet, edits, (3, 32, 32))
    assert _same(resnet, snapshot)


def test_input_size_is_checked(resnet):
    with pytest.raises(InvalidArgumentError, match=r"input_size must be \(C, H, W\)"):
        apply_edits(resnet, [], "32")
    with pytest.raises(InvalidArgumentError, match="edits must be a list"):
        apply_edits(resnet, {"op": "set_stride"}, (3, 32, 32))


# ------------------------------------------------------------------------------ registry


def test_registry_of_edit_ops():
    assert {"set_stride", "replace_with_identity", "replace_linear_input", "resize_input"} <= set(
        list_edits()
    )
    assert {"change_stem", "truncate_stage"} <= set(list_edits())

    @register_edit
    class Freeze(Edit):
        op = "freeze"

        def apply(self, model):
            model.get_submodule(self.module).requires_grad_(False)

    try:
        with pytest.raises(DuplicateRegistrationError, match="override=True"):
            register_edit(Freeze)
        assert register_edit(override=True)(Freeze) is Freeze
        net = nn.Sequential(nn.Conv2d(1, 2, 3))
        result = apply_edits(net, [{"op": "freeze", "module": "0"}], (1, 5, 5))
        assert not result.model[0].weight.requires_grad and net[0].weight.requires_grad
    finally:
        unregister_edit("freeze")
    assert "freeze" not in list_edits()
    with pytest.raises(UnknownNameError, match="unknown edit op 'freeze'; valid: "):
        unregister_edit("freeze")
    with pytest.raises(InvalidArgumentError, match="expected an Edit subclass"):
        register_edit(dict)


def test_a_user_op_that_raises_becomes_an_edit_error_naming_it():
    @register_edit
    class Explode(Edit):
        op = "explode"

        def apply(self, model):
            raise KeyError("boom")

    try:
        net = nn.Sequential(nn.Conv2d(1, 2, 3))
        with pytest.raises(EditError, match=r"explode on '0' failed: KeyError"):
            apply_edits(net, [Explode("0")], (1, 5, 5))
    finally:
        unregister_edit("explode")


def test_every_public_entry_point_has_a_runnable_example():
    import delve_advisor.edits as edits

    missing = [n for n in edits.__all__ if ">>>" not in (getattr(edits, n).__doc__ or "")]
    assert missing == []
