"""The built-in edit operations: small, replayable changes to a copy of a model.

Each operation is an :class:`~delve_advisor.edits.Edit` registered under its ``op`` name, so an
edit list such as ``[{"op": "set_stride", "module": "conv1", "value": [1, 1]}]`` can be saved,
loaded and replayed. Constructors validate ``module`` and ``value``; :meth:`apply` checks them
against the model. Add your own with :func:`~delve_advisor.edits.register_edit`.
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar

from torch import nn

from delve_advisor._modules import replace_module
from delve_advisor.edits._base import Edit, register_edit
from delve_advisor.edits._targets import (
    get_module,
    graph_node,
    has_module,
    node_stride,
    remove_node,
    set_node_stride,
)
from delve_advisor.edits._width import scale_model_width
from delve_advisor.exceptions import EditError

__all__ = [
    "ChangeStem",
    "ReplaceLinearInput",
    "ReplaceWithIdentity",
    "ResizeInput",
    "ScaleWidth",
    "SetStride",
    "TruncateStage",
]


def _is_int(value: Any, low: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low


def _ints(edit: Edit, field: str, value: Any, low: int = 1) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not value or not all(_is_int(v, low) for v in value):
        raise edit._fail(field, f"must be a non-empty list of ints >= {low}, got {value!r}")
    return tuple(int(v) for v in value)


def _model_path(edit: Edit) -> None:
    if not edit.module or edit.module == "input":
        raise edit._fail("module", f"must name a submodule or graph node, got {edit.module!r}")


@register_edit
class SetStride(Edit):
    """Sets the stride of a conv or pooling layer (``value``: one int per spatial axis).

    ``module`` is a module path or the name of a functional conv / pooling call or a strided
    slice (``x[:, :, ::2]``) in the captured graph. A module registered under several paths is
    one object: its stride changes at every use.

    Example:
        >>> import torchvision
        >>> from delve_advisor.edits import SetStride, apply_edits
        >>> net = torchvision.models.resnet18(num_classes=10)
        >>> result = apply_edits(net, [SetStride("conv1", [1, 1])], (3, 32, 32))
        >>> result.model.conv1.stride, net.conv1.stride
        ((1, 1), (2, 2))
    """

    op: ClassVar[str] = "set_stride"

    def check(self) -> None:
        _model_path(self)
        _ints(self, "value", self.value)

    def apply(self, model: nn.Module) -> nn.Module:
        value = tuple(self.value)
        if has_module(model, self.module):
            module = get_module(model, self.module)
            if not hasattr(module, "stride"):
                raise EditError(
                    f"cannot set_stride on {self.module!r}: a {type(module).__name__} has no stride"
                )
            old = module.stride
            if isinstance(old, int):
                module.stride = value[0] if len(set(value)) == 1 else value
            else:
                if len(old) != len(value):
                    raise EditError(
                        f"set_stride on {self.module!r}: {len(value)} values for a "
                        f"{type(module).__name__} with {len(old)} spatial axes; give {len(old)}"
                    )
                module.stride = value
            return model
        gm, node = graph_node(model, self.module, self.op)
        old = node_stride(node)
        if old is None:
            raise EditError(
                f"cannot set_stride on {self.module!r}: the graph node ({node.target!r}) has no "
                "stride; only convs, pooling and strided slices have one"
            )
        if len(old) != len(value) and len(old) != 1:
            raise EditError(
                f"set_stride on {self.module!r}: {len(value)} values for a node with {len(old)} "
                f"spatial axes; give {len(old)}"
            )
        set_node_stride(gm, node, value, self.op, self.module)
        return gm


@register_edit
class ReplaceWithIdentity(Edit):
    """Replaces a module (a pooling layer, a residual block, a stage) by ``nn.Identity``.

    A module shared by several paths is replaced at each; a graph node (a functional pooling
    call, a strided slice, the k-th use ``path:k`` of a module) is replaced by its input.

    Example:
        >>> import torchvision
        >>> from delve_advisor.edits import ReplaceWithIdentity, apply_edits
        >>> net = torchvision.models.resnet18(num_classes=10)
        >>> result = apply_edits(net, [ReplaceWithIdentity("maxpool")], (3, 32, 32))
        >>> type(result.model.maxpool).__name__
        'Identity'
    """

    op: ClassVar[str] = "replace_with_identity"

    def check(self) -> None:
        _model_path(self)
        if self.value is not None:
            raise self._fail("value", f"must be absent (None), got {self.value!r}")

    def apply(self, model: nn.Module) -> nn.Module:
        if has_module(model, self.module):
            replace_module(model, self.module, nn.Identity())
            return model
        gm, node = graph_node(model, self.module, self.op)
        remove_node(gm, node, self.op, self.module)
        return gm


@register_edit
class ReplaceLinearInput(Edit):
    """Re-attaches a Linear head to ``value`` input features; its weights start anew.

    Added automatically (as a coupled edit) when removing blocks changes the channels that
    reach the classifier.

    Example:
        >>> import torchvision
        >>> from delve_advisor.edits import ReplaceLinearInput, ReplaceWithIdentity, apply_edits
        >>> net = torchvision.models.resnet18(num_classes=10)
        >>> edits = [ReplaceWithIdentity("layer4"), ReplaceLinearInput("fc", 256)]
        >>> apply_edits(net, edits, (3, 32, 32)).reinitialised
        ('fc.weight', 'fc.bias')
    """

    op: ClassVar[str] = "replace_linear_input"

    def check(self) -> None:
        _model_path(self)
        if not _is_int(self.value, 1):
            raise self._fail("value", f"must be an int >= 1 (in_features), got {self.value!r}")

    def apply(self, model: nn.Module) -> nn.Module:
        module = get_module(model, self.module)
        if not isinstance(module, nn.Linear):
            raise EditError(
                f"replace_linear_input on {self.module!r}: expected an nn.Linear, "
                f"got {type(module).__name__}"
            )
        new = nn.Linear(
            int(self.value),
            module.out_features,
            bias=module.bias is not None,
            device=module.weight.device,
            dtype=module.weight.dtype,
        )
        new.train(module.training)
        replace_module(model, self.module, new)
        return model


@register_edit
class ResizeInput(Edit):
    """Changes the input resolution (``value``: [H, W]); the model is left as it is.

    :func:`~delve_advisor.edits.apply_edits` returns the new size in ``EditResult.input_size``
    and the data transform in ``EditResult.transform()``.

    Example:
        >>> from delve_advisor.edits import ResizeInput
        >>> ResizeInput(value=[56, 56]).to_dict()
        {'op': 'resize_input', 'module': 'input', 'value': [56, 56]}
    """

    op: ClassVar[str] = "resize_input"
    default_module: ClassVar[str] = "input"

    def __init__(self, module: str = "input", value: Any = None) -> None:
        super().__init__(module, value)

    def check(self) -> None:
        if self.module != "input":
            raise self._fail("module", f"must be 'input', got {self.module!r}")
        _ints(self, "value", self.value)

    def apply(self, model: nn.Module) -> nn.Module:
        return model


_STEM_KEYS = ("kernel_size", "stride", "padding")


@register_edit
class ChangeStem(Edit):
    """Replaces a stem convolution by one of another kernel size and stride.

    ``value`` is ``{"kernel_size": k, "stride": s, "padding": p}`` (ints or one per axis;
    ``padding`` defaults to ``(k - 1) // 2``), e.g. a ResNet's 7×7/2 stem → 3×3/1 or a
    ConvNeXt patchify stem 4×4/4 → 2×2/2. Channels, groups, dilation and bias stay; the new
    conv is initialised as PyTorch initialises a new layer and listed in
    ``EditResult.reinitialised``.

    Example:
        >>> import torchvision
        >>> from delve_advisor.edits import ChangeStem, apply_edits
        >>> net = torchvision.models.resnet18(num_classes=10)
        >>> stem = ChangeStem("conv1", {"kernel_size": 3, "stride": 1})
        >>> result = apply_edits(net, [stem], (3, 32, 32))
        >>> result.model.conv1
        Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
        >>> result.reinitialised
        ('conv1.weight',)
    """

    op: ClassVar[str] = "change_stem"

    def check(self) -> None:
        _model_path(self)
        if not isinstance(self.value, Mapping) or not {"kernel_size", "stride"} <= set(self.value):
            raise self._fail(
                "value",
                f"must be a dict with 'kernel_size' and 'stride' (and optionally 'padding'), "
                f"got {self.value!r}",
            )
        unknown = set(self.value) - set(_STEM_KEYS)
        if unknown:
            raise self._fail("value", f"has unknown keys {sorted(unknown)}; valid: {_STEM_KEYS}")
        for key in _STEM_KEYS:
            if key in self.value:
                item = self.value[key]
                low = 0 if key == "padding" else 1
                _ints(self, f"value[{key!r}]", item if isinstance(item, tuple) else (item,), low)

    def _per_axis(self, key: str, nd: int) -> tuple[int, ...]:
        item = self.value[key]
        values = item if isinstance(item, tuple) else (item,) * nd
        if len(values) != nd:
            raise EditError(
                f"change_stem on {self.module!r}: value[{key!r}] has {len(values)} entries for "
                f"a conv with {nd} spatial axes"
            )
        return tuple(int(v) for v in values)

    def apply(self, model: nn.Module) -> nn.Module:
        old = get_module(model, self.module)
        if not isinstance(old, nn.modules.conv._ConvNd) or old.transposed:
            raise EditError(
                f"change_stem on {self.module!r}: expected a convolution, got {type(old).__name__}"
            )
        if isinstance(old.padding, str):
            raise EditError(
                f"change_stem on {self.module!r}: padding={old.padding!r} is not supported; "
                "give the stem an explicit padding"
            )
        nd = len(old.kernel_size)
        kernel = self._per_axis("kernel_size", nd)
        stride = self._per_axis("stride", nd)
        if "padding" in self.value:
            padding = self._per_axis("padding", nd)
        else:
            padding = tuple((k - 1) // 2 for k in kernel)
        new = type(old)(
            old.in_channels,
            old.out_channels,
            kernel,
            stride=stride,
            padding=padding,
            dilation=old.dilation,
            groups=old.groups,
            bias=old.bias is not None,
            padding_mode=old.padding_mode,
            device=old.weight.device,
            dtype=old.weight.dtype,
        )
        new.train(old.training)
        replace_module(model, self.module, new)
        return model


@register_edit
class TruncateStage(Edit):
    """Drops the blocks after ``module`` in its stage (the ``nn.Sequential`` that holds it).

    ``module`` is the last block to keep, e.g. ``"layer3.0"`` or ``"features.10"``. When the
    channels that reach the classifier change, the head is re-attached with matching inputs
    (a coupled ``replace_linear_input``, listed in ``EditResult.coupled``).

    Example:
        >>> import torchvision
        >>> from delve_advisor.edits import TruncateStage, apply_edits
        >>> net = torchvision.models.mobilenet_v2(num_classes=10)
        >>> result = apply_edits(net, [TruncateStage("features.13")], (3, 32, 32))
        >>> len(result.model.features), result.coupled
        (14, (ReplaceLinearInput(module='classifier.1', value=96),))
    """

    op: ClassVar[str] = "truncate_stage"

    def check(self) -> None:
        _model_path(self)
        if "." not in self.module:
            raise self._fail(
                "module", f"must be a block inside a stage ('layer3.0'), got {self.module!r}"
            )
        if self.value is not None:
            raise self._fail("value", f"must be absent (None), got {self.value!r}")

    def apply(self, model: nn.Module) -> nn.Module:
        get_module(model, self.module)
        stage_path, _, name = self.module.rpartition(".")
        stage = get_module(model, stage_path)
        if not isinstance(stage, nn.Sequential):
            raise EditError(
                f"truncate_stage on {self.module!r}: {stage_path!r} is a "
                f"{type(stage).__name__}, not an nn.Sequential stage"
            )
        names = [n for n, _ in stage.named_children()]
        position = names.index(name)
        if position == len(names) - 1:
            raise EditError(
                f"truncate_stage on {self.module!r}: it is the last block of {stage_path!r}, "
                "nothing to drop; name an earlier block (or replace the stage with "
                "replace_with_identity)"
            )
        kept = OrderedDict((n, m) for n, m in stage.named_children() if names.index(n) <= position)
        new = nn.Sequential(kept)
        new.train(stage.training)
        replace_module(model, stage_path, new)
        return model


@register_edit
class ScaleWidth(Edit):
    """Multiplies the channel / feature count of every hidden layer by ``value`` (a factor).

    Convs, Linears and their batch / group / layer norms in the scope of ``module`` (a module
    path; ``""``, the default, is the whole model) get ``max(1, round(c * factor))`` features.
    The model's input channels and its outputs (the class count) stay. Branches that meet at
    a merge (a residual add) share one width, so their shapes stay equal; a depthwise conv's
    groups follow its channels. Resized layers start anew (``EditResult.reinitialised``); a
    Linear head fed a flattened feature map is re-attached by a coupled
    ``replace_linear_input``. Fails with :class:`~delve_advisor.exceptions.EditError` where
    the widths cannot follow: a channel concatenation (DenseNet, Inception), a grouped conv
    or GroupNorm whose groups no longer divide the channels, a model torch.fx cannot trace.

    Example:
        >>> import torchvision
        >>> from delve_advisor.edits import ScaleWidth, apply_edits
        >>> net = torchvision.models.resnet18(num_classes=10)
        >>> result = apply_edits(net, [ScaleWidth(value=0.5)], (3, 32, 32))
        >>> result.model.conv1, result.model.fc
        (Conv2d(3, 32, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False), \
Linear(in_features=256, out_features=10, bias=True))
        >>> ScaleWidth(value=0.5).to_dict()
        {'op': 'scale_width', 'module': '', 'value': 0.5}
    """

    op: ClassVar[str] = "scale_width"
    default_module: ClassVar[str] = ""

    def __init__(self, module: str = "", value: Any = None) -> None:
        super().__init__(module, value)

    def check(self) -> None:
        if self.module == "input":
            raise self._fail("module", "must be a module path or '' (the whole model), got 'input'")
        value = self.value
        if (
            not isinstance(value, numbers.Real)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise self._fail("value", f"must be a width factor > 0 (e.g. 0.5, 2.0), got {value!r}")

    def apply(self, model: nn.Module) -> nn.Module:
        if self.module:
            get_module(model, self.module)
        return scale_model_width(model, float(self.value), self.module, self.op)
