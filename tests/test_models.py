"""Tests of delve_advisor.models: model specs, stem adaptation, checkpoints, compatibility."""

from __future__ import annotations

import collections
import textwrap

import pytest
import torch
import torchvision
from torch import nn

from delve_advisor import check_compatibility, load_model
from delve_advisor.exceptions import InputSizeError, InvalidArgumentError, SpecError
from delve_advisor.models import _adapt_stem, list_model_specs, parse_model_spec

FORMS = "valid model specs:"

FACTORIES = textwrap.dedent(
    """
    import torch
    from torch import nn


    def small_cnn(num_classes=10, in_channels=1):
        return nn.Sequential(
            nn.Conv2d(in_channels, 4, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4, num_classes),
        )


    def fixed():
        return nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())


    def anything(**kwargs):
        return small_cnn(**kwargs)


    def not_a_model(num_classes=10):
        return [num_classes]


    class Builders:
        @staticmethod
        def create(num_classes=10):
            return small_cnn(num_classes=num_classes)


    NUMBER = 3
    """
)


@pytest.fixture
def factories(tmp_path, monkeypatch):
    (tmp_path / "da_test_factories.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "da_test_factories"


# -- spec parsing ---------------------------------------------------------------------------


def test_parse_valid_forms():
    spec = parse_model_spec("torchvision:resnet18")
    assert (spec.source, spec.module, spec.name) == (
        "torchvision",
        "torchvision.models",
        "resnet18",
    )
    spec = parse_model_spec("pkg.sub.mod:Builder.create")
    assert (spec.source, spec.module, spec.name) == ("factory", "pkg.sub.mod", "Builder.create")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("resnet18", r"no ':' .*did you mean 'torchvision:resnet18'\?"),
        ("mymodel", "no ':' separating the source from the name$|no ':' separating"),
        ("torchvision:", "the part after 'torchvision:' .* is empty"),
        (":build", r"the part before ':' \(torchvision or package.module\) is empty"),
        ("a.b:c:d", r"more than one ':' \(in 'c:d'\)"),
        ("my-pkg.mod:build", "'my-pkg.mod' before ':' is not a dotted Python module path"),
        ("pkg.mod:1build", "'1build' after ':' is not a Python name"),
    ],
)
def test_malformed_specs_name_the_part_and_list_forms(spec, message):
    with pytest.raises(SpecError, match=message) as info:
        parse_model_spec(spec)
    assert FORMS in str(info.value)
    assert "torchvision:NAME" in str(info.value)
    assert "package.module:factory" in str(info.value)


def test_unknown_torchvision_name_lists_nearest():
    with pytest.raises(SpecError, match=r"'resnet19' is not a torchvision .*nearest are resnet18"):
        load_model("torchvision:resnet19")
    with pytest.raises(SpecError, match="list_model_specs"):
        load_model("torchvision:vgg61")


def test_non_string_spec():
    with pytest.raises(SpecError, match="must be a string, got int"):
        load_model(18)


def test_list_model_specs_covers_torchvision():
    specs = list_model_specs()
    assert "torchvision:resnet18" in specs
    assert len(specs) == len(torchvision.models.list_models(module=torchvision.models))


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_bad_counts(bad):
    with pytest.raises(InvalidArgumentError, match="num_classes must be a positive int"):
        load_model("torchvision:resnet18", num_classes=bad)


# -- torchvision and stem adaptation ---------------------------------------------------------


def test_torchvision_num_classes():
    model = load_model("torchvision:resnet18", num_classes=7)
    assert model.fc.out_features == 7
    assert model.conv1.in_channels == 3  # in_channels=None and =3 leave the stem alone


@pytest.mark.parametrize(
    ("name", "stem_path"),
    [
        ("resnet18", "conv1"),
        pytest.param("vgg16", "features.0", marks=pytest.mark.slow),  # ~5 s to build twice
        ("mobilenet_v3_small", "features.0.0"),
        ("efficientnet_b0", "features.0.0"),
    ],
)
def test_stem_adapted_to_one_channel(name, stem_path):
    torch.manual_seed(0)
    reference = load_model(f"torchvision:{name}", num_classes=10)
    torch.manual_seed(0)
    model = load_model(f"torchvision:{name}", num_classes=10, in_channels=1)
    old, new = reference.get_submodule(stem_path), model.get_submodule(stem_path)
    assert isinstance(new, nn.Conv2d) and new.in_channels == 1
    for attribute in ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups"):
        assert getattr(new, attribute) == getattr(old, attribute), attribute
    assert (new.bias is None) == (old.bias is None)
    assert torch.equal(new.weight[:, 0], old.weight[:, 0])  # copied from input channel 0
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert sum(c.in_channels == 1 for c in convs) == 1  # only the stem changed
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 32, 32))
    assert out.shape == (2, 10)
    check_compatibility(model, 1, 10, 32)


