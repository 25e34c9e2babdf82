"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

#: ../shared beside the repository: the session's checkout and CI's clone both have it.
FASHION_MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "FashionMNIST"


@pytest.fixture
def fashion_mnist() -> Path:
    """The Fashion-MNIST folder (raw IDX files inside); skips when it is not there."""
    if not (FASHION_MNIST_DIR / "raw" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST not found at {FASHION_MNIST_DIR}")
    return FASHION_MNIST_DIR


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same random state."""
    torch.manual_seed(0)
