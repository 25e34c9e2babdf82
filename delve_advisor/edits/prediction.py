"""What an edit changes, measured: parameters, FLOPs, feasible input range, unproductive layers.

:func:`predict` measures a model at one input size; :class:`Prediction` is the frozen record a
suggestion and an :class:`~delve_advisor.edits.EditResult` carry as ``before`` / ``after``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from torch import nn

from delve_advisor._meta import meta_copy
from delve_advisor.cost import count_parameters, total_flops
from delve_advisor.exceptions import InvalidArgumentError, ReportFormatError
from delve_advisor.graph import receptive_field

__all__ = ["Prediction", "predict"]


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"{where} must be a non-negative integer, got {value!r}")
    if not math.isfinite(value) or value != int(value) or value < 0:
        raise InvalidArgumentError(f"{where} must be a non-negative integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Prediction:
    """Model metrics before or after an edit, at one input size.

    Args:
        params: Number of parameters.
        flops: FLOPs of one forward pass at the input size, batch 1.
        input_range: Feasible input range ``(low, high)`` along the first spatial axis, or None
            when it is unknown.
        unproductive: Number of unproductive layers at the input size.
        receptive_field: Optional map from module path to r_max; ``math.inf`` marks a global
            layer. Stored read-only, like the rest of the record.

    Raises:
        InvalidArgumentError: A field is outside its valid values (the message names it).

    Example:
        >>> from delve_advisor.edits import Prediction
        >>> p = Prediction(params=10, flops=20, input_range=[3, 40], unproductive=0)
        >>> Prediction.from_dict(p.to_dict()) == p
        True
    """

    params: int
    flops: int
    input_range: tuple[int, int] | None
    unproductive: int
    receptive_field: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "params", _count(self.params, "Prediction.params"))
        put(self, "flops", _count(self.flops, "Prediction.flops"))
        put(self, "unproductive", _count(self.unproductive, "Prediction.unproductive"))
        if self.input_range is not None:
            rng = self.input_range
            if not isinstance(rng, Sequence) or isinstance(rng, str) or len(rng) != 2:
                raise InvalidArgumentError(
                    f"Prediction.input_range must be a pair (low, high) or None, got {rng!r}"
                )
            low = _count(rng[0], "Prediction.input_range[0]")
            high = _count(rng[1], "Prediction.input_range[1]")
            put(self, "input_range", (low, high))
        if self.receptive_field is not None:
            if not isinstance(self.receptive_field, Mapping):
                raise InvalidArgumentError(
                    "Prediction.receptive_field must be a dict module path -> r_max, got "
                    f"{type(self.receptive_field).__name__}"
                )
            rf = {}
            for name, value in self.receptive_field.items():
                where = f"Prediction.receptive_field[{name!r}]"
                if not isinstance(name, str):
                    raise InvalidArgumentError(f"{where}: keys must be module paths (str)")
                if value is None:  # JSON encoding of a global (infinite) receptive field
                    value = math.inf
                if (
                    isinstance(value, bool)
                    or not isinstance(value, numbers.Real)
                    or math.isnan(value)
                    or value < 0
                ):
                    raise InvalidArgumentError(
                        f"{where} must be a non-negative number or math.inf, got {value!r}"
                    )
                rf[name] = float(value)
            put(self, "receptive_field", MappingProxyType(rf))

    def __hash__(self) -> int:
        rf = None if self.receptive_field is None else tuple(sorted(self.receptive_field.items()))
        return hash((self.params, self.flops, self.input_range, self.unproductive, rf))

    def __reduce__(self) -> tuple[Any, ...]:  # the read-only mapping does not pickle as it is
        return (Prediction.from_dict, (self.to_dict(),))

    def to_dict(self) -> dict[str, Any]:
        """Returns the prediction as plain JSON data (an infinite r_max becomes None)."""
        rf = self.receptive_field
        return {
            "params": self.params,
            "flops": self.flops,
            "input_range": None if self.input_range is None else list(self.input_range),
            "unproductive": self.unproductive,
            "receptive_field": None
            if rf is None
            else {k: (v if math.isfinite(v) else None) for k, v in rf.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prediction:
        """Builds a prediction from :meth:`to_dict` output.

        Raises:
            ReportFormatError: ``data`` is not a mapping or a required key is missing.
        """
        if not isinstance(data, Mapping):
            raise ReportFormatError(
                f"a prediction must be a JSON object, got {type(data).__name__}"
            )
        missing = [k for k in ("params", "flops", "input_range", "unproductive") if k not in data]
        if missing:
            raise ReportFormatError(f"a prediction lacks the keys {missing}")
        return cls(
            params=data["params"],
            flops=data["flops"],
            input_range=data["input_range"],
            unproductive=data["unproductive"],
            receptive_field=data.get("receptive_field"),
        )


def _input_range(analysis: Any) -> tuple[int, int] | None:
    low, high = analysis.input_range()[0]
    if low is None or high is None or not math.isfinite(high):
        return None
    return int(low), math.ceil(high)


def predict(model: nn.Module, input_size: Sequence[int], analysis: Any = None) -> Prediction:
    """Measures parameters, FLOPs, feasible range, unproductive count and receptive fields.

    The receptive-field analysis and the FLOP count run on a meta-device copy of ``model``
    (no arithmetic, the model itself is not touched); a model whose forward pass reads tensor
    values falls back to running on its own device.

    Args:
        model: The model.
        input_size: (C, H, W).
        analysis: Its receptive-field analysis at ``input_size``, if already computed.

    Returns:
        The prediction.

    Raises:
        InputSizeError: The model cannot run at ``input_size``.

    Example:
        >>> from delve_advisor.edits import predict
        >>> from delve_advisor.testing import matched_cnn
        >>> p = predict(matched_cnn(), (1, 28, 28))
        >>> p.params, p.unproductive, p.receptive_field["6"]
        (14634, 0, 20.0)
    """
    size = tuple(int(v) for v in input_size)
    work = meta_copy(model)
    if analysis is None:
        try:
            analysis = receptive_field(work, input_size=size)
        except Exception:
            analysis = receptive_field(model, input_size=size)
    try:
        flops = total_flops(work, size)
    except Exception:
        flops = total_flops(model, size)
    return Prediction(
        params=count_parameters(model),
        flops=flops,
        input_range=_input_range(analysis),
        unproductive=len(analysis.unproductive(size[1:])),
        receptive_field={
            layer.module_path: max(layer.r_max)
            for layer in analysis.layers
            if layer.module_path is not None and layer.is_spatial
        },
    )