def test_stem_weights_copied_cyclically_for_four_channels():
    torch.manual_seed(1)
    reference = load_model("torchvision:resnet18")
    torch.manual_seed(1)
    model = load_model("torchvision:resnet18", in_channels=4)
    assert model.conv1.in_channels == 4
    assert torch.equal(model.conv1.weight[:, :3], reference.conv1.weight)
    assert torch.equal(model.conv1.weight[:, 3], reference.conv1.weight[:, 0])


class ForwardOrder(nn.Module):
    """The conv defined first is not the one that runs first; also reused under two names."""

    def __init__(self) -> None:
        super().__init__()
        self.late = nn.Conv2d(4, 4, 3, padding=1)
        self.early = nn.Conv2d(3, 4, 5, stride=2, padding=2, bias=False)
        self.alias = self.early
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.late(self.early(x)))


def test_stem_found_by_forward_order_not_attribute_order():
    model = ForwardOrder()
    _adapt_stem(model, 1, "example")
    assert model.early.in_channels == 1 and model.late.in_channels == 4
    assert model.alias is model.early  # every reference replaced
    assert (model.early.kernel_size, model.early.stride, model.early.bias) == ((5, 5), (2, 2), None)
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 6)


def test_stem_without_conv_cannot_be_adapted():
    with pytest.raises(SpecError, match="no Conv2d runs first"):
        _adapt_stem(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), 1, "mlp")


# -- factories --------------------------------------------------------------------------------


def test_factory_called_with_accepted_kwargs(factories):
    model = load_model(f"{factories}:small_cnn", num_classes=4, in_channels=2)
    assert model[0].in_channels == 2 and model[-1].out_features == 4
    model = load_model(f"{factories}:anything", num_classes=3)  # **kwargs accepts both
    assert model[-1].out_features == 3
    model = load_model(f"{factories}:Builders.create", num_classes=5)
    assert model[-1].out_features == 5
    assert isinstance(load_model(f"{factories}:fixed"), nn.Sequential)


def test_factory_that_does_not_accept_kwargs(factories):
    with pytest.raises(SpecError, match=r"factory '.*\.fixed' does not accept in_channels="):
        load_model(f"{factories}:fixed", in_channels=1)
    with pytest.raises(SpecError, match="does not accept in_channels="):
        load_model(f"{factories}:Builders.create", in_channels=1)


def test_factory_errors(factories):
    with pytest.raises(
        SpecError, match=r"cannot import module 'no_such_pkg_xyz\.models': No module named"
    ):
        load_model("no_such_pkg_xyz.models:build")
    with pytest.raises(SpecError, match="has no attribute 'smal_cnn'; the nearest are small_cnn"):
        load_model(f"{factories}:smal_cnn")
    with pytest.raises(SpecError, match="is a int, not a callable factory"):
        load_model(f"{factories}:NUMBER")
    with pytest.raises(SpecError, match=r"returned a list, not an nn\.Module"):
        load_model(f"{factories}:not_a_model")


# -- checkpoints ----------------------------------------------------------------------------


def test_checkpoint_forms_load_the_weights(factories, tmp_path):
    source = load_model(f"{factories}:small_cnn", num_classes=3)
    state = source.state_dict()
    forms = {
        "plain.pt": state,
        "wrapped.pt": {"state_dict": state, "epoch": 3},
        "model.pt": {"model": state},
        "parallel.pt": {f"module.{k}": v for k, v in state.items()},
    }
    for name, payload in forms.items():
        torch.save(payload, tmp_path / name)
        model = load_model(f"{factories}:small_cnn", num_classes=3, checkpoint=tmp_path / name)
        for key, value in model.state_dict().items():
            assert torch.equal(value, state[key]), (name, key)


def test_checkpoint_mismatch_names_keys(factories, tmp_path):
    state = load_model(f"{factories}:small_cnn", num_classes=3).state_dict()
    torch.save(state, tmp_path / "three.pt")
    with pytest.raises(
        SpecError, match=r"shape mismatches: 4\.bias \(checkpoint \(3,\), model \(5,\)\)"
    ):
        load_model(f"{factories}:small_cnn", num_classes=5, checkpoint=tmp_path / "three.pt")
    renamed = {("head." + k if k.startswith("4.") else k): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "renamed.pt")
    with pytest.raises(
        SpecError, match=r"missing keys: 4\.bias, 4\.weight; unexpected keys: head\.4\.bias"
    ):
        load_model(f"{factories}:small_cnn", num_classes=3, checkpoint=tmp_path / "renamed.pt")


