"""Graph capture: fx and autograd fallback, errors, devices and dtypes, the model left as it was."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn

from delve_advisor import receptive_field
from delve_advisor.exceptions import GraphCaptureError, InputSizeError
from delve_advisor.graph import capture_graph


class _DataDependent(nn.Module):
    """fx cannot trace ``if x.mean() > …``; the autograd graph still has the true dataflow."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.a(x)
        if y.mean() > -1e9:
            y = self.b(y) + y
        return y


class _Untraceable(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x.argmax(1)
        return x.argmin(1)


def test_autograd_fallback_for_data_dependent_control_flow():
    rf = receptive_field(_DataDependent(), (3, 16, 16))
    assert rf.capture_method == "autograd"
    assert "control flow" in rf.capture_notes[0]
    assert rf.layer("b").r_max == (7, 7) and rf.layer("a").r_max == (3, 3)
    merge = [layer for layer in rf.layers if layer.effect == "merge"]
    assert len(merge) == 1 and merge[0].r_min == (3, 3) and merge[0].r_max == (7, 7)


def test_fx_and_autograd_agree_on_resnet18():
    net = torchvision.models.resnet18()
    fx_rf = receptive_field(net, (3, 64, 64))
    ag_rf = receptive_field(net, (3, 64, 64), capture="autograd")
    assert ag_rf.capture_method == "autograd"
    fx_conv = {layer.node_name: layer.r_max for layer in fx_rf.spatial_layers}
    ag_conv = {layer.node_name: layer.r_max for layer in ag_rf.spatial_layers}
    assert fx_conv == ag_conv


def test_untraceable_model_names_the_construct():
    with pytest.raises(GraphCaptureError, match="control flow"):
        receptive_field(_Untraceable(), (3, 8, 8))


def test_model_is_left_unchanged():
    net = torchvision.models.resnet18()
    net.train()
    net.layer1.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    modes = {name: m.training for name, m in net.named_modules()}
    for capture in ("torch.fx", "autograd"):
        receptive_field(net, (3, 64, 64), capture=capture)
    assert {name: m.training for name, m in net.named_modules()} == modes
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


def test_hooks_removed_after_a_failing_forward():
    net = nn.Sequential(nn.Conv2d(3, 4, 5), _Untraceable())
    with pytest.raises(GraphCaptureError):
        receptive_field(net, (3, 8, 8))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_other_dtypes(dtype):
    net = nn.Sequential(nn.Conv2d(3, 4, 3, dilation=4), nn.ReLU()).to(dtype)
    rf = receptive_field(net, (3, 16, 16))
    assert rf.layer("0").r_max == (9, 9)


def test_meta_device():
    with torch.device("meta"):
        net = torchvision.models.resnet18()
    rf = receptive_field(net, (3, 224, 224))
    assert rf.layer("layer4.1.conv2").r_max == (435, 435)
    assert rf.layer("layer4.1.conv2").output_shape == (1, 512, 7, 7)


def test_capture_graph_names_and_shapes():
    graph = capture_graph(torchvision.models.resnet18(), (3, 64, 64))
    names = [node.name for node in graph.nodes]
    assert names[0] == "x" and "layer1.0.conv1" in names and "layer1.0.add" in names
    assert "layer1.0.relu:1" in names  # the block's ReLU is called twice
    node = next(n for n in graph.nodes if n.name == "layer1.0.conv1")
    assert node.input_shapes == [(1, 64, 16, 16)] and node.output_shape == (1, 64, 16, 16)


def test_non_square_input_per_axis():
    rf = receptive_field(torchvision.models.resnet18(), (3, 96, 160))
    last = rf.layer("layer4.1.conv2")
    assert last.r_max == (435, 435) and last.input_map == (3, 5)
    assert all(math.isfinite(v) for v in last.r_min)


# -- which failures become InputSizeError -----------------------------------------------------


class _Broken(nn.Module):
    """A layer whose forward has a bug that has nothing to do with the input size."""

    def forward(self, x):
        raise KeyError("a bug in the user's forward")


class _DtypeBug(nn.Module):
    """Casts to float64 and feeds a float32 Linear: a dtype error, not a size error."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        y = self.conv(x).mean((2, 3)).double()
        return self.head(y)


@pytest.mark.parametrize("capture", [None, "autograd"])  # fx fails to trace it, then autograd
def test_a_bug_in_a_layer_is_reraised_naming_the_layer_not_as_input_size(capture):
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), _Broken()))
    with pytest.raises(KeyError) as info:
        receptive_field(net, (3, 16, 16), capture=capture)
    assert not isinstance(info.value, InputSizeError)
    assert any("raised by module '1.1' during graph capture" in n for n in info.value.__notes__)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


@pytest.mark.parametrize("capture", ["torch.fx", "autograd"])
def test_a_dtype_bug_is_not_called_an_input_size_problem(capture):
    with pytest.raises(RuntimeError) as info:
        receptive_field(_DtypeBug(), (3, 16, 16), capture=capture)
    assert not isinstance(info.value, InputSizeError)
    assert any("raised by module 'head'" in n for n in info.value.__notes__)


@pytest.mark.parametrize("capture", ["torch.fx", "autograd"])
def test_a_vanishing_feature_map_is_an_input_size_error_naming_the_layer(capture):
    net = nn.Sequential(nn.Conv2d(3, 4, 5), nn.MaxPool2d(2), nn.Conv2d(4, 4, 5))
    with pytest.raises(InputSizeError, match=r"layer '2'.*larger input_size"):
        receptive_field(net, (3, 9, 9), capture=capture)
