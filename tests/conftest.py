"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Under pytest-xdist (`-n auto`, the README's command) every worker process would otherwise start
# torch with one thread per core: N workers x N threads oversubscribe the cores and run slower
# than one process. Each worker takes its share of the cores, and so do the processes it starts
# (CLI subprocesses, search workers) through OMP_NUM_THREADS.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = max(1, (os.cpu_count() or 1) // _WORKERS)
    torch.set_num_threads(_THREADS)
    os.environ["OMP_NUM_THREADS"] = str(_THREADS)

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
