"""Independent numpy references for the delve compatibility suite."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def _numpy_idim(rows: np.ndarray, threshold: float = 0.99) -> int:
    """Smallest k whose top-k eigenvalues of the population covariance reach ``threshold``."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, np.shape(rows)[-1])
    eig = np.clip(np.sort(np.linalg.eigvalsh(np.cov(rows, rowvar=False, bias=True)))[::-1], 0, None)
    if eig.sum() == 0:
        return 0
    return int(np.searchsorted(np.cumsum(eig) / eig.sum(), threshold - 1e-12) + 1)


@pytest.fixture
def numpy_idim() -> Callable[..., int]:
    """numpy's intrinsic dimension of a rows x features array (DESIGN.md definition)."""
    return _numpy_idim
