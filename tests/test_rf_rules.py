"""The receptive-field rule registry: custom rules, duplicates, unknown modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from delve_advisor import GlobalOp, UpsampleOp, WindowOp, receptive_field, register_rf_rule
from delve_advisor.exceptions import DuplicateRegistrationError, InvalidArgumentError
from delve_advisor.graph import get_rf_rule, list_rf_rules, unregister_rf_rule
from delve_advisor.graph.rules import _RULES, RuleContext


class _Blur(nn.Module):
    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, 5, stride=1, padding=2)


class _Opaque(nn.Module):
    def forward(self, x):
        return x * 2


@pytest.fixture
def clean_registry():
    yield
    for key in (_Blur, _Opaque, torch.roll):
        _RULES.unregister(key, missing_ok=True)


def test_subclasses_inherit_rules():
    class MyConv(nn.Conv2d):
        pass

    assert get_rf_rule(MyConv) is get_rf_rule(nn.Conv2d) is not None
    rf = receptive_field(nn.Sequential(MyConv(1, 1, 7)), (1, 16, 16))
    assert rf.layer("0").r_max == (7, 7)


def test_custom_rule_overrides_traced_internals(clean_registry):
    net = nn.Sequential(nn.Conv2d(1, 1, 3), _Blur())
    assert receptive_field(net, (1, 16, 16)).layer("1.avg_pool2d").r_max == (7, 7)
    register_rf_rule(_Blur, WindowOp(kernel=(3, 9), stride=1))
    rf = receptive_field(net, (1, 16, 16))
    assert rf.layer("1").r_max == (5, 11) and rf.layer("1").kernel == (3, 9)


def test_callable_rule_gets_context(clean_registry):
    seen: list[RuleContext] = []

    def rule(ctx: RuleContext):
        seen.append(ctx)
        return UpsampleOp(2)

    register_rf_rule(_Blur, rule)
    receptive_field(nn.Sequential(_Blur()), (1, 8, 8))
    assert seen[0].input_shapes == [(1, 1, 8, 8)] and seen[0].axes == (2, 3)


def test_function_rule(clean_registry):
    class Roll(nn.Module):
        def forward(self, x):
            return torch.roll(x, 1, dims=2)

    register_rf_rule(torch.roll, GlobalOp())
    assert receptive_field(Roll(), (1, 8, 8)).layers[-1].is_global


def test_duplicate_registration_is_an_error(clean_registry):
    register_rf_rule(_Blur, WindowOp(3))
    with pytest.raises(DuplicateRegistrationError, match="override=True"):
        register_rf_rule(_Blur, WindowOp(5))
    register_rf_rule(_Blur, WindowOp(5), override=True)
    with pytest.raises(DuplicateRegistrationError):
        register_rf_rule(nn.Identity, WindowOp(3))  # a built-in rule
    with pytest.raises(InvalidArgumentError, match="rule must be"):
        register_rf_rule(_Blur, 3, override=True)


def test_unknown_module_is_pointwise_with_a_warning():
    net = nn.Sequential(nn.Conv2d(1, 1, 3), _Opaque(), nn.Conv2d(1, 1, 3))
    rf = receptive_field(net, (1, 16, 16), leaf_modules=(_Opaque,))
    assert rf.layer("1").effect == "pointwise" and rf.layer("2").r_max == (5, 5)
    assert len(rf.warnings) == 1
    assert "'1'" in rf.warnings[0] and "_Opaque" in rf.warnings[0]
    assert "register_rf_rule" in rf.warnings[0]


def test_torchvision_swin_rules_register_when_torchvision_is_loaded(monkeypatch):
    """Windowed attention is global, patch merging a 2x2 window (DESIGN.md); registered lazily,
    once torchvision's Swin module is loaded, and a rule the user registered first is kept."""
    import sys

    from torchvision.models import swin_transformer as swin

    from delve_advisor.graph import rules

    assert get_rf_rule(swin.ShiftedWindowAttention) == GlobalOp()
    assert get_rf_rule(swin.PatchMergingV2) == WindowOp(2, 2)
    assert "torchvision.models.swin_transformer.PatchMerging" in list_rf_rules()
    # as before torchvision is imported: none of them registered, the module not loaded
    for key in (swin.ShiftedWindowAttention, swin.PatchMerging, swin.ShiftedWindowAttentionV2):
        _RULES.unregister(key)
    _RULES.unregister(swin.PatchMergingV2)
    monkeypatch.setattr(rules, "_swin_registered", False)
    monkeypatch.delitem(sys.modules, rules._SWIN)
    register_rf_rule(swin.PatchMerging, WindowOp(4, 4))  # the user's rule, first
    assert get_rf_rule(swin.ShiftedWindowAttention) is None  # nothing loaded, nothing guessed
    monkeypatch.setitem(sys.modules, rules._SWIN, swin)  # torchvision's Swin is loaded
    try:
        assert get_rf_rule(swin.PatchMerging) == WindowOp(4, 4)  # the user's, kept
        assert get_rf_rule(swin.ShiftedWindowAttention) == GlobalOp()  # ours, registered now
    finally:
        unregister_rf_rule(swin.PatchMerging)
        register_rf_rule(swin.PatchMerging, WindowOp(2, 2))
