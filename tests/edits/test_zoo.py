"""The support matrix: every suggestion the advisor makes for the zoo applies, runs, and its
prediction equals the receptive-field analysis and FLOP count of the edited copy, exactly.

Models are built on the meta device (no weights, no arithmetic): edits, verification forward
passes, receptive fields and FLOP counts all run on shapes. ``docs/edits.md`` lists the outcome.
"""

from __future__ import annotations

import logging

import pytest
import torch.nn.functional as F
from torch import fx, nn

from delve_advisor.advisor.suggestions import rf_evidence, suggest, weighted_layers
from delve_advisor.advisor.tail import find_tail
from delve_advisor.cost import count_parameters, total_flops
from delve_advisor.edits import apply_edits, output_signature
from delve_advisor.graph import receptive_field

_log = logging.getLogger(__name__)

TORCHVISION = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnext50_32x4d",
    "wide_resnet50_2",
    "vgg11",
    "vgg11_bn",
    "vgg16",
    "vgg16_bn",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "densenet121",
    "regnet_y_400mf",
    "convnext_tiny",
    "googlenet",
    "inception_v3",
    "shufflenet_v2_x1_0",
    "mnasnet0_5",
]
SIZES = {"inception_v3": (75, 224)}  # its minimum, and the common size


def _sequential() -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
    for _ in range(12):
        layers += [nn.Conv2d(16, 16, 3, padding=1), nn.ReLU()]
    layers += [nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)]
    return nn.Sequential(*layers)


class _Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.body = nn.Sequential(*[nn.Conv2d(16, 16, 3, padding=1) for _ in range(8)])
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 2)
        x = F.avg_pool2d(self.body(x), 2)
        return self.head(x.mean(dim=(2, 3)))


class _Aliased(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.pool2 = self.pool  # one module, two paths and two calls
        self.a = nn.Sequential(
            *[nn.Conv2d(3 if i == 0 else 16, 16, 3, padding=1) for i in range(4)]
        )
        self.b = nn.Sequential(*[nn.Conv2d(16, 16, 3, padding=1) for _ in range(12)])
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool2(self.b(self.pool(self.a(x))))
        return self.head(x.mean(dim=(2, 3)))


OTHERS = {
    "sequential_cnn": _sequential,
    "functional_pooling": _Functional,
    "aliased_pooling": _Aliased,
    "fx_graph_module": lambda: fx.symbolic_trace(_Functional()),
}


def _cases():
    for name in TORCHVISION:
        for side in SIZES.get(name, (32, 224)):
            marks = [pytest.mark.slow]
            yield pytest.param(name, side, id=f"{name}-{side}", marks=marks)
    for name in OTHERS:
        for side in (32, 224):
            marks = [pytest.mark.slow] if side == 224 else []
            yield pytest.param(name, side, id=f"{name}-{side}", marks=marks)


@pytest.mark.parametrize(("name", "side"), list(_cases()))
def test_every_suggestion_applies_and_matches_its_prediction(name, side, meta_torchvision):
    model = OTHERS[name]() if name in OTHERS else meta_torchvision(name, num_classes=10)
    size = (3, side, side)
    analysis = receptive_field(model, input_size=size)
    body, _head = weighted_layers(analysis, model)
    tail = find_tail(body, rf_evidence(analysis, body, size[1:]))
    suggestions, notes = suggest(model, analysis, tail.tail, size)
    _log.info("%s at %d: %s; notes %s", name, side, [s.kind for s in suggestions], notes)
    if name in OTHERS and side == 32:
        assert suggestions, "the small test models are built to have a tail at 32 px"
    if name == "densenet121" and side == 32:  # every removal breaks a dense concatenation
        assert not any(s.kind == "prune_layers" for s in suggestions)
        assert any("prune_layers stopped after 32 removals" in n for n in notes), notes
    expected = output_signature(model, size)
    for s in suggestions:
        result = apply_edits(model, s.edits, size, before=s.before)
        assert result.edits == s.edits  # nothing more was needed
        got = output_signature(result.model, result.input_size)  # the edited copy runs
        assert len(got) == len(expected) and [g[:2] for g in got] == [e[:2] for e in expected]
        check = receptive_field(result.model, input_size=result.input_size)
        rf = {
            layer.module_path: max(layer.r_max)
            for layer in check.layers
            if layer.module_path is not None and layer.is_spatial
        }
        assert rf == s.after.receptive_field, s.kind
        assert total_flops(result.model, result.input_size) == s.after.flops, s.kind
        assert count_parameters(result.model) == s.after.params, s.kind
        assert len(check.unproductive(result.input_size[1:])) == s.after.unproductive
        lost = {n for n, _ in model.named_parameters()} - set(result.kept)
        assert lost == set(result.removed) | (
            set(result.reinitialised) & {n for n, _ in model.named_parameters()}
        )
