"""SaturationTracker: numbers against numpy float64, modes, sampling, lifecycle, bad input."""

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from delve_advisor import SaturationTracker
from delve_advisor.exceptions import NonFiniteActivationWarning, UnsupportedLayerError
from delve_advisor.saturation import compute_spectrum


def _net(dtype=torch.float64):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 6)
    ).to(dtype)


def _tracker(model, **kwargs):
    kwargs.setdefault("save_to", [])
    kwargs.setdefault("stats", ["lsat", "idim", "cov"])
    return SaturationTracker("unused", modules=model, **kwargs)


def _capture(model, batches):
    """Independent reference: outputs of each layer collected with our own hooks."""
    outs = {"0": [], "3": []}
    handles = [
        model[0].register_forward_hook(lambda m, i, o: outs["0"].append(o.detach())),
        model[3].register_forward_hook(lambda m, i, o: outs["3"].append(o.detach())),
    ]
    with torch.no_grad():
        for b in batches:
            model(b)
    for h in handles:
        h.remove()
    conv = torch.cat([o.permute(0, 2, 3, 1).reshape(-1, 4) for o in outs["0"]]).numpy()
    return {"0": conv, "3": torch.cat(outs["3"]).numpy()}


def test_tracker_covariance_equals_numpy_on_all_rows():
    model = _net()
    batches = [torch.randn(n, 2, 5, 5, dtype=torch.float64) for n in (3, 17, 8)]
    reference = _capture(model, batches)
    with _tracker(model) as tracker:
        for b in batches:
            model(b)
        values = tracker.add_saturations()
    for layer, rows in reference.items():
        cov = np.cov(rows, rowvar=False, bias=True)
        ours = values[f"train-covariance-matrix_{layer}"]
        np.testing.assert_allclose(ours, cov, rtol=1e-6, atol=1e-12)
        eig = np.sort(np.linalg.eigvalsh(cov))[::-1]
        big = eig > 1e-6 * eig[0]
        ours_eig = compute_spectrum(ours).eigenvalues
        np.testing.assert_allclose(ours_eig[big], eig[big], rtol=1e-6)
        expected_idim = compute_spectrum(cov).idim(0.99)
        assert values[f"train-intrinsic-dimensionality_{layer}"] == expected_idim
        assert values[f"train-saturation_{layer}"] == expected_idim / rows.shape[1]


