"""Tests of delve_advisor.cost against FLOPs and parameter counts worked out by hand."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from delve_advisor.cost import count_parameters, layer_costs, total_flops
from delve_advisor.exceptions import InputSizeError, InvalidArgumentError


def conv_flops(c_in: int, c_out: int, k: int, h_out: int, w_out: int, groups: int = 1) -> int:
    return 2 * c_in * c_out * k * k * h_out * w_out // groups


class TwoBranch(nn.Module):
    """A container whose forward reuses one ReLU and does a functional matmul itself."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.block = nn.Sequential(nn.Conv2d(4, 4, 1), nn.Sequential(nn.Conv2d(4, 2, 3, stride=2)))
        self.head = nn.Linear(2 * 3 * 3, 5)
        self.extra = nn.Parameter(torch.ones(5, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv(x))
        x = self.act(self.block(x))
        return self.head(x.flatten(1)) @ self.extra


def test_conv_and_linear_flops_match_hand_counts():
    model = TwoBranch()
    df = layer_costs(model, (3, 8, 8)).set_index("module_path")
    assert df.loc["conv", "flops"] == conv_flops(3, 4, 3, 8, 8)
    assert df.loc["block.0", "flops"] == conv_flops(4, 4, 1, 8, 8)
    # nested path, stride 2 on 8x8 with k=3, no padding: floor((8-3)/2)+1 = 3
    assert df.loc["block.1.0", "flops"] == conv_flops(4, 2, 3, 3, 3)
    assert df.loc["block.1.0", "output_shape"] == (2, 3, 3)
    assert df.loc["head", "flops"] == 2 * 18 * 5
    assert df.loc["act", "flops"] == 0
    assert df.loc["act", "calls"] == 2
    assert df.loc["act", "output_shape"] == (4, 8, 8)  # shape of its first call
    # the functional (1x5)@(5x5) matmul in the container is not in any leaf
    assert df.attrs["unattributed_flops"] == 2 * 5 * 5
    assert df.attrs["total_flops"] == df["flops"].sum() + 2 * 5 * 5
    assert df.attrs["total_flops"] == total_flops(model, (3, 8, 8))


def test_params_are_each_leafs_own_and_count_parameters_totals():
    model = TwoBranch()
    df = layer_costs(model, (3, 8, 8)).set_index("module_path")
    assert df.loc["conv", "params"] == 3 * 4 * 9 + 4
    assert df.loc["head", "params"] == 18 * 5 + 5
    assert df.loc["act", "params"] == 0
    # the container's own parameter (extra, 25) is in the total, not in any leaf row
    assert count_parameters(model) == df["params"].sum() + 25
    model.conv.weight.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == count_parameters(model) - 3 * 4 * 9


def test_shared_parameter_counted_once():
    linear = nn.Linear(4, 4)
    model = nn.Sequential(linear, nn.ReLU(), linear)
    assert count_parameters(model) == 20
    df = layer_costs(model, (4,))
    assert list(df["module_path"]) == ["0", "1"]  # named_modules lists the shared one once
    assert df.set_index("module_path").loc["0", "calls"] == 2
    assert df.set_index("module_path").loc["0", "flops"] == 2 * (2 * 4 * 4)


def test_grouped_conv_flops():
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=4))
    assert total_flops(model, (8, 5, 5)) == conv_flops(8, 8, 3, 5, 5, groups=4)


def test_matches_flop_counter_module_rows_on_resnet18():
    """Cross-check with FlopCounterMode's own per-module rows ("ResNet.layer1.0.conv1")."""
    model = torchvision.models.resnet18(num_classes=10).eval()
    df = layer_costs(model, (3, 32, 32))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 32, 32))
    rows = counter.get_flop_counts()
    for path, flops in zip(df["module_path"], df["flops"], strict=True):
        expected = sum(rows.get(f"ResNet.{path}", {}).values())
        assert flops == expected, path
    assert df.attrs["total_flops"] == counter.get_total_flops()
    by_path = df.set_index("module_path")
    assert by_path.loc["conv1", "flops"] == conv_flops(3, 64, 7, 16, 16)
    assert by_path.loc["layer4.1.conv2", "flops"] == conv_flops(512, 512, 3, 1, 1)
    assert by_path.loc["fc", "flops"] == 2 * 512 * 10
    assert by_path.loc["layer2.0.downsample.0", "output_shape"] == (128, 4, 4)
    assert df["params"].sum() == count_parameters(model)


def test_model_modes_and_hooks_restored():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout())
    model.train()
    model[2].eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    layer_costs(model, (1, 6, 6))
    assert model.training and model[1].training and not model[2].training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key  # BatchNorm statistics unchanged


def test_hooks_removed_when_forward_fails():
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(10, 2))
    with pytest.raises(InputSizeError, match=r"cannot run on an input of shape \(1, 3, 8, 8\)"):
        layer_costs(model, (3, 8, 8))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_uncalled_leaf_reported_with_zero_calls():
    class Unused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(3, 3)
            self.spare = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    df = layer_costs(Unused(), (3,)).set_index("module_path")
    assert df.loc["spare", "calls"] == 0
    assert df.loc["spare", "output_shape"] is None
    assert df.loc["spare", "flops"] == 0


@pytest.mark.parametrize("bad", [3, (3, 0, 4), (), "3x8x8", (3.0, 8, 8)])
def test_malformed_input_size(bad):
    with pytest.raises(InputSizeError, match="input_size must be"):
        total_flops(nn.Linear(3, 3), bad)


def test_not_a_module():
    with pytest.raises(InvalidArgumentError, match=r"expects an nn\.Module, got int"):
        count_parameters(3)
    with pytest.raises(InvalidArgumentError, match=r"expected an nn\.Module, got str"):
        layer_costs("resnet18", (3, 8, 8))


def test_meta_device_runs_on_a_copy_with_the_same_counts():
    model = TwoBranch()
    on_cpu = layer_costs(model, (3, 8, 8))
    on_meta = layer_costs(model, (3, 8, 8), device="meta")
    assert on_meta.equals(on_cpu)
    assert on_meta.attrs == on_cpu.attrs
    assert model.conv.weight.device.type == "cpu"
