"""Fixtures shared by the whole suite."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from torch import nn

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


#: Keyword arguments some torchvision builders need for a weightless 10-class build.
_TORCHVISION_KWARGS: dict[str, dict[str, Any]] = {
    "inception_v3": {"init_weights": False, "aux_logits": False},
    "googlenet": {"init_weights": False, "aux_logits": False},
}


def _cpu_block_params(original: Callable[..., Any]) -> Callable[..., Any]:
    """RegNet builders compute their block widths with tensors and read them back
    (``.tolist()``), which the meta device cannot: that arithmetic runs on the CPU."""

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with torch.device("cpu"):
            return original(*args, **kwargs)

    return wrapper


def build_on_meta(name: str, **kwargs: Any) -> nn.Module:
    """The torchvision model ``name`` without weights, built on the meta device (no memory, no
    initialisation: even RegNetY-128GF builds in milliseconds)."""
    kwargs = {"weights": None, **_TORCHVISION_KWARGS.get(name, {}), **kwargs}
    block_params = torchvision.models.regnet.BlockParams
    original = block_params.__dict__["from_init_params"]
    block_params.from_init_params = classmethod(_cpu_block_params(original.__func__))
    try:
        with torch.device("meta"):
            return torchvision.models.get_model(name, **kwargs)
    finally:
        block_params.from_init_params = original


@pytest.fixture
def meta_torchvision() -> Callable[..., nn.Module]:
    """:func:`build_on_meta`: a torchvision model by name, weightless, on the meta device."""
    return build_on_meta