@pytest.mark.parametrize("method", ["mean", "max", "median"])
def test_pooled_conv_methods_match_numpy(method):
    model = _net()
    batches = [torch.randn(n, 2, 5, 5, dtype=torch.float64) for n in (9, 12)]
    with torch.no_grad():
        maps = torch.cat([model[0](b) for b in batches]).numpy().reshape(21, 4, 25)
    reduce = {"mean": np.mean, "max": np.max, "median": np.median}[method]
    cov = np.cov(reduce(maps, axis=2), rowvar=False, bias=True)
    with _tracker(model, conv_method=method) as tracker:
        for b in batches:
            model(b)
        ours = tracker.add_saturations()["train-covariance-matrix_0"]
    np.testing.assert_allclose(ours, cov, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_recurrent_layers_tracked_along_the_right_axis(cls, batch_first):
    torch.manual_seed(1)
    rnn = cls(3, 5, batch_first=batch_first).double()
    xs = [torch.randn(n, 6, 3, dtype=torch.float64) for n in (4, 9)]
    if not batch_first:
        xs = [x.transpose(0, 1) for x in xs]
    with torch.no_grad():
        last = [rnn(x)[0] for x in xs]
    last = torch.cat([o[:, -1] if batch_first else o[-1] for o in last]).numpy()
    with _tracker(rnn) as tracker:
        for x in xs:
            rnn(x)
        ours = tracker.add_saturations()[f"train-covariance-matrix_{type(rnn).__name__}"]
    np.testing.assert_allclose(ours, np.cov(last, rowvar=False, bias=True), rtol=1e-6, atol=1e-12)


def test_linear_on_tokens_uses_every_token():
    layer = nn.Linear(3, 4).double()
    x = torch.randn(6, 5, 3, dtype=torch.float64)
    with torch.no_grad():
        rows = layer(x).reshape(-1, 4).numpy()
    with _tracker(layer) as tracker:
        layer(x)
        ours = tracker.add_saturations()["train-covariance-matrix_Linear"]
    np.testing.assert_allclose(ours, np.cov(rows, rowvar=False, bias=True), rtol=1e-6)


def test_train_and_eval_are_separate_modes():
    model = _net()
    train_x = torch.randn(10, 2, 5, 5, dtype=torch.float64)
    eval_x = 3 * torch.randn(7, 2, 5, 5, dtype=torch.float64)
    with _tracker(model) as tracker:
        model(train_x)
        model.eval()
        model(eval_x)
        values = tracker.add_saturations()
    reference = _capture(model, [eval_x])
    np.testing.assert_allclose(
        values["eval-covariance-matrix_3"],
        np.cov(reference["3"], rowvar=False, bias=True),
        rtol=1e-6,
    )
    train_ref = _capture(model, [train_x])
    np.testing.assert_allclose(
        values["train-covariance-matrix_3"],
        np.cov(train_ref["3"], rowvar=False, bias=True),
        rtol=1e-6,
    )


def test_log_interval_counts_each_mode_on_its_own_and_max_samples_caps_rows():
    model = _net()
    with _tracker(model, log_interval=2, max_samples=250) as tracker:
        for _ in range(3):  # train calls 0, 1, 2 -> 0 and 2 recorded
            model(torch.randn(4, 2, 5, 5, dtype=torch.float64))
        model.eval()
        model(torch.randn(5, 2, 5, 5, dtype=torch.float64))  # eval call 0 -> recorded
        tracker.add_saturations()
        result = tracker.last_result
    assert result.records[("train", "3")].num_rows == 8
    assert result.records[("eval", "3")].num_rows == 5
    assert result.records[("train", "0")].num_rows == 200  # 8 samples x 25 positions
    with _tracker(model, max_samples=30) as tracker:
        model(torch.randn(4, 2, 5, 5, dtype=torch.float64))
        tracker.add_saturations()
        assert tracker.last_result.records[("eval", "0")].num_rows == 30


def test_reset_covariance_false_keeps_accumulating():
    model = _net()
    batches = [torch.randn(6, 2, 5, 5, dtype=torch.float64) for _ in range(2)]
    with _tracker(model, reset_covariance=False) as tracker:
        model(batches[0])
        tracker.add_saturations()
        model(batches[1])
        values = tracker.add_saturations()
    rows = _capture(model, batches)["3"]
    np.testing.assert_allclose(
        values["train-covariance-matrix_3"], np.cov(rows, rowvar=False, bias=True), rtol=1e-6
    )


def test_history_long_format_and_epochs():
    model = _net(torch.float32)
    with _tracker(model, stats=["lsat", "idim"]) as tracker:
        for _ in range(2):
            model(torch.randn(8, 2, 5, 5))
            tracker.add_scalar("loss", 0.5)
            tracker.add_saturations()
    history = tracker.history
    assert list(history.columns[:5]) == ["epoch", "mode", "layer", "stat", "value"]
    assert set(history.epoch) == {0, 1}
    assert set(history.stat) == {"lsat", "idim", "loss"}
    assert len(history[(history.stat == "lsat") & (history.epoch == 1)]) == 2


def test_dead_layer_is_reported_dead():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.fill_(1.0)
    with _tracker(model) as tracker:
        model(torch.randn(10, 3))
        tracker.add_saturations()
    record = tracker.last_result.records[("train", "1")]
    assert record.status == "dead" and record.stats["idim"] == 0 and record.stats["lsat"] == 0


def test_non_finite_activation_gives_nan_and_one_warning_then_continues():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    with _tracker(model) as tracker:
        model(torch.tensor([[float("nan"), 0.0, 0.0]] * 4))
        with pytest.warns(NonFiniteActivationWarning, match=r"layer '0'") as caught:
            values = tracker.add_saturations()
        assert math.isnan(values["train-saturation_0"])
        assert tracker.last_result.records[("train", "0")].status == "non-finite"
        assert len([w for w in caught if "'0'" in str(w.message)]) == 1
        model(torch.randn(10, 3))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values = tracker.add_saturations()
        assert 0 < values["train-saturation_0"] <= 1


def test_add_saturations_before_data_gives_no_data_entries():
    model = _net(torch.float32)
    with _tracker(model, stats=["lsat"]) as tracker:
        values = tracker.add_saturations()
    assert set(values) == {"train-saturation_0", "train-saturation_3"}
    assert all(math.isnan(v) for v in values.values())
    assert set(tracker.history.status) == {"no data"}


def test_unknown_stat_and_method_list_valid_names():
    with pytest.raises(ValueError, match="valid: idim, lsat, cov, det, logdet, trc, dtrc, embed"):
        _tracker(_net(), stats=["saturation"])
    with pytest.raises(ValueError, match="valid: channelwise, mean, max, median, flatten"):
        _tracker(_net(), conv_method="pooled")
    with pytest.raises(ValueError, match="unknown tracker output 'xls'"):
        _tracker(_net(), save_to="xls")


def test_nothing_trackable_names_the_supported_types():
    with pytest.raises(UnsupportedLayerError, match=r"Conv.*Linear.*register_layer_handler"):
        _tracker(nn.Sequential(nn.ReLU(), nn.BatchNorm1d(3)))
    with pytest.raises(UnsupportedLayerError):
        _tracker(_net(), include_conv=False, ignore_layer_names=["3"])


def test_layer_filter_include_conv_and_names():
    model = _net()
    assert _tracker(model, include_conv=False).layer_names == ["3"]
    assert _tracker(
        model, layer_filter=lambda d: {k: v for k, v in d.items() if k == "0"}
    ).layer_names == ["0"]


def test_hooks_removed_and_model_untouched():
    model = _net(torch.float32)
    before = {name: set(vars(m)) for name, m in model.named_modules()}
    x = torch.randn(4, 2, 5, 5, requires_grad=True)
    expected = model(x)
    expected.sum().backward()
    expected_grad = x.grad.clone()
    x.grad = None
    with _tracker(model) as tracker:
        out = model(x)
        out.sum().backward()
        torch.testing.assert_close(out, expected, rtol=0, atol=0)
        torch.testing.assert_close(x.grad, expected_grad, rtol=0, atol=0)
        tracker.add_saturations()
    assert all(not m._forward_hooks for m in model.modules())
    assert {name: set(vars(m)) for name, m in model.named_modules()} == before


def test_hooks_removed_after_a_module_that_raises():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2))  # second layer has the wrong width
    with pytest.raises(RuntimeError), _tracker(model):
        model(torch.randn(2, 3))
    assert all(not m._forward_hooks for m in model.modules())


