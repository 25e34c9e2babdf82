"""Every built-in edit operation, and a user-registered one, passes the conformance suite."""

import pytest
import torchvision
from torch import nn

from delve_advisor.edits import (
    ChangeStem,
    Edit,
    ReplaceLinearInput,
    ReplaceWithIdentity,
    ResizeInput,
    ScaleWidth,
    SetStride,
    TruncateStage,
    list_edits,
    register_edit,
    unregister_edit,
)
from delve_advisor.testing.edits import CASES, check_edit_conformance


def _resnet():
    return torchvision.models.resnet18(num_classes=10)


BUILT_IN = {
    "set_stride": (SetStride("conv1", [1, 1]), _resnet, ["fast", [0], 2]),
    "replace_with_identity": (ReplaceWithIdentity("maxpool"), _resnet, [3, "x"]),
    "replace_linear_input": (ReplaceLinearInput("fc", 512), _resnet, [0, "512", 1.5]),
    "resize_input": (ResizeInput(value=[48, 48]), _resnet, ["48", [0, 48]]),
    "change_stem": (
        ChangeStem("conv1", {"kernel_size": 3, "stride": 1}),
        _resnet,
        [3, {"kernel_size": 3}, {"kernel_size": 0, "stride": 1}],
    ),
    "scale_width": (ScaleWidth(value=0.5), _resnet, [0, -1.5, "0.5", True, None]),
    "truncate_stage": (
        TruncateStage("features.13"),
        lambda: torchvision.models.mobilenet_v2(num_classes=10),
        [1, "x"],
    ),
}


def test_every_built_in_op_has_a_conformance_case():
    assert set(BUILT_IN) == set(list_edits())


@pytest.mark.parametrize("op", sorted(BUILT_IN))
def test_built_in_op_conforms(op):
    edit, build, invalid = BUILT_IN[op]
    check_edit_conformance(edit, build(), (3, 32, 32), invalid_values=invalid)


class _Widen(Edit):
    """A user op: replaces a Conv2d's padding (value: int >= 0)."""

    op = "set_padding"

    def check(self):
        if not isinstance(self.value, int) or self.value < 0:
            raise self._fail("value", f"must be an int >= 0, got {self.value!r}")

    def apply(self, model):
        model.get_submodule(self.module).padding = (self.value, self.value)


def test_a_user_registered_op_runs_the_same_cases():
    register_edit(_Widen)
    try:
        net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1))
        check_edit_conformance(_Widen("0", 1), net, (1, 9, 9), invalid_values=[-1, "1"])
    finally:
        unregister_edit("set_padding")


def test_the_suite_catches_an_op_that_changes_the_callers_model():
    class Leaky(Edit):
        op = "leaky"

        def apply(self, model):
            return None

    leaky_net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1))

    class Sneaky(Leaky):
        op = "sneaky"

        def apply(self, model):
            leaky_net[0].stride = (2, 2)  # reaches out to the caller's model

    register_edit(Sneaky)
    try:
        with pytest.raises(AssertionError, match=CASES[3] + ": the caller's model changed"):
            check_edit_conformance(Sneaky("0"), leaky_net, (1, 9, 9))
    finally:
        unregister_edit("sneaky")


def test_the_suite_catches_a_constructor_that_accepts_anything():
    class Lax(Edit):
        op = "lax"

        def apply(self, model):
            return None

    register_edit(Lax)
    try:
        net = nn.Sequential(nn.Conv2d(1, 4, 3))
        with pytest.raises(AssertionError, match=CASES[0] + r": value='bad' was accepted"):
            check_edit_conformance(Lax("0"), net, (1, 9, 9), invalid_values=["bad"])
    finally:
        unregister_edit("lax")
