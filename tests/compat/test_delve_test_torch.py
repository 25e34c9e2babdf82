"""delve's own test suite (delve-team/delve ``tests/test_torch.py``), ported.

Each test names the delve test it ports. delve's tests run on ``cuda:0`` when available; these
run on ``device="cpu"``. Most of delve's tests only check that nothing raises (they end in
``return True``, which pytest ignores), so each port also asserts the values against a numpy
reference. Where delve's behaviour is one of its known defects (DESIGN.md "Lessons"), the test
asserts the correct value and says so. delve's two tests of its PCA layers
(``..._injecting_random_directions`` and ``..._change_threshold``) are not ported: delve-advisor
has no PCA layers (see tests/compat/README.md).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from torch import nn

from delve_advisor import SaturationTracker
from delve_advisor.saturation import CSVWriter, NPYWriter, PlotWriter, PrintWriter

DEVICE = "cpu"  # delve: "cuda:0" if torch.cuda.is_available() else "cpu"


class _Centering(nn.Module):
    """Stand-in for delve's ``LinearPCALayer`` / ``Conv2DPCALayer``: a custom module after the
    tracked layer that the tracker must leave alone (it is no layer type the tracker knows)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - x.mean(dim=0, keepdim=True)


def _outputs(module: nn.Module, *inputs: torch.Tensor) -> list[torch.Tensor]:
    """What ``module`` returns for each input (no tracker attached)."""
    with torch.no_grad():
        return [module(x) for x in inputs]


def test_dense_saturation_runs_with_many_writers(tmp_path, numpy_idim):
    """Port of ``test_dense_saturation_runs_with_many_writers``: one Linear, CSV + plots, npy and
    print writers given as instances, an extra scalar, one ``add_saturations()``."""
    model = nn.Sequential(nn.Linear(10, 88)).to(DEVICE)
    stream = io.StringIO()
    # delve's CSVandPlottingWriter(save_path, fontsize=16, primary_metric=...) is our CSV and
    # plot writers together (save_to="csvplot"); its keyword arguments are accepted and ignored.
    writers = [
        CSVWriter(tmp_path, fontsize=16, primary_metric="test_accuracy"),
        PlotWriter(tmp_path, fontsize=16, primary_metric="test_accuracy"),
        NPYWriter(tmp_path),
        PrintWriter(stream=stream),
    ]
    test_input = torch.randn(5, 10).to(DEVICE)
    (expected,) = _outputs(model, test_input)  # before the tracker: not recorded
    sat = SaturationTracker(tmp_path, writers, model, stats=["lsat", "idim"], device=DEVICE)
    _ = model(test_input)
    sat.add_scalar("test_accuracy", 1.0)
    values = sat.add_saturations()
    sat.close()

    idim = numpy_idim(expected.numpy())
    assert idim <= 4  # 5 centred samples span at most 4 directions
    assert values["train-intrinsic-dimensionality_0"] == idim
    assert values["train-saturation_0"] == pytest.approx(idim / 88)
    csv = (tmp_path / "saturation.csv").read_text()
    assert "test_accuracy" in csv and "train-saturation_0" in csv
    assert list((tmp_path / "plots").glob("*.png"))
    assert (tmp_path / "npy" / "train-saturation_0" / "train-saturation_0_epoch0.npy").is_file()
    assert "train 0: ok" in stream.getvalue() and "test_accuracy=1" in stream.getvalue()


def test_dense_saturation_runs(tmp_path):
    """Port of ``test_dense_saturation_runs``: construct with a CSV + plot writer, one forward."""
    model = nn.Sequential(nn.Linear(10, 88)).to(DEVICE)
    writer = [CSVWriter(tmp_path, fontsize=16), PlotWriter(tmp_path, fontsize=16)]
    x = torch.randn(5, 10).to(DEVICE)
    (expected,) = _outputs(model, x)
    tracker = SaturationTracker(tmp_path, writer, model, stats=["lsat", "idim"], device=DEVICE)
    out = model(x)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)  # the hook changes nothing
    assert tracker.layer_names == ["0"]  # delve names it "0" too
    assert not (tmp_path / "saturation.csv").exists()  # nothing written before add_saturations
    tracker.close()


