"""A prediction: model metrics before or after a suggestion, as a frozen record."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from delve_advisor.exceptions import InvalidArgumentError
from delve_advisor.report._normalise import as_count, jsonable, require_keys

__all__ = ["Prediction"]


@dataclass(frozen=True)
class Prediction:
    """Model metrics before or after a suggestion, at the report's input size.

    The record is frozen; the constructor checks and normalises every field once.

    Args:
        params: Number of parameters.
        flops: FLOPs of one forward pass at the input size, batch 1.
        input_range: Feasible input range ``(low, high)`` along the first spatial axis, or None
            when it is unknown.
        unproductive: Number of unproductive layers at the input size.
        receptive_field: Optional map from module path to r_max after the edit; ``math.inf``
            marks a global layer. Stored read-only.

    Raises:
        InvalidArgumentError: A field is outside its valid values; the message names it.

    Example:
        >>> p = Prediction(params=10, flops=100, input_range=[8, 32], unproductive=1)
        >>> p.input_range
        (8, 32)
        >>> Prediction.from_dict(p.to_dict()) == p
        True
    """

    params: int
    flops: int
    input_range: tuple[int, int] | None
    unproductive: int
    receptive_field: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        _set = object.__setattr__
        _set(self, "params", as_count(self.params, "Prediction.params"))
        _set(self, "flops", as_count(self.flops, "Prediction.flops"))
        _set(self, "unproductive", as_count(self.unproductive, "Prediction.unproductive"))
        if self.input_range is not None:
            rng = self.input_range
            if not isinstance(rng, Sequence) or isinstance(rng, str) or len(rng) != 2:
                raise InvalidArgumentError(
                    f"Prediction.input_range must be a pair (low, high) or None, got {rng!r}"
                )
            low = as_count(rng[0], "Prediction.input_range[0]")
            high = as_count(rng[1], "Prediction.input_range[1]")
            _set(self, "input_range", (low, high))
        if self.receptive_field is not None:
            _set(self, "receptive_field", MappingProxyType(_check_rf(self.receptive_field)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prediction):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.params, self.flops, self.input_range, self.unproductive))

    def to_dict(self) -> dict[str, Any]:
        """Returns the prediction as plain JSON data (an infinite r_max becomes None)."""
        rf = None if self.receptive_field is None else dict(self.receptive_field)
        return {
            "params": self.params,
            "flops": self.flops,
            "input_range": None if self.input_range is None else list(self.input_range),
            "unproductive": self.unproductive,
            "receptive_field": jsonable(rf, "Prediction.receptive_field"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prediction:
        """Builds a prediction from :meth:`to_dict` output.

        Args:
            data: The plain-data form.

        Returns:
            The prediction.

        Raises:
            ReportFormatError: A required key is missing.
        """
        require_keys(data, ("params", "flops", "input_range", "unproductive"), "prediction")
        return cls(
            params=data["params"],
            flops=data["flops"],
            input_range=data["input_range"],
            unproductive=data["unproductive"],
            receptive_field=data.get("receptive_field"),
        )


def _check_rf(receptive_field: Any) -> dict[str, float]:
    if not isinstance(receptive_field, Mapping):
        raise InvalidArgumentError(
            "Prediction.receptive_field must be a dict module path -> r_max, got "
            f"{type(receptive_field).__name__}"
        )
    rf = {}
    for name, value in receptive_field.items():
        where = f"Prediction.receptive_field[{name!r}]"
        if not isinstance(name, str):
            raise InvalidArgumentError(f"{where}: keys must be module paths (str)")
        if value is None:  # JSON encoding of a global (infinite) receptive field
            value = math.inf
        if not isinstance(value, numbers.Real) or math.isnan(value) or value < 0:
            raise InvalidArgumentError(
                f"{where} must be a non-negative number or math.inf, got {value!r}"
            )
        rf[name] = float(value)
    return rf
