"""The hook scaffold removes every handle: after a normal run, bad input, a raising module."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from delve_advisor._hooks import Hooks
from delve_advisor.saturation import SaturationTracker


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


class _Raises(nn.Module):
    def forward(self, x):
        raise KeyError("boom")


def test_hooks_are_removed_after_a_normal_run():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    calls = []
    with Hooks() as hooks:
        for m in model:
            hooks.forward_pre(m, lambda module, args: calls.append("pre"))
            hooks.forward(m, lambda module, args, out: calls.append("post"))
        assert len(hooks) == 4 and not _no_hooks(model)
        model(torch.zeros(1, 2))
    assert calls == ["pre", "post", "pre", "post"]
    assert _no_hooks(model) and len(hooks) == 0


def test_hooks_are_removed_after_bad_input_and_a_raising_module():
    model = nn.Sequential(nn.Linear(2, 3))
    with pytest.raises(RuntimeError), Hooks() as hooks:
        hooks.forward(model[0], lambda *a: None)
        model(torch.zeros(1, 5))  # wrong width
    assert _no_hooks(model)
    raising = nn.Sequential(nn.Linear(2, 2), _Raises())
    with pytest.raises(KeyError), Hooks() as hooks:
        for m in raising:
            hooks.forward(m, lambda *a: None)
        raising(torch.zeros(1, 2))
    assert _no_hooks(raising)


def test_remove_is_idempotent_and_keeps_hooks_of_others():
    layer = nn.Linear(2, 2)
    theirs = layer.register_forward_hook(lambda *a: None)
    hooks = Hooks()
    hooks.forward(layer, lambda *a: None)
    hooks.remove()
    hooks.remove()
    assert list(layer._forward_hooks) == [theirs.id]
    theirs.remove()


def test_tracker_keeps_its_hooks_across_calls_until_close():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    tracker = SaturationTracker("t", save_to=[], modules=model, device="cpu")
    try:
        for _ in range(3):
            model(torch.randn(8, 4))
            assert not _no_hooks(model)
    finally:
        tracker.close()
    assert _no_hooks(model)
    tracker.close()  # twice is fine