def test_two_trackers_on_one_model_are_independent():
    model = _net(torch.float32)
    with _tracker(model) as first, _tracker(model, log_interval=2) as second:
        model(torch.randn(4, 2, 5, 5))
        model(torch.randn(4, 2, 5, 5))
        first.add_saturations()
        model(torch.randn(4, 2, 5, 5))
        second.add_saturations()
    assert first.last_result.records[("train", "3")].num_rows == 8
    assert second.last_result.records[("train", "3")].num_rows == 8  # calls 0 and 2
    assert first.epoch == 1 and second.epoch == 1


def test_stop_and_resume():
    model = _net(torch.float32)
    with _tracker(model) as tracker:
        tracker.stop()
        model(torch.randn(4, 2, 5, 5))
        tracker.resume()
        model(torch.randn(3, 2, 5, 5))
        tracker.add_saturations()
    assert tracker.last_result.records[("train", "3")].num_rows == 3


def test_embed_projects_onto_top_two_eigenvectors():
    model = nn.Linear(3, 3).double()
    with torch.no_grad():
        model.weight.copy_(torch.eye(3))
        model.bias.zero_()
    x = torch.randn(50, 3, dtype=torch.float64) * torch.tensor([10.0, 3.0, 0.1])
    with _tracker(model, stats=["embed"]) as tracker:
        model(x)
        embed = tracker.add_saturations()["train-embedded-sample_Linear"]
    assert embed.shape == (50, 2)
    centred = (x - x.mean(0)).numpy()
    _, vectors = np.linalg.eigh(np.cov(centred, rowvar=False, bias=True))
    expected = centred @ vectors[:, [2, 1]]  # top two, largest first; signs are arbitrary
    np.testing.assert_allclose(np.abs(embed), np.abs(expected), atol=1e-8)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_defaults_to_the_activations_device_and_dtype_is_kept(dtype):
    # the meta device, not the CPU default: the sums must follow the activations' device
    with torch.device("meta"):
        model = _net(dtype)
    with _tracker(model) as tracker:
        model(torch.randn(4, 2, 5, 5, device="meta", dtype=dtype))
        acc = tracker._states["3"].accumulators["train"]
        assert acc._gram is None  # 4 rows, 6 features: the rows are kept, no 6 x 6 sums yet
        cov = acc.covariance()
        assert cov.device.type == "meta" and cov.dtype == torch.float64
        model(torch.randn(4, 2, 5, 5, device="meta", dtype=dtype))  # 8 rows >= 6 features
        assert acc._gram_batch.device.type == "meta"
        assert acc._gram_batch.dtype == dtype  # the batch Gram matrix in the activation dtype
        cov = acc.covariance()
        assert cov.device.type == "meta" and cov.dtype == torch.float64  # sums in float64


