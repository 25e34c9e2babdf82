"""Frozen records of one epoch's saturation statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from delve_advisor.saturation.spectrum import STAT_NAMES

__all__ = ["HISTORY_COLUMNS", "MODES", "EpochResult", "LayerSaturation", "column_name"]

MODES = ("train", "eval")
#: The columns of a saturation history in long format: one row per epoch, mode, layer and
#: statistic. The tracker's history adds a ``status`` column; a report's history has these.
HISTORY_COLUMNS: tuple[str, ...] = ("epoch", "mode", "layer", "stat", "value")


def column_name(mode: str, stat: str, layer: str) -> str:
    """The delve-compatible key of one value: ``"train-saturation_layer1.0.conv1"``."""
    return f"{mode}-{STAT_NAMES[stat]}_{layer}"


@dataclass(frozen=True)
class LayerSaturation:
    """Statistics of one layer in one mode (train or eval) for one epoch.

    Attributes:
        layer: The module's qualified name (``layer1.0.conv1``).
        mode: ``"train"`` or ``"eval"``.
        status: ``"ok"``, ``"dead"`` (no variance at all), ``"no data"`` (nothing recorded) or
            ``"non-finite"`` (NaN or infinite activations were recorded).
        num_rows: Rows recorded since the last reset.
        num_features: Feature-space dimension d (0 when unknown).
        stats: Statistic name -> value (scalars, or arrays for ``cov`` and ``embed``).
        eigenvalues: The spectrum (descending), or ``None`` when not computed.

    Example:
        >>> import torch
        >>> from delve_advisor.saturation import SaturationTracker
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2))
        >>> with SaturationTracker("unused", save_to=[], modules=net) as tracker:
        ...     _ = net(torch.randn(8, 3))
        ...     _ = tracker.add_saturations()
        >>> record = tracker.last_result.records[("train", "0")]
        >>> record.status, record.num_rows, record.num_features
        ('ok', 8, 2)
    """

    layer: str
    mode: str
    status: str
    num_rows: int
    num_features: int
    stats: dict[str, Any] = field(default_factory=dict)
    eigenvalues: np.ndarray | None = None

    def scalar(self, stat: str) -> float:
        """The value of a scalar statistic, NaN when absent."""
        value = self.stats.get(stat, math.nan)
        return float(value) if np.ndim(value) == 0 else math.nan


@dataclass(frozen=True)
class EpochResult:
    """Everything one ``add_saturations()`` call computed.

    Attributes:
        epoch: The epoch the values belong to.
        layers: Layer names in forward order (first-seen order in the forward pass).
        records: ``(mode, layer)`` -> :class:`LayerSaturation`.
        values: delve-compatible flat dict (``"train-saturation_<layer>"`` -> value).
        averages: Mode -> average saturation over layers with data (when requested).

    Example:
        >>> import torch
        >>> from delve_advisor.saturation import SaturationTracker
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2))
        >>> with SaturationTracker("unused", save_to=[], modules=net) as tracker:
        ...     _ = net(torch.randn(8, 3))
        ...     _ = tracker.add_saturations()
        >>> tracker.last_result.epoch, tracker.last_result.layers
        (0, ['0'])
    """

    epoch: int
    layers: list[str]
    records: dict[tuple[str, str], LayerSaturation]
    values: dict[str, Any]
    averages: dict[str, float] = field(default_factory=dict)

    @property
    def modes(self) -> list[str]:
        """Modes present in this result, train first."""
        present = {mode for mode, _ in self.records}
        return [m for m in MODES if m in present]

    def scalar_values(self) -> dict[str, float]:
        """The scalar entries of :attr:`values` (covariances and embeddings left out)."""
        return {k: float(v) for k, v in self.values.items() if np.ndim(v) == 0}
