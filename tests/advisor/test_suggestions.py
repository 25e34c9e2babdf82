"""Suggestions from the graph alone: the right edit first, predictions measured on edited copies."""

import pytest
import torch
import torchvision
from torch import nn

from delve_advisor import receptive_field
from delve_advisor.advisor.suggestions import rf_evidence, suggest, weighted_layers
from delve_advisor.advisor.tail import find_tail
from delve_advisor.cost import total_flops
from delve_advisor.edits import (
    ReplaceLinearInput,
    ReplaceWithIdentity,
    ResizeInput,
    SetStride,
    apply_edits,
    predict,
)
from delve_advisor.exceptions import InvalidArgumentError
from delve_advisor.testing import matched_cnn


def _suggest(model, size, **options):
    analysis = receptive_field(model, input_size=size)
    body, head = weighted_layers(analysis, model)
    tail = find_tail(body, rf_evidence(analysis, body, size[1:]))
    return analysis, body, head, tail, suggest(model, analysis, tail.tail, size, **options)


@pytest.fixture(scope="module")
def resnet18_at_28():
    """One analysis and one suggest() of ResNet-18 at 28 px, shared by the tests that read it.

    The tests only read the model (apply_edits works on copies), so sharing it is safe.
    """
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    size = (3, 28, 28)
    # conv1 and maxpool come first; a third candidate reaches layer2's strided block
    return model, size, _suggest(model, size, max_downsampling=3)


def test_resnet18_at_28_px_first_suggests_dropping_the_stem_stride(resnet18_at_28):
    model, size, (_analysis, body, head, tail, (suggestions, _)) = resnet18_at_28
    assert head == ["fc"] and body[0] == "conv1"
    assert tail.tail[-2:] == ["layer4.1.conv1", "layer4.1.conv2"]
    first = suggestions[0]
    assert first.kind == "drop_downsampling" and first.targets == ("conv1",)
    assert first.edits == (SetStride("conv1", [1, 1]),)
    assert first.to_dict()["edits"] == [{"op": "set_stride", "module": "conv1", "value": [1, 1]}]
    assert first.before.unproductive == 7 and first.after.unproductive == 3
    edited = apply_edits(model, first.edits, size).model
    assert first.after.flops == total_flops(edited, size)
    assert first.before.flops == total_flops(model, size)
    assert first.after.params == first.before.params
    assert first.before.input_range[1] == 435
    kinds = [s.kind for s in suggestions]
    assert kinds == sorted(kinds, key=["drop_downsampling", "prune_layers", "resize_input"].index)
    assert [s.rank for s in suggestions] == list(range(1, len(suggestions) + 1))


def test_prune_keeps_the_model_running_and_saves_what_it_says(resnet18_at_28):
    model, size, (*_, (suggestions, notes)) = resnet18_at_28
    prune = next(s for s in suggestions if s.kind == "prune_layers")
    edited = apply_edits(model, prune.edits, size).model
    assert prune.after.params == sum(p.numel() for p in edited.parameters())
    assert prune.after.params < prune.before.params
    assert ReplaceWithIdentity("layer4") in prune.edits
    assert ReplaceLinearInput("fc", 256) in prune.edits
    assert any("re-attached with 256 inputs" in n for n in notes)


def test_resize_goes_to_the_low_end_of_the_feasible_range(resnet18_at_28):
    _model, _size, (analysis, *_, (suggestions, _)) = resnet18_at_28
    resize = next(s for s in suggestions if s.kind == "resize_input")
    low = analysis.input_range()[0][0]
    assert resize.edits == (ResizeInput(value=[low, low]),)
    assert resize.after.unproductive == 0


def test_residual_stride_changes_with_its_shortcut(resnet18_at_28):
    model, size, (*_, (suggestions, _)) = resnet18_at_28
    coupled = [s for s in suggestions if "layer2.0.conv1" in s.targets]
    assert coupled, [s.targets for s in suggestions]  # the loop below must check something
    for s in coupled:
        assert "layer2.0.downsample.0" in s.targets
        assert SetStride("layer2.0.downsample.0", [1, 1]) in s.edits
        result = apply_edits(model, s.edits, size)
        assert result.coupled == ()  # the suggestion lists its coupled edit already


def test_a_network_matched_to_its_input_gets_no_tail_and_no_suggestion():
    analysis, _body, _head, tail, (suggestions, notes) = _suggest(matched_cnn(), (1, 28, 28))
    assert analysis.unproductive(28) == []
    assert tail.tail == [] and suggestions == [] and notes == []


@pytest.mark.slow
def test_vgg16_at_32_px_suggests_dropping_an_early_pool():
    model = torchvision.models.vgg16(num_classes=10)
    size = (3, 32, 32)
    _analysis, _body, head, tail, (suggestions, _) = _suggest(model, size)
    assert head == ["classifier.0", "classifier.3", "classifier.6"]
    assert "features.28" in tail.tail
    first = suggestions[0]
    assert first.kind == "drop_downsampling" and first.targets == ("features.4",)
    assert first.edits == (ReplaceWithIdentity("features.4"),)
    assert first.after.unproductive < first.before.unproductive


class _FunctionalPool(nn.Module):
    """A stem whose max-pool is a functional call: edited on an fx copy."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.body = nn.Sequential(*[nn.Conv2d(8, 8, 3, padding=1) for _ in range(6)])
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(self.conv1(x), 2)
        x = self.body(x).mean(dim=(2, 3))
        return self.head(x)


def test_functional_downsampling_is_suggested_as_a_graph_edit():
    model = _FunctionalPool()
    size = (1, 12, 12)
    *_, tail, (suggestions, notes) = _suggest(model, size)
    assert tail.tail
    first = suggestions[0]
    assert first.kind == "drop_downsampling" and first.targets == ("max_pool2d",)
    assert first.edits == (ReplaceWithIdentity("max_pool2d"),)
    result = apply_edits(model, first.edits, size)
    assert isinstance(result.model, torch.fx.GraphModule)
    assert predict(result.model, size) == first.after
    assert first.after.unproductive < first.before.unproductive
    assert not any("functional call" in n for n in notes)


def test_a_suggestion_applies_itself_and_needs_the_reports_input_size():
    model = torchvision.models.resnet18(num_classes=10)
    size = (3, 28, 28)
    *_, (suggestions, _) = _suggest(model, size)
    first = suggestions[0]
    with pytest.raises(InvalidArgumentError, match=r"Suggestion.apply needs input_size"):
        first.apply(model)
    result = first.apply(model, input_size=size)
    assert result.edits == first.edits and result.after == first.after
    assert result.before == first.before
    assert result.model.conv1.stride == (1, 1) and model.conv1.stride == (2, 2)