# ---------------------------------------------------------------- delve's stat names and naming
DELVE_STATS = ["lsat", "idim", "cov", "det", "trc", "dtrc", "embed"]  # delve 0.1.50's list


@pytest.mark.parametrize("stat", DELVE_STATS)
def test_every_delve_stat_name_and_its_eval_form_is_accepted(stat):
    model = _net()
    with _tracker(model, stats=[stat, f"{stat}_eval"]) as tracker:
        model(torch.randn(6, 2, 5, 5, dtype=torch.float64))
        model.eval()
        model(torch.randn(6, 2, 5, 5, dtype=torch.float64))
        tracker.add_saturations()
    assert tracker.stats == [stat]
    assert set(tracker.last_result.modes) == {"train", "eval"}


def test_eval_form_alone_reports_eval_passes_only_and_matches_numpy():
    model = _net()
    train_batch = torch.randn(7, 2, 5, 5, dtype=torch.float64)
    eval_batch = torch.randn(9, 2, 5, 5, dtype=torch.float64)
    model.eval()
    reference = _capture(model, [eval_batch])
    model.train()
    with _tracker(model, stats=["idim_eval", "lsat_train"]) as tracker:
        model(train_batch)
        model.eval()
        model(eval_batch)
        values = tracker.add_saturations()
    assert set(values) == {
        "eval-intrinsic-dimensionality_0",
        "eval-intrinsic-dimensionality_3",
        "train-saturation_0",
        "train-saturation_3",
    }
    for layer, rows in reference.items():
        cov = np.cov(rows, rowvar=False, bias=True)
        eig = np.clip(np.sort(np.linalg.eigvalsh(cov))[::-1], 0, None)
        expected = int(np.argmax(np.cumsum(eig) >= 0.99 * eig.sum()) + 1)
        assert values[f"eval-intrinsic-dimensionality_{layer}"] == expected
    assert set(tracker.history["mode"]) == {"train", "eval"}
    assert set(tracker.history.query("mode == 'eval'")["stat"]) == {"idim"}


