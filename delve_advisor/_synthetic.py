"""The built-in synthetic data set: small shapes at random positions on noisy backgrounds."""

from __future__ import annotations

from typing import Any

import numpy as np

from delve_advisor._data_spec import DataSpec, _spec_error
from delve_advisor.exceptions import InvalidArgumentError

SYNTHETIC_CLASSES = (
    "square",
    "frame",
    "disc",
    "ring",
    "plus",
    "cross",
    "triangle",
    "hbar",
    "vbar",
    "diamond",
)
_SHAPE = 7


def _templates() -> np.ndarray:
    yy, xx = np.mgrid[0:_SHAPE, 0:_SHAPE]
    c = _SHAPE // 2
    d2 = (yy - c) ** 2 + (xx - c) ** 2
    masks = [
        (abs(yy - c) <= 2) & (abs(xx - c) <= 2),  # square
        (yy == 0) | (yy == _SHAPE - 1) | (xx == 0) | (xx == _SHAPE - 1),  # frame
        d2 <= 9,  # disc
        (d2 >= 5) & (d2 <= 10),  # ring
        (yy == c) | (xx == c),  # plus
        (yy == xx) | (yy == _SHAPE - 1 - xx),  # cross
        2 * abs(xx - c) <= yy,  # triangle
        abs(yy - c) <= 1,  # hbar
        abs(xx - c) <= 1,  # vbar
        abs(yy - c) + abs(xx - c) <= c,  # diamond
    ]
    return np.stack(masks)


def synthetic_objects(n: int, *, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``n`` images of small shapes, balanced over the 10 :data:`SYNTHETIC_CLASSES`.

    Each image is a dark random background colour plus Gaussian noise, with one 7x7 shape in a
    bright random colour at a uniformly random position. Deterministic from ``seed``.

    Args:
        n: Number of images.
        size: Height and width in pixels (at least 7).
        seed: Seed of the random generator.

    Returns:
        ``x`` uint8 of shape (n, 3, size, size) and ``y`` int64 of shape (n,).

    Raises:
        InvalidArgumentError: ``n`` < 1 or ``size`` < 7.

    Example:
        >>> x, y = synthetic_objects(20, size=16)
        >>> x.shape, sorted(set(y.tolist())) == list(range(10))
        ((20, 3, 16, 16), True)
    """
    if not isinstance(n, int) or n < 1:
        raise InvalidArgumentError(f"n must be a positive int, got {n!r}")
    if not isinstance(size, int) or size < _SHAPE:
        raise InvalidArgumentError(f"size must be an int >= {_SHAPE}, got {size!r}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(SYNTHETIC_CLASSES))
    background = rng.uniform(0.0, 0.35, size=(n, 1, 1, 3)).astype(np.float32)
    canvas = rng.standard_normal(size=(n, size, size, 3), dtype=np.float32)
    canvas *= 0.06
    canvas += background
    colour = rng.uniform(0.6, 1.0, size=(n, 3)).astype(np.float32)
    top = rng.integers(0, size - _SHAPE + 1, size=n)
    left = rng.integers(0, size - _SHAPE + 1, size=n)
    image, dy, dx = np.nonzero(_templates()[labels])
    canvas[image, top[image] + dy, left[image] + dx] = colour[image]
    np.clip(canvas, 0.0, 1.0, out=canvas)
    x = (canvas * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), labels.astype(np.int64)


def _read_synthetic(spec: DataSpec, seed: int) -> tuple[Any, ...]:
    n = spec.options.get("n", 5000)
    n_val = spec.options.get("val", max(1, n // 5))
    size = spec.options.get("size", 32)
    if size < _SHAPE:
        raise _spec_error(
            spec.text, f"synthetic option 'size' must be at least {_SHAPE}, got {size}"
        )
    x, y = synthetic_objects(n + n_val, size=size, seed=seed)
    return x[:n], y[:n], x[n:], y[n:], SYNTHETIC_CLASSES
