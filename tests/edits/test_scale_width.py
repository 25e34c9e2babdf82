"""scale_width: every hidden layer's width scaled, input channels and outputs kept."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from delve_advisor.cost import count_parameters, total_flops
from delve_advisor.edits import (
    ScaleWidth,
    apply_edits,
    edit_from_dict,
    list_edits,
    load_edits,
    output_signature,
    save_edits,
)
from delve_advisor.exceptions import EditError, InvalidArgumentError
from delve_advisor.testing import matched_cnn, tail_cnn


def _small() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def _meta(name: str) -> nn.Module:
    with torch.device("meta"):
        return torchvision.models.get_model(name, weights=None, num_classes=10)


def test_listed_and_validated():
    assert "scale_width" in list_edits()
    for bad in (0, -1.0, "2", True, float("nan"), float("inf"), None):
        with pytest.raises(InvalidArgumentError, match="value"):
            ScaleWidth(value=bad)
    with pytest.raises(InvalidArgumentError, match="module"):
        ScaleWidth("input", 2.0)


def test_params_of_a_small_cnn_by_hand():
    net = _small()
    result = apply_edits(net, [ScaleWidth(value=0.5)], (3, 12, 12))
    # conv 3->4 (3*4*9 + 4), bn 4 (2*4), conv 4->8 (4*8*9 + 8), linear 8->10 (8*10 + 10)
    assert count_parameters(result.model) == 112 + 8 + 296 + 90 == result.after.params
    assert result.model[0].in_channels == 3 and result.model[-1].out_features == 10
    assert result.model[1].num_features == 4 and result.model[1].running_mean.shape == (4,)
    assert set(result.reinitialised) == {n for n, _ in result.model.named_parameters()}
    assert net[0].out_channels == 8  # the caller's model is untouched
    # rounding: max(1, round(c * f))
    tiny = apply_edits(net, [ScaleWidth(value=0.01)], (3, 12, 12)).model
    assert tiny[0].out_channels == 1 and tiny[3].out_channels == 1


@pytest.mark.parametrize(
    ("name", "factor"),
    [
        ("resnet18", 0.5),
        pytest.param("resnet50", 1.5, marks=pytest.mark.slow),
        ("vgg11", 0.5),
        ("vgg16_bn", 1.3),
        pytest.param("mobilenet_v2", 0.5, marks=pytest.mark.slow),
    ],
)
def test_torchvision_models_keep_input_and_output(name, factor):
    model = _meta(name)
    size = (3, 32, 32)
    result = apply_edits(model, [ScaleWidth(value=factor)], size)
    assert output_signature(result.model, size) == [(1, 10)]
    first = next(m for m in result.model.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 3 and first.out_channels == round(
        next(m for m in model.modules() if isinstance(m, nn.Conv2d)).out_channels * factor
    )
    assert result.after.params == count_parameters(result.model)
    assert result.after.flops == total_flops(result.model, size)
    assert result.after.params != result.before.params


def test_residual_branches_share_the_width():
    model = _meta("resnet18")
    result = apply_edits(model, [ScaleWidth(value=0.5)], (3, 32, 32))
    net = result.model
    assert net.layer2[0].downsample[0].out_channels == net.layer2[0].conv2.out_channels == 64
    assert net.fc.in_features == 256 and net.fc.out_features == 10
    assert result.coupled == ()


def test_flatten_head_is_re_attached():
    result = apply_edits(_meta("vgg11"), [ScaleWidth(value=1.3)], (3, 32, 32))
    assert [e.to_dict() for e in result.coupled] == [
        {"op": "replace_linear_input", "module": "classifier.0", "value": 666 * 49}
    ]
    assert result.model.classifier[0].out_features == round(4096 * 1.3)
    assert result.model.classifier[6].out_features == 10


def test_depthwise_groups_follow_the_channels():
    net = apply_edits(_meta("mobilenet_v2"), [ScaleWidth(value=0.5)], (3, 32, 32)).model
    depthwise = net.features[1].conv[0][0]
    assert depthwise.groups == depthwise.in_channels == depthwise.out_channels == 16


def test_scope_keeps_the_boundaries():
    model = _meta("resnet18")
    net = apply_edits(model, [ScaleWidth("layer2", 0.5)], (3, 32, 32)).model
    assert net.layer2[0].conv1.out_channels == 64  # inside a block: scaled
    assert net.layer2[0].conv2.out_channels == 128  # the residual stream leaves the scope
    assert net.layer3[0].conv1.out_channels == 256 and net.conv1.out_channels == 64
    with pytest.raises(EditError, match="no module 'layer9'"):
        apply_edits(model, [ScaleWidth("layer9", 0.5)], (3, 32, 32))


@pytest.mark.parametrize("build", [tail_cnn, matched_cnn])
def test_testing_models(build):
    model = build()
    channels = next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels
    size = (channels, 32, 32)
    result = apply_edits(model, [ScaleWidth(value=2.0)], size)
    assert output_signature(result.model, size) == output_signature(model, size)
    assert result.after.params == count_parameters(result.model) > result.before.params
    assert result.after.flops == total_flops(result.model, size)


def test_concatenation_fails_naming_the_node():
    with pytest.raises(EditError, match=r"scale_width on the whole model: .*concatenates"):
        apply_edits(_meta("densenet121"), [ScaleWidth(value=0.5)], (3, 32, 32))


def test_grouped_conv_that_cannot_divide_fails():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3, groups=4), nn.Conv2d(8, 4, 1))
    with pytest.raises(EditError, match=r"scale_width on '1': .*groups=4"):
        apply_edits(net, [ScaleWidth(value=0.75)], (3, 9, 9))
    ok = apply_edits(net, [ScaleWidth(value=0.5)], (3, 9, 9)).model
    assert (ok[1].in_channels, ok[1].out_channels, ok[1].groups) == (4, 4, 4)


def test_round_trip(tmp_path):
    edit = ScaleWidth(value=0.75)
    assert edit.to_dict() == {"op": "scale_width", "module": "", "value": 0.75}
    assert edit_from_dict({"op": "scale_width", "value": 0.75}) == edit
    for suffix in (".json", ".yaml"):
        path = save_edits(tmp_path / f"e{suffix}", [edit, ScaleWidth("layer2", 2)])
        assert load_edits(path) == [edit, ScaleWidth("layer2", 2)]
