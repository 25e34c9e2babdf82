"""Checking image sizes given as one int or an (H, W) pair."""

from __future__ import annotations

from typing import Any

from delve_advisor.exceptions import InvalidArgumentError


def image_size(value: Any, name: str = "input_size") -> tuple[int, int]:
    """Returns ``(H, W)`` from an int (square) or a pair of positive ints.

    Raises:
        InvalidArgumentError: ``value`` is neither, or not positive; the message names ``name``.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        size = (value, value)
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(s, int) and not isinstance(s, bool) for s in value)
    ):
        size = (int(value[0]), int(value[1]))
    else:
        raise InvalidArgumentError(f"{name} must be an int or (H, W) ints, got {value!r}")
    if min(size) < 1:
        raise InvalidArgumentError(f"{name} must be positive, got {value!r}")
    return size
