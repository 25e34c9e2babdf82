"""Shape-only meta forward passes: every short cut gives exactly what torch's own meta kernel
gives (shape, dtype, strides, the same object in place), raises where the kernel raises, and
leaves everything that is not a plain meta tensor alone."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from delve_advisor import _meta
from delve_advisor._meta import meta_copy, on_meta, shape_only
from delve_advisor.edits import output_signature
from delve_advisor.graph import capture_graph

C = 6


def _params(device: str = "meta") -> dict[str, torch.Tensor]:
    return {
        "mean": torch.zeros(C, device=device),
        "var": torch.ones(C, device=device),
        "weight": torch.ones(C, device=device),
        "bias": torch.zeros(C, device=device),
    }


def _calls() -> dict[str, object]:
    def bn(x, training=False):
        p = _params(x.device.type)
        return F.batch_norm(x, p["mean"], p["var"], p["weight"], p["bias"], training)

    return {
        "batch_norm": bn,
        "batch_norm_training": lambda x: bn(x, training=True),
        "batch_norm_module": lambda x: nn.BatchNorm2d(C, device=x.device).eval()(x),
        "layer_norm": lambda x: F.layer_norm(x, x.shape[-2:]),
        "layer_norm_affine": lambda x: nn.LayerNorm(x.shape[-1], device=x.device)(x),
        "group_norm": lambda x: F.group_norm(x, 3, torch.ones(C, device=x.device)),
        "relu": F.relu,
        "relu_inplace": lambda x: F.relu(x, inplace=True),
        "relu6": F.relu6,
        "relu6_inplace": lambda x: nn.ReLU6(inplace=True)(x),
        "hardtanh": lambda x: F.hardtanh(x, -2.0, 2.0),
        "hardtanh_inplace": lambda x: F.hardtanh(x, -2.0, 2.0, True),
        "hardswish": F.hardswish,
        "hardswish_inplace": lambda x: nn.Hardswish(inplace=True)(x),
        "hardsigmoid": F.hardsigmoid,
        "gelu": F.gelu,
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    }


def _inputs() -> dict[str, torch.Tensor]:
    x = torch.empty(2, C, 5, 7, device="meta")
    return {
        "contiguous": x,
        "channels_last": x.contiguous(memory_format=torch.channels_last),
        "transposed": x.transpose(2, 3),
        "half": x.half(),
    }


@pytest.mark.parametrize("layout", list(_inputs()))
@pytest.mark.parametrize("call", list(_calls()))
def test_each_short_cut_matches_the_meta_kernel(call, layout):
    fn, x = _calls()[call], _inputs()[layout]
    with torch.no_grad():
        expected = fn(x.clone() if "inplace" in call else x)
        source = x.clone() if "inplace" in call else x
        with shape_only():
            got = fn(source)
    assert got.device.type == "meta"
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert got.stride() == expected.stride()
    assert (got is source) == ("inplace" in call)


def test_the_short_cut_is_taken():
    """The rules are hit (else the speed-up would silently vanish): count the kernel calls."""
    x = torch.empty(1, C, 8, 8, device="meta")
    seen: list[object] = []

    class Count(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append(func)
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), shape_only(), Count():
        nn.BatchNorm2d(C, device="meta").eval()(x)
    assert F.batch_norm in seen
    assert torch.batch_norm not in seen  # the slow kernel below it never ran


@pytest.mark.parametrize(
    ("fn", "error"),
    [
        (lambda x: nn.BatchNorm2d(C + 1, device="meta").eval()(x), RuntimeError),
        (lambda x: nn.BatchNorm2d(C, device="meta").train()(x[:1, :, :1, :1]), ValueError),
        (lambda x: F.layer_norm(x, (3,)), RuntimeError),
        (lambda x: nn.LayerNorm(7, device="meta")(x.transpose(2, 3)), RuntimeError),
        (lambda x: F.group_norm(x, 4), RuntimeError),
        (lambda x: F.group_norm(x, 3, torch.ones(C + 1, device="meta")), RuntimeError),
    ],
    ids=["bn-channels", "bn-one-value", "ln-shape", "ln-weight", "gn-groups", "gn-weight"],
)
def test_what_the_kernel_refuses_is_refused(fn, error):
    x = torch.empty(2, C, 5, 7, device="meta")
    with torch.no_grad(), pytest.raises(error):
        fn(x)  # torch itself refuses
    with torch.no_grad(), shape_only(), pytest.raises(error):
        fn(x)


def test_real_tensors_and_gradients_take_the_normal_path():
    torch.manual_seed(0)
    x = torch.randn(2, C, 5, 7)
    bn = nn.BatchNorm2d(C).eval()
    with torch.no_grad(), shape_only():
        got = F.gelu(bn(x))
    torch.testing.assert_close(got, F.gelu(bn(x)).detach(), rtol=0, atol=0)
    w = torch.empty(C, device="meta", requires_grad=True)
    m = torch.empty(2, C, 5, 7, device="meta")
    with shape_only():  # a result that needs a gradient keeps its autograd node
        out = F.group_norm(m, 3, w)
    assert out.grad_fn is not None


def test_meta_copy_leaves_the_model_and_on_meta_says_where_it_is():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    copy = meta_copy(model)
    assert on_meta(copy) and not on_meta(model) and not on_meta(nn.ReLU())
    assert model[0].weight.device.type == "cpu"
    assert [p.shape for p in copy.parameters()] == [p.shape for p in model.parameters()]


ZOO = ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny"]
SLOW_ZOO = ["densenet121", "regnet_y_400mf", "shufflenet_v2_x1_0", "mnasnet0_5", "vgg11_bn"]


@pytest.mark.parametrize("name", ZOO + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW_ZOO])
def test_zoo_shapes_are_those_of_the_meta_kernels(name, monkeypatch, meta_torchvision):
    """Every node's output shape in the fx capture, and the model's outputs, with and without."""
    model = meta_torchvision(name, num_classes=10)
    size = (3, 32, 32)
    fast = capture_graph(model, size)
    fast_out = output_signature(model, size)
    monkeypatch.setattr(_meta, "_RULES", {})
    slow = capture_graph(model, size)
    assert [(n.name, n.output_shape) for n in fast.nodes] == [
        (n.name, n.output_shape) for n in slow.nodes
    ]
    assert fast_out == output_signature(model, size)
