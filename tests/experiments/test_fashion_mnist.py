"""experiments/fashion_mnist: the statistics against independent references, and the whole
experiment (run.py, then summarise.py) end to end on a tiny IDX data set so it cannot rot."""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

EXPERIMENT = Path(__file__).resolve().parents[2] / "experiments" / "fashion_mnist"


def _module(name: str):
    if str(EXPERIMENT) not in sys.path:
        sys.path.insert(0, str(EXPERIMENT))
    spec = importlib.util.spec_from_file_location(f"fmnist_{name}", EXPERIMENT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


stats = _module("stats")


def _t_sf_by_integration(t: float, df: float) -> float:
    """P(T > t) by integrating Student's t density numerically (an independent reference)."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    # Substitute x = t + u / (1 - u) to map [t, inf) onto [0, 1).
    u = np.linspace(0.0, 1.0, 400_001)[:-1]
    x = t + u / (1 - u)
    density = np.exp(log_c - (df + 1) / 2 * np.log1p(x * x / df)) / (1 - u) ** 2
    return float(np.trapezoid(density, u))


@pytest.mark.parametrize(("t", "df"), [(0.5, 3.0), (2.0, 10.0), (2.5, 4.3), (4.0, 2.0), (1.0, 30)])
def test_student_t_sf_matches_numerical_integration(t: float, df: float) -> None:
    assert stats.student_t_sf(t, df) == pytest.approx(_t_sf_by_integration(t, df), rel=1e-5)


def test_student_t_sf_table_values_and_symmetry() -> None:
    # Two-sided 5 % critical values from the t table: df 10 -> 2.228, df 4 -> 2.776.
    assert 2 * stats.student_t_sf(2.228, 10) == pytest.approx(0.05, abs=2e-4)
    assert 2 * stats.student_t_sf(2.776, 4) == pytest.approx(0.05, abs=2e-4)
    assert stats.student_t_sf(0.0, 7) == pytest.approx(0.5)
    assert stats.student_t_sf(-1.3, 5) == pytest.approx(1 - stats.student_t_sf(1.3, 5))
    # df = 1 is the Cauchy distribution: P(T > t) = 1/2 - atan(t)/pi.
    assert stats.student_t_sf(3.0, 1) == pytest.approx(0.5 - math.atan(3.0) / math.pi)


def test_regularized_beta_closed_forms() -> None:
    # I_x(a, 1) = x^a and I_x(1, b) = 1 - (1 - x)^b.
    assert stats.regularized_beta(2.5, 1.0, 0.3) == pytest.approx(0.3**2.5)
    assert stats.regularized_beta(1.0, 3.0, 0.4) == pytest.approx(1 - 0.6**3)
    with pytest.raises(ValueError, match="x must be in"):
        stats.regularized_beta(1.0, 1.0, 1.5)


def test_welch_by_hand() -> None:
    a, b = [0.90, 0.92, 0.91], [0.88, 0.89, 0.87]
    result = stats.welch(a, b)
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 3
    t = (np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    assert result.diff == pytest.approx(0.03)
    assert result.t == pytest.approx(t)
    assert result.df == pytest.approx(df)
    assert result.p == pytest.approx(2 * _t_sf_by_integration(abs(t), df), rel=1e-4)
    assert stats.welch(b, a).t == pytest.approx(-t)
    with pytest.raises(ValueError, match="at least 2 values"):
        stats.welch([0.9], b)


def _write_idx(folder: Path, name: str, array: np.ndarray) -> None:
    magic = 0x0800 + array.ndim  # unsigned bytes, then the number of dimensions
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape)
    with gzip.open(folder / f"{name}.gz", "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_fashion_mnist(tmp_path: Path) -> Path:
    """An IDX folder in Fashion-MNIST's layout: 160 training and 80 test images, 10 classes."""
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 160), ("t10k", 80)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, size=(n, 28, 28))
        for i, label in enumerate(labels):  # a bright bar whose row is the class
            images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
        _write_idx(raw, f"{split}-images-idx3-ubyte", images)
        _write_idx(raw, f"{split}-labels-idx1-ubyte", labels)
    return tmp_path / "FashionMNIST"


@pytest.mark.slow
def test_experiment_end_to_end(tiny_fashion_mnist: Path, tmp_path: Path) -> None:
    run = _module("run")
    summarise = _module("summarise")
    out = tmp_path / "results"
    argv = [
        "--budget",
        "tiny",
        "--data",
        str(tiny_fashion_mnist),
        "--out",
        str(out),
        "--work",
        str(tmp_path / "work"),
        "--archs",
        "resnet18",
        "matched",
        "--arms",
        "baseline",
        "first",
    ]
    assert run.main(argv) == 0

    advice = json.loads((out / "resnet18" / "advice.json").read_text())
    first = json.loads((out / "resnet18" / "first" / "seed0.json").read_text())
    base = json.loads((out / "resnet18" / "baseline" / "seed0.json").read_text())
    # The first arm is the report's first suggestion, applied unattended (coupled edits may add).
    suggested = advice["suggestions"][0]["edits"]
    assert first["edits"][: len(suggested)] == suggested
    assert first["kind"] == advice["suggestions"][0]["kind"]
    assert base["edits"] == [] and 0.0 <= base["test_accuracy"] <= 1.0
    assert first["flops"] != base["flops"]
    assert first["report"]["per_layer"] and "tail_length" in first["report"]
    assert json.loads((out / "matched" / "check.json").read_text())["ok"] is True
    assert not (out / "resnet18" / "search").exists()

    # Resumable: a second run skips the finished runs and leaves their files alone.
    stamp = (out / "resnet18" / "first" / "seed0.json").stat().st_mtime_ns
    assert run.main(argv) == 0
    assert (out / "resnet18" / "first" / "seed0.json").stat().st_mtime_ns == stamp

    assert summarise.main([str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert "| baseline | none | 1 |" in summary
    assert "set_stride conv1" in summary
    assert "check passed" in summary
    assert (out / "accuracy_vs_flops.png").stat().st_size > 0
    rows = json.loads((out / "summary.json").read_text())
    assert [r["arm"] for r in rows["resnet18"]] == ["baseline", "first"]