@pytest.mark.parametrize(
    ("layer", "shape", "rows_per_pass"),
    [
        pytest.param(nn.Linear(10, 88), (5, 10), 5, id="dense"),
        pytest.param(nn.Conv2d(4, 88, (3, 3)), (32, 4, 10, 10), 32 * 8 * 8, id="conv"),
    ],
)
def test_saturation_runs_with_a_custom_module_after_the_layer(
    tmp_path, numpy_idim, layer, shape, rows_per_pass
):
    """Ports of ``test_dense_saturation_runs_with_pca`` and ``test_conv_saturation_runs_with_pca``:
    a layer followed by delve's PCA layer (here a stand-in custom module), a train pass and an
    eval pass. The custom module is not tracked; both modes are recorded separately."""
    model = nn.Sequential(layer, _Centering()).to(DEVICE)
    test_input = torch.randn(*shape).to(DEVICE)
    (expected,) = _outputs(layer, test_input)
    tracker = SaturationTracker(tmp_path, "csvplot", model, stats=["lsat", "idim"], device=DEVICE)
    _ = model(test_input)
    model.eval()
    _ = model(test_input)
    values = tracker.add_saturations()
    tracker.close()

    assert tracker.layer_names == ["0"]
    rows = expected.movedim(1, -1).reshape(-1, 88).numpy() if expected.dim() == 4 else expected
    rows = np.asarray(rows)
    assert rows.shape[0] == rows_per_pass
    for mode in ("train", "eval"):
        record = tracker.last_result.records[(mode, "0")]
        assert record.num_rows == rows_per_pass
        assert values[f"{mode}-intrinsic-dimensionality_0"] == numpy_idim(rows)


def test_lstm_saturation_runs(tmp_path, numpy_idim):
    """Port of ``test_lstm_saturation_runs``: a 2-layer LSTM inside a Sequential, the user
    setting ``lstm.name``, ``timeseries_method="timestepwise"``, one forward, ``close()``.

    delve flattens the time axis into the features (5 x 264 for this input); delve-advisor's
    ``timestepwise`` makes every time step a row (DESIGN.md): T*N = 15 rows of 88 features.
    """
    model = nn.Sequential().to(DEVICE)
    lstm = nn.LSTM(10, 88, 2)
    lstm.name = "lstm2"
    model.add_module("lstm", lstm)
    x = torch.randn(5, 3, 10).to(DEVICE)  # (T=5, N=3, F=10): batch_first=False
    (expected,) = _outputs(lstm, x)
    saturation = SaturationTracker(
        tmp_path,
        "csvplot",
        model,
        stats=["lsat", "idim"],
        timeseries_method="timestepwise",
        device=DEVICE,
    )
    _output, (_hn, _cn) = model(x)
    values = saturation.add_saturations()
    saturation.close()

    assert saturation.layer_names == ["lstm"]  # delve would use the user's lstm.name, "lstm2"
    assert lstm.name == "lstm2" and not lstm._forward_hooks
    assert saturation.last_result.records[("train", "lstm")].num_rows == 15
    assert values["train-intrinsic-dimensionality_lstm"] == numpy_idim(expected[0].numpy())


def test_lstm_saturation_embed_runs(tmp_path):
    """Port of ``test_lstm_saturation_embed_runs``: ``last_timestep`` with ``embed``; delve
    checks the rows kept for the embedding after each of two batches, (5, 88) then (8, 88).

    Both numbers encode delve defects, so this asserts the correct ones. The input is (5, 3, 10)
    with ``batch_first=False``: 3 sequences of 5 steps, so a batch gives 3 rows, not 5 (delve
    reads along the wrong axis); and the rows of both batches are kept, 3 then 6, not just the
    last batch's (delve replaces its statistics on every batch). delve reads its internal
    ``logs[...].saved_samples``; here the public ``embed`` values are read after each batch,
    with ``reset_covariance=False`` so that the second reading still holds the first batch.
    """
    model = nn.Sequential().to(DEVICE)
    lstm = nn.LSTM(10, 88, 2)
    model.add_module("lstm", lstm)
    first, second = torch.randn(5, 3, 10).to(DEVICE), torch.randn(8, 3, 10)
    expected = [out[-1] for out, _ in _outputs(lstm, first, second)]  # last step, (3, 88) each
    saturation = SaturationTracker(
        tmp_path,
        "csvplot",
        model,
        stats=["lsat", "idim", "embed"],
        timeseries_method="last_timestep",
        device=DEVICE,
        reset_covariance=False,
    )

    _output, (_hn, _cn) = model(first)
    embed = saturation.add_saturations()["train-embedded-sample_lstm"]
    assert embed.shape == (3, 2)  # delve: 5 rows

    _output, (_hn, _cn) = model(second)
    embed = saturation.add_saturations()["train-embedded-sample_lstm"]
    saturation.close()
    assert embed.shape == (6, 2)  # delve: 8 rows

    rows = torch.cat(expected).numpy().astype(np.float64)
    centred = rows - rows.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(rows, rowvar=False, bias=True))
    reference = centred @ vectors[:, ::-1][:, :2]
    signs = np.sign((embed * reference).sum(axis=0))  # eigenvectors are defined up to sign
    np.testing.assert_allclose(embed * signs, reference, rtol=1e-4, atol=1e-5)
