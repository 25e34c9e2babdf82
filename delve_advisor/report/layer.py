"""Layer evidence: one analysed layer of a report, as a frozen record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["LayerEvidence"]


@dataclass(frozen=True)
class LayerEvidence:
    """What the report knows about one layer: cost, receptive field, saturation, tail evidence.

    One row of :attr:`Report.layers <delve_advisor.report.report.Report.layers>`, as read from
    :attr:`Report.layer_evidence <delve_advisor.report.report.Report.layer_evidence>`; the report
    builds these records once, from its checked table.

    Args:
        module_path: The layer's dotted module path (the table's ``name`` column).
        type: The module's class name.
        params: Number of parameters.
        flops: FLOPs of one forward pass at the input size, batch 1.
        output_shape: Output shape without the batch axis, or None when unknown.
        r_min: Smallest receptive field over all paths (``inf`` for global layers, NaN unknown).
        r_max: Largest receptive field over all paths.
        unproductive: Whether the layer is unproductive by receptive field.
        saturation_train: Saturation in training mode (NaN when not measured).
        saturation_eval: Saturation in evaluation mode (NaN when not measured).
        idim_train: Intrinsic dimension in training mode (NaN when not measured).
        idim_eval: Intrinsic dimension in evaluation mode (NaN when not measured).
        dead: Whether the layer's activations have zero variance.
        in_tail: Whether the layer belongs to the tail.
        evidence: ``"receptive_field"``, ``"saturation"``, ``"both"`` or ``"neither"``.
        probe_accuracy: Linear-probe accuracy (NaN when not measured).
        extra: Extra columns of the table, read-only.

    Example:
        >>> row = LayerEvidence("conv1", "Conv2d", 432, 10, (16, 28, 28), 3.0, 3.0, False)
        >>> row.module_path, row.evidence
        ('conv1', 'neither')
    """

    module_path: str
    type: str
    params: int
    flops: int
    output_shape: tuple[int, ...] | None
    r_min: float
    r_max: float
    unproductive: bool
    saturation_train: float = float("nan")
    saturation_eval: float = float("nan")
    idim_train: float = float("nan")
    idim_eval: float = float("nan")
    dead: bool = False
    in_tail: bool = False
    evidence: str = "neither"
    probe_accuracy: float = float("nan")
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))
        if self.output_shape is not None:
            object.__setattr__(self, "output_shape", tuple(self.output_shape))

    @property
    def is_global(self) -> bool:
        """Whether the layer sees the whole input (an infinite ``r_max``)."""
        return self.r_max == float("inf")
