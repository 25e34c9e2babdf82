"""Receptive fields against hand-computed values, torchvision goldens and input gradients."""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from delve_advisor import ReceptiveFieldAnalysis, receptive_field
from delve_advisor.exceptions import InputSizeError, InvalidArgumentError, UnknownNameError


def _conv(k: int, s: int = 1, d: int = 1, pad: bool = True, c: int = 2) -> nn.Conv2d:
    return nn.Conv2d(c, c, k, stride=s, dilation=d, padding=d * (k - 1) // 2 if pad else 0)


def test_dilated_conv_has_r_9():
    rf = receptive_field(nn.Sequential(_conv(3, d=4)), (2, 32, 32))
    assert rf.layer("0").r_max == (9, 9)
    assert rf.layer("0").dilation == (4, 4)


def test_stack_of_3x3_convs_with_strides():
    strides = [1, 2, 1, 2, 1]
    rf = receptive_field(nn.Sequential(*[_conv(3, s) for s in strides]), (2, 64, 64))
    assert [rf.layer(str(i)).r_max[0] for i in range(5)] == [3, 5, 9, 13, 21]
    assert [rf.layer(str(i)).jump[0] for i in range(5)] == [1, 2, 2, 4, 4]


class _TwoBranch(nn.Module):
    """stem 3x3 → (3x3 s2 ∥ 5x5 s2) → add → 3x3: r_min = 3+2+2·2 = 9, r_max = 3+4+2·2 = 11."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.a, self.b, self.head = _conv(3), _conv(3, 2), _conv(5, 2), _conv(3)

    def forward(self, x):
        x = self.stem(x)
        return self.head(self.a(x) + self.b(x))


def test_two_branch_merge_min_and_max():
    rf = receptive_field(_TwoBranch(), (2, 32, 32))
    head = rf.layer("head")
    assert (head.r_min, head.r_max) == ((9, 9), (11, 11))
    merge = rf.layer("add")
    assert merge.effect == "merge" and not merge.misaligned
    assert set(rf.graph.predecessors("add")) == {"a", "b"}


def test_transposed_conv_and_upsampling():
    net = nn.Sequential(
        _conv(3, 2),  # r 3, j 2
        nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1),  # r 3 + (⌈4/2⌉-1)·2 = 5, j 1
        _conv(3),  # 7
        _conv(3, 2),  # 9, j 2
        nn.Upsample(scale_factor=2, mode="nearest"),  # 9, j 1
        _conv(3),  # 11
        _conv(3, 2),  # 13, j 2
        nn.Upsample(scale_factor=2, mode="bilinear"),  # 13 + 2 = 15, j 1
        _conv(3),  # 17
    )
    rf = receptive_field(net, (2, 32, 32))
    assert [rf.layer(str(i)).r_max[0] for i in range(9)] == [3, 5, 7, 9, 9, 11, 13, 15, 17]
    assert rf.layer("1").jump == (1, 1) and rf.layer("1").effect == "transposed"
    assert rf.layer("4").effect == "upsample"


class _Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(2, 2, 3, 3))

    def forward(self, x):
        x = F.conv2d(x, self.w, padding=2, dilation=2)  # 5
        x = F.max_pool2d(x, 2)  # 6, j 2
        x = F.avg_pool2d(x, 3, stride=1, padding=1)  # 10
        return F.interpolate(x, scale_factor=2.0, mode="bilinear")  # 12, j 1


def test_functional_ops_are_read_from_their_arguments():
    rf = receptive_field(_Functional(), (2, 16, 16))
    assert [(layer.op, layer.r_max[0]) for layer in rf.layers[1:]] == [
        ("conv2d", 5),
        ("max_pool2d", 6),
        ("avg_pool2d", 10),
        ("interpolate", 12),
    ]
    assert rf.layers[-1].jump == (1, 1)


class _SE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc, self.after = _conv(3), nn.Conv2d(2, 2, 1), _conv(3)

    def forward(self, x):
        x = self.conv(x)
        gate = torch.sigmoid(self.fc(F.adaptive_avg_pool2d(x, 1)))
        return self.after(x * gate)


def test_squeeze_excitation_gate_does_not_poison_spatial_path():
    rf = receptive_field(_SE(), (2, 16, 16))
    assert rf.layer("fc").is_global
    assert rf.layer("mul").r_max == (3, 3) and not rf.layer("mul").is_global
    assert rf.layer("after").r_max == (5, 5)


class _Misaligned(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = _conv(3), nn.Conv2d(2, 2, 3, stride=3)

    def forward(self, x):  # 8x8: a keeps 8x8 (j 1); b → 2x2 (j 3) → 8x8 (j 0.75)
        return self.a(x) + F.interpolate(self.b(x), size=(8, 8), mode="nearest")


def test_merge_of_unequal_jumps_is_flagged():
    rf = receptive_field(_Misaligned(), (2, 8, 8))
    assert rf.layer("add").misaligned


def _meta(builder, **kwargs):
    with torch.device("meta"):
        return builder(**kwargs)


def test_torchvision_goldens():
    vgg = receptive_field(_meta(torchvision.models.vgg16), (3, 224, 224))
    assert vgg.layer("features.30").r_max == (212, 212)  # last max-pool
    assert vgg.layer("features.30").op == "MaxPool2d"
    r18 = receptive_field(torchvision.models.resnet18().double(), (3, 224, 224))
    assert r18.layer("layer4.1.conv2").r_max == (435, 435)
    assert r18.layer("layer4.1.conv2").r_min == (139, 139)
    assert [hi for _, hi in r18.input_range()] == [435, 435]
    assert r18.layers[-1].is_global and r18.layer("fc").is_global
    r50 = receptive_field(_meta(torchvision.models.resnet50), (3, 224, 224))
    assert max(layer.r_max[0] for layer in r50.spatial_layers) == 427


def test_inception_v3_golden():
    net = _meta(torchvision.models.inception_v3, init_weights=False, aux_logits=False)
    rf = receptive_field(net, (3, 75, 75))
    assert max(layer.r_max[0] for layer in rf.spatial_layers if not layer.is_global) == 1311


def test_resnet18_without_maxpool():
    net = torchvision.models.resnet18()
    net.maxpool = nn.Identity()
    rf = receptive_field(net, (3, 64, 64))
    assert rf.layer("maxpool").effect == "pointwise"
    assert rf.layer("layer4.1.conv2").r_max == (219, 219)  # hand-computed: 7 + 16·2+… = 219
    assert rf.warnings == []


# ----------------------------------------------------------------- unproductive / border / range


def _three_convs(kernel=(3, 3)):
    pad = tuple((k - 1) // 2 for k in kernel)
    return nn.Sequential(*[nn.Conv2d(2, 2, kernel, padding=pad) for _ in range(3)])


@pytest.mark.parametrize(
    ("i", "expected"),
    [(3, ["0", "1", "2"]), (4, ["2"]), (5, ["2"]), (6, []), (7, [])],
)
def test_unproductive_boundaries(i, expected):
    # r_min 3, 5, 7; input r_min 1, 3, 5. Layer "2": 5 ≥ i and 7 > i ⇔ i ≤ 5.
    # Feature maps are ixi: m ≤ k = 3 ⇔ i ≤ 3 makes every layer unproductive.
    rf = receptive_field(_three_convs(), (2, 16, 16))
    assert rf.unproductive(i) == expected
    assert rf.unproductive((i, i)) == expected


def test_border_layers():
    rf = receptive_field(_three_convs(), (2, 16, 16))
    assert rf.border_layers(5) == ["2"]
    assert rf.border_layers(3) == ["0"]
    assert rf.border_layers(6) == []


def test_feature_map_criterion_at_kernel_size():
    net = nn.Sequential(nn.Conv2d(2, 2, 3))  # no padding: input map = i
    rf = receptive_field(net, (2, 16, 16))
    assert rf.unproductive(3) == ["0"] and rf.unproductive(4) == []
    with pytest.raises(InputSizeError, match="'0'"):
        rf.unproductive(2)


def test_input_range_square_and_non_square():
    square = receptive_field(_three_convs(), (2, 16, 16)).input_range()
    assert square == ((6, 7), (6, 7))
    assert receptive_field(_three_convs(), (2, 12, 40)).input_range() == square
    # kernel (3, 5): along w r_min 5, 9, 13, input r_min of layer "2" is 9 ⇒ low_w = 10
    rf = receptive_field(_three_convs((3, 5)), (2, 16, 24))
    assert rf.input_range() == ((6, 7), (10, 13))
    assert rf.unproductive((6, 9)) == ["2"]
    assert rf.unproductive((6, 10)) == []
    assert rf.unproductive((5, 10)) == ["2"]


# ------------------------------------------------------------------------- API and errors


def test_api_surface(tmp_path):
    rf = receptive_field(_TwoBranch(), (2, 32, 32))
    assert isinstance(rf, ReceptiveFieldAnalysis)
    assert rf.capture_method == "torch.fx" and rf.input_size == (2, 32, 32)
    frame = rf.to_dataframe()
    assert list(frame["name"]) == [layer.node_name for layer in rf.layers]
    assert {"r_max_h", "r_max_w", "kernel_h", "jump_w", "is_global"} <= set(frame.columns)
    assert rf.plot(8, path=str(tmp_path / "rf.png")) is not None
    assert (tmp_path / "rf.png").stat().st_size > 1000
    rf.draw(str(tmp_path / "graph.png"))
    assert (tmp_path / "graph.png").exists()
    with pytest.raises(UnknownNameError, match="'head'"):
        rf.layer("haed")
    with pytest.raises(InvalidArgumentError, match="resolution"):
        rf.unproductive(0)


def test_input_too_small_names_the_layer():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3), nn.MaxPool2d(2))
    with pytest.raises(InputSizeError, match="layer '2'"):
        receptive_field(net, (3, 4, 4))
    with pytest.raises(InvalidArgumentError, match="input_size"):
        receptive_field(net, (3, 0, 4))


# ------------------------------------------------------------------ independent gradient check


class _RandomDag(nn.Module):
    """A random DAG CNN of centred ops (odd kernels, 'same' padding), merges of equal shapes."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        rng = random.Random(seed)
        self.plan: list[tuple] = []
        self.layers = nn.ModuleList()
        channels, scale = [2], [1]  # per node: channels, downsampling so far
        for _ in range(rng.randint(4, 9)):
            kind = rng.choice(["conv", "conv", "pool", "add", "cat"])
            src = rng.randrange(len(channels))
            same = [j for j in range(len(channels)) if scale[j] == scale[src] and j != src]
            if kind in ("add", "cat") and same:
                other = rng.choice(same)
                if kind == "add" and channels[other] != channels[src]:
                    kind = "cat"
                self.plan.append((kind, src, other, None))
                channels.append(channels[src] + (channels[other] if kind == "cat" else 0))
                scale.append(scale[src])
                continue
            k, s, d = rng.choice([1, 3, 5]), rng.choice([1, 1, 2]), rng.choice([1, 1, 2])
            if kind == "pool":
                module = nn.AvgPool2d(3, stride=s, padding=1)
                out = channels[src]
            else:
                out = rng.choice([1, 2, 3])
                module = nn.Conv2d(channels[src], out, k, s, padding=d * (k - 1) // 2, dilation=d)
                nn.init.constant_(module.weight, 1.0 / module.weight[0].numel())
                nn.init.zeros_(module.bias)
            self.plan.append(("op", src, len(self.layers), None))
            self.layers.append(module)
            channels.append(out)
            scale.append(scale[src] * s)

    def forward(self, x):
        values = [x]
        for kind, a, b, _ in self.plan:
            if kind == "op":
                values.append(self.layers[b](values[a]))
            elif kind == "add":
                values.append(values[a] + values[b])
            else:
                values.append(torch.cat([values[a], values[b]], 1))
        return values[-1]


@pytest.mark.parametrize("seed", range(12))
def test_r_max_equals_extent_of_input_gradient(seed):
    net = _RandomDag(seed).double()
    probe = receptive_field(net, (2, 64, 64), capture="autograd")
    r_max = probe.layers[-1].r_max
    total_stride = int(max(probe.layers[-1].jump))
    size = (int(max(r_max)) * 2 + 16) // 8 * 8 + 8 * total_stride
    x = torch.zeros(1, 2, size, size, dtype=torch.float64, requires_grad=True)
    out = net(x)
    h, w = out.shape[-2] // 2, out.shape[-1] // 2
    out[0, :, h, w].sum().backward()  # every channel: cat keeps branches in separate channels
    nonzero = x.grad[0].abs().sum(0) > 0
    rows = torch.nonzero(nonzero.any(1)).flatten()
    cols = torch.nonzero(nonzero.any(0)).flatten()
    extent = (int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1))
    rf = receptive_field(net, (2, size, size))
    assert rf.layers[-1].r_max == extent == probe.layers[-1].r_max
    assert all(math.isfinite(v) for v in extent)
