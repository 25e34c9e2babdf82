"""delve's documentation examples, run as a delve user runs them (tests/compat/README.md).

The scripts in ``scripts/`` are delve's published examples, changed only where a line is marked
``compat:`` (the import, ``device="cpu"``, fewer steps, no download). Each test runs one and
checks the files the documentation says it writes, with the values against a numpy reference
where the script leaves the data in reach.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from delve_advisor import SaturationTracker

SCRIPTS = Path(__file__).parent / "scripts"
REPO = Path(__file__).resolve().parents[2]


def _csv(path: Path) -> pd.DataFrame:
    assert path.is_file(), f"{path} was not written"
    return pd.read_csv(path, sep=";", index_col=0)


def test_gallery_extract_layer_saturation(tmp_path, monkeypatch, numpy_idim):
    """delve docs gallery "Extract layer saturation" (docs/source/gallery/extract-saturation.rst):
    TwoLayerNet regression, layers given as a list, ``save_to="plotcsv"``,
    ``stats=["lsat", "lsat_eval"]``, a train and a test pass per step, two hidden sizes."""
    monkeypatch.chdir(tmp_path)
    namespace = runpy.run_path(str(SCRIPTS / "gallery_extract_saturation.py"), run_name="__main__")

    for h in (3, 32):
        folder = tmp_path / "regression" / f"h{h}"
        frame = _csv(folder / "saturation.csv")
        assert len(frame) == 5  # one row per add_saturations() (5 steps)
        layer_columns = {
            f"{mode}-saturation_{layer}"
            for mode in ("train", "eval")
            for layer in ("linear1", "linear2")
        }
        assert layer_columns | {"train-loss", "test-loss"} == set(frame.columns)
        assert len(list((folder / "plots").glob("saturation_epoch*.png"))) == 5
        sat = frame[sorted(layer_columns)].to_numpy()
        assert ((sat > 0) & (sat <= 1)).all()
        assert np.allclose(frame["eval-saturation_linear1"] * h % 1, 0)  # k / h

    # The last step's test pass ran on the final model: check it against numpy.
    model, x_test = namespace["model"], namespace["x_test"]
    with torch.no_grad():
        hidden = model.linear1(x_test)
        out = model.linear2(hidden.clamp(min=0))
    last = _csv(tmp_path / "regression" / "h32" / "saturation.csv").iloc[-1]
    assert last["eval-saturation_linear1"] == pytest.approx(numpy_idim(hidden.numpy()) / 32)
    assert last["eval-saturation_linear2"] == pytest.approx(numpy_idim(out.numpy()) / 10)


def test_repository_example_with_check_layer_sat_and_csvplot(tmp_path, monkeypatch):
    """delve's examples/example.py: the old name ``CheckLayerSat``, ``save_to="csvplot"``, a
    list of layers, train passes only (so no eval columns although ``lsat_eval`` is asked for)."""
    monkeypatch.chdir(tmp_path)
    with pytest.warns(DeprecationWarning, match="CheckLayerSat"):
        runpy.run_path(str(SCRIPTS / "example_csvplot.py"), run_name="__main__")
    folder = tmp_path / "regression" / "h3"
    frame = _csv(folder / "saturation.csv")
    assert list(frame.columns) == ["train-saturation_linear1", "train-saturation_linear2"]
    assert len(frame) == 5
    assert len(list((folder / "plots").glob("*.png"))) == 5


def test_install_usage_snippet_with_a_module_dict(tmp_path, monkeypatch, numpy_idim):
    """delve docs "Installation - Usage" (docs/source/install.rst): an ``nn.ModuleDict`` with
    ``conv1`` and ``linear1``, the layers given as a list, ``save_to="plotcsv"``, ten steps.

    The snippet elides its data and calls ``model(x)``, which a ModuleDict cannot do; here each
    layer gets its own input. It passes no ``device``: delve's default ``cuda:0`` fails on a CPU
    machine (a known defect), delve-advisor follows the layers' device.
    """
    monkeypatch.chdir(tmp_path)
    model = nn.ModuleDict(
        {
            "conv1": nn.Conv2d(1, 8, 3, padding=1),
            "linear1": nn.Linear(3, 1),
        }
    )
    layers = [model.conv1, model.linear1]
    stats = SaturationTracker("regression/h3", save_to="plotcsv", modules=layers, stats=["lsat"])
    images, x, y = torch.randn(4, 1, 6, 6), torch.randn(16, 3), torch.randn(16, 1)
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    for _ in range(10):
        feature_maps = model["conv1"](images)
        y_pred = model["linear1"](x)
        loss = loss_fn(y_pred, y) + feature_maps.square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        stats.add_saturations()
    stats.close()

    frame = _csv(tmp_path / "regression" / "h3" / "saturation.csv")
    assert list(frame.columns) == ["train-saturation_conv1", "train-saturation_linear1"]
    assert len(frame) == 10
    assert (frame["train-saturation_linear1"] == 1.0).all()  # one output feature
    rows = feature_maps.detach().movedim(1, -1).reshape(-1, 8).numpy()  # the last step's maps
    assert frame["train-saturation_conv1"].iloc[-1] == pytest.approx(numpy_idim(rows) / 8)
    assert len(list((tmp_path / "regression" / "h3" / "plots").glob("*.png"))) == 10


def _tiny_run(savefile: Path, save_to: str) -> None:
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    with SaturationTracker(savefile, save_to=save_to, modules=model, stats=["lsat", "idim"]) as t:
        for _ in range(2):
            model.train()
            model(torch.randn(16, 6))
            model.eval()
            model(torch.randn(16, 6))
            t.add_scalar("loss", 1.0)
            t.add_saturations()


_FILES = {
    "csv": ["saturation.csv"],
    "plot": ["plots/saturation_epoch*.png"],
    "npy": [
        "npy/train-saturation_0/train-saturation_0_epoch1.npy",
        "npy/eval-intrinsic-dimensionality_2/eval-intrinsic-dimensionality_2_epoch0.npy",
        "npy/train-covariance-matrix_0/train-covariance-matrix_0_epoch0.npy",
    ],
    "tensorboard": ["tensorboard/events.out.tfevents.*"],
    "tb": ["tensorboard/events.out.tfevents.*"],
    "csvplot": ["saturation.csv", "plots/saturation_epoch*.png"],
    "plotcsv": ["saturation.csv", "plots/saturation_epoch*.png"],
    "csvplotting": ["saturation.csv", "plots/saturation_epoch*.png"],
}


@pytest.mark.parametrize("save_to", sorted(_FILES))
def test_every_save_strategy_delve_documents_writes_its_files(tmp_path, save_to):
    """The ``save_to`` names of delve 0.1.50's docstring and writer table each write their
    files (inside the ``savefile`` folder; see docs/saturation.md)."""
    if save_to in ("tensorboard", "tb"):
        pytest.importorskip("tensorboard")
    _tiny_run(tmp_path / "run", save_to)
    for pattern in _FILES[save_to]:
        assert list((tmp_path / "run").glob(pattern)), f"{save_to}: no {pattern}"


def test_print_strategy_prints_each_value(tmp_path, capsys):
    _tiny_run(tmp_path / "run", "print")
    out = capsys.readouterr().out
    assert "epoch 1 eval 2: ok" in out and "loss=1" in out
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


@pytest.mark.slow
def test_readme_demo_vgg16_with_plotcsv(tmp_path):
    """delve's README "Demo" (VGG16, CIFAR10, ``save_to="plotcsv"``, accuracy and loss added
    each epoch), on random FakeData images, 2 epochs, in its own process as a user runs it."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "readme_demo.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = tmp_path / "my_experiment"
    frame = _csv(folder / "saturation.csv")
    assert len(frame) == 2
    convs = [f"features.{i}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)]
    layers = [*convs, "classifier.0", "classifier.3", "classifier.6"]
    expected = {f"{m}-saturation_{layer}" for m in ("train", "eval") for layer in layers}
    assert expected | {"accuracy", "loss"} == set(frame.columns)
    assert frame[sorted(expected)].notna().all().all()
    assert len(list((folder / "plots").glob("saturation_epoch*.png"))) == 2