def test_checkpoint_unreadable_or_missing(factories, tmp_path):
    with pytest.raises(SpecError, match=r"checkpoint file '.*nowhere\.pt' does not exist"):
        load_model(f"{factories}:small_cnn", checkpoint=tmp_path / "nowhere.pt")
    torch.save(load_model(f"{factories}:small_cnn"), tmp_path / "whole.pt")  # a pickled module
    with pytest.raises(SpecError, match=r"cannot be read with torch.load\(weights_only=True\)"):
        load_model(f"{factories}:small_cnn", checkpoint=tmp_path / "whole.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(SpecError, match="holds a list that is not a state dict"):
        load_model(f"{factories}:small_cnn", checkpoint=tmp_path / "list.pt")


# -- compatibility --------------------------------------------------------------------------


def test_channel_mismatch_reported_before_training():
    model = load_model("torchvision:resnet18", num_classes=10)
    message = "model expects 3 channels, data has 1 — pass in_channels=1 / --in-channels 1"
    with pytest.raises(InputSizeError, match=message):
        check_compatibility(model, 1, 10, 28)


def test_channel_mismatch_found_at_the_conv_that_runs_first():
    with pytest.raises(InputSizeError, match="model expects 3 channels, data has 4"):
        check_compatibility(ForwardOrder(), 4, 6, 16)


def test_class_mismatch():
    model = load_model("torchvision:resnet18")
    message = "model outputs 1000 classes, data has 10 — pass num_classes=10 / --num-classes 10"
    with pytest.raises(SpecError, match=message):
        check_compatibility(model, 3, 10, 32)


def test_input_too_small_and_non_classifier_output():
    model = nn.Sequential(nn.Conv2d(1, 2, 5), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    check_compatibility(model, 1, 3, 8)
    with pytest.raises(InputSizeError, match="cannot run on images of 1 channels and size 3x3"):
        check_compatibility(model, 1, 3, (3, 3))
    with pytest.raises(SpecError, match=r"model outputs \(2, 6, 6\) per sample"):
        check_compatibility(nn.Conv2d(1, 2, 3), 1, 3, 8)


def test_compatibility_restores_modes_and_state():
    model = load_model("torchvision:resnet18", num_classes=10, in_channels=1)
    model.train()
    model.layer1.eval()
    flags = {name: m.training for name, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    check_compatibility(model, 1, 10, (28, 20))
    assert {name: m.training for name, m in model.named_modules()} == flags
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert all(not m._forward_pre_hooks for m in model.modules())


class NamedOutput(nn.Module):
    """Returns a named tuple with ``logits`` after an auxiliary head, like GoogLeNet in training."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 3, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.aux = nn.Linear(3, 2)
        self.fc = nn.Linear(3, 10)

    def forward(self, x: torch.Tensor):
        h = self.features(x)
        return collections.namedtuple("Out", "aux logits")(self.aux(h), self.fc(h))


def test_named_tuple_output_uses_its_logits():
    check_compatibility(NamedOutput(), 1, 10, 16)
    with pytest.raises(SpecError, match="model outputs 10 classes, data has 2"):
        check_compatibility(NamedOutput(), 1, 2, 16)
    tuple_model = nn.Sequential(NamedOutput(), nn.Identity())
    check_compatibility(tuple_model, 1, 10, 16)


class _FailsBeforeTheStem(nn.Module):
    """A preprocessing layer with a bug runs before the first conv."""

    def __init__(self) -> None:
        super().__init__()
        self.pre = _Buggy()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(self.pre(x))


class _Buggy(nn.Module):
    def forward(self, x):
        raise KeyError("bug")


def test_stem_probing_reraises_a_bug_naming_the_module():
    model = _FailsBeforeTheStem()
    with pytest.raises(KeyError) as info:
        check_compatibility(model, 3, 4, 16)
    assert any("raised by module 'pre' during stem probing" in n for n in info.value.__notes__)
    assert all(not m._forward_pre_hooks for m in model.modules())


def test_stem_probing_that_does_not_fit_means_no_stem():
    # a Linear on the flattened probe fails on the probe's size: that is "no stem found", and
    # the compatibility check then reports the size problem itself
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3 * 8 * 8), nn.Unflatten(1, (3, 8, 8)))
    model.append(nn.Conv2d(3, 2, 3))
    with pytest.raises(InputSizeError, match=r"cannot run on images of 3 channels and size 16x16"):
        check_compatibility(model, 3, 2, 16)
