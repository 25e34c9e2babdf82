"""The frozen record of one :func:`~delve_advisor.edits.apply_edits` call."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from torch import nn

from delve_advisor.edits._base import Edit
from delve_advisor.edits.prediction import Prediction, predict

__all__ = ["EditResult"]


@dataclass(frozen=True, eq=False)
class EditResult:
    """An edited copy of a model with what was done to it and what that changed.

    Attributes:
        model: The edited copy (a ``torch.fx.GraphModule`` after a graph rewrite).
        input_size: (C, H, W) the copy runs at: the original size, or the one a
            ``resize_input`` edit set.
        edits: Every edit applied, in order, the coupled ones included.
        coupled: The edits :func:`apply_edits` added on its own (a residual shortcut's
            stride, a head re-attached to the channels that now reach it).
        kept: Names of the parameters that are bit-identical to the original's.
        reinitialised: Names of the parameters that are new (freshly initialised layers).
        removed: Names of the original's parameters the copy no longer has.
        original_input_size: (C, H, W) the original ran at.
        before: :func:`~delve_advisor.edits.predict` of the original at
            ``original_input_size`` (measured on first access, then kept).
        after: :func:`~delve_advisor.edits.predict` of the copy at ``input_size`` (measured
            on first access, then kept).

    Example:
        >>> import torchvision
        >>> from delve_advisor.edits import ResizeInput, apply_edits
        >>> net = torchvision.models.resnet18(num_classes=10)
        >>> result = apply_edits(net, [ResizeInput(value=[64, 64])], (3, 32, 32))
        >>> result.input_size, result.resize
        ((3, 64, 64), (64, 64))
    """

    model: nn.Module
    input_size: tuple[int, ...]
    edits: tuple[Edit, ...]
    coupled: tuple[Edit, ...]
    kept: tuple[str, ...]
    reinitialised: tuple[str, ...]
    removed: tuple[str, ...]
    original_input_size: tuple[int, ...]
    original: nn.Module | None = field(default=None, repr=False)
    given_before: Prediction | None = field(default=None, repr=False)

    @cached_property
    def before(self) -> Prediction:
        """The original's prediction at ``original_input_size``."""
        if self.given_before is not None:
            return self.given_before
        if self.original is None:
            raise AttributeError("this EditResult has no original model to measure")
        return predict(self.original, self.original_input_size)

    @cached_property
    def after(self) -> Prediction:
        """The edited copy's prediction at ``input_size``."""
        return predict(self.model, self.input_size)

    @property
    def resize(self) -> tuple[int, ...] | None:
        """The spatial size the data must be resized to, or None when it is unchanged."""
        if tuple(self.input_size) == tuple(self.original_input_size):
            return None
        return tuple(self.input_size[1:])

    def transform(self) -> Any:
        """The data transform for the new input size: a torchvision ``Resize``, or None.

        Apply it to image tensors (C, H, W) or batches (N, C, H, W); with ``load_data`` pass
        ``input_size=result.resize`` instead.
        """
        if self.resize is None:
            return None
        from torchvision.transforms import v2

        return v2.Resize(list(self.resize), antialias=True)

    def edits_as_dicts(self) -> list[dict[str, Any]]:
        """Every applied edit as plain data (what :func:`save_edits` writes)."""
        return [e.to_dict() for e in self.edits]