def test_eval_form_does_not_record_train_passes():
    model = _net()
    with _tracker(model, stats=["lsat_eval"]) as tracker:
        model(torch.randn(6, 2, 5, 5, dtype=torch.float64))
        values = tracker.add_saturations()  # only train passes so far: no data
        assert all(math.isnan(v) for v in values.values())
        assert set(values) == {"eval-saturation_0", "eval-saturation_3"}
        assert tracker._states["0"].accumulators["train"].num_rows == 0


def test_unknown_stat_suffix_names_the_forms():
    with pytest.raises(ValueError, match=r"\['lsat_foo'\] in stats; valid: idim, .*'<stat>_eval'"):
        _tracker(_net(), stats=["lsat", "lsat_foo"])
    with pytest.raises(ValueError, match=r"\['spectrum_eval'\]"):
        _tracker(_net(), stats=["spectrum_eval"])


class _TwoLayerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
        self.linear2 = nn.Linear(3, 2)

    def forward(self, x):
        return self.linear2(self.encoder(x))


def test_list_of_layers_named_by_the_model_in_the_callers_scope():
    model = _TwoLayerNet()
    encoder = model.encoder  # an inner holder in scope too: the outermost one names them
    tracker = _tracker([encoder[0], model.linear2])
    assert tracker.layer_names == ["encoder.0", "linear2"]
    model(torch.randn(5, 4))
    assert set(tracker.add_saturations()) >= {"train-saturation_encoder.0"}
    tracker.close()


def test_list_of_layers_without_a_parent_in_scope_gets_delve_names():
    tracker = _tracker([nn.Linear(4, 3), nn.Conv2d(1, 2, 3), nn.Sequential(nn.Linear(2, 2))])
    assert tracker.layer_names == ["Module-0-Linear", "Module-1-Conv2d", "Module-2-Sequential.0"]
    tracker.close()


def test_list_with_something_else_than_a_module_names_the_position():
    with pytest.raises(ValueError, match=r"modules\[1\] is a str, not an nn.Module"):
        _tracker([nn.Linear(2, 2), "linear2"])


def test_check_layer_sat_is_delve_s_old_name_with_a_warning():
    from delve_advisor import CheckLayerSat

    model = _TwoLayerNet()
    with pytest.warns(DeprecationWarning, match="use SaturationTracker"):
        tracker = CheckLayerSat("unused", save_to=[], modules=[model.linear2])
    assert isinstance(tracker, SaturationTracker)
    assert tracker.layer_names == ["linear2"]  # the caller's scope, not delve_advisor's
    tracker.close()


def test_a_wide_layer_on_few_rows_matches_numpy():
    """512 features seen on 3 batches of 16 rows (the dual path): idim as numpy float64 gives."""
    torch.manual_seed(3)
    layer = nn.Linear(8, 512)
    inputs = [torch.randn(16, 8) for _ in range(3)]
    with SaturationTracker("unused", save_to=[], modules=layer, stats=["idim", "trc"]) as t:
        for x in inputs:
            layer(x)
        values = t.add_saturations()
    with torch.no_grad():
        out = torch.cat([layer(x) for x in inputs]).double().numpy()
    eig = np.clip(np.linalg.eigvalsh(np.cov(out, rowvar=False, bias=True))[::-1], 0, None)
    expected_idim = int(np.searchsorted(np.cumsum(eig) / eig.sum(), 0.99 - 1e-12) + 1)
    assert values["train-intrinsic-dimensionality_Linear"] == expected_idim
    assert values["train-covariance-trace_Linear"] == pytest.approx(eig.sum(), rel=1e-5)
