"""Layer handlers: rows x features for every layer type of the DESIGN.md table."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from delve_advisor.exceptions import DuplicateRegistrationError, UnknownNameError
from delve_advisor.saturation import (
    HandlerConfig,
    LayerHandler,
    get_layer_handler,
    register_layer_handler,
)
from delve_advisor.saturation.handlers import _HANDLERS


def _rows(module, output, **config):
    """The handler's rows as a 2-D matrix (handlers may return (..., features))."""
    rows = get_layer_handler(module).to_rows(module, output, HandlerConfig(**config))
    return rows.reshape(-1, rows.shape[-1])


def test_linear_on_tokens_keeps_every_token():
    layer = nn.Linear(4, 3)
    out = torch.randn(2, 5, 3)
    rows = _rows(layer, out)
    assert rows.shape == (10, 3)
    np.testing.assert_array_equal(rows[7].numpy(), out[1, 2].numpy())


@pytest.mark.parametrize(
    "conv",
    [nn.Conv1d(2, 3, 1), nn.Conv2d(2, 3, 1), nn.Conv3d(2, 3, 1), nn.ConvTranspose2d(2, 3, 1)],
)
def test_conv_channelwise_rows_are_positions(conv):
    out = torch.randn((2, 3) + (4,) * (conv.weight.dim() - 2))
    rows = _rows(conv, out)
    reference = np.moveaxis(out.numpy(), 1, -1).reshape(-1, 3)
    np.testing.assert_array_equal(rows.numpy(), reference)


@pytest.mark.parametrize(("method", "reduce"), [("mean", np.mean), ("max", np.max)])
def test_conv_pooled_methods(method, reduce):
    out = torch.randn(4, 3, 5, 6)
    rows = _rows(nn.Conv2d(1, 3, 1), out, conv_method=method)
    np.testing.assert_allclose(rows.numpy(), reduce(out.numpy(), axis=(2, 3)), atol=1e-6)


def test_conv_median_and_flatten():
    out = torch.randn(4, 3, 3, 3)  # 9 positions: the median is the middle value
    rows = _rows(nn.Conv2d(1, 3, 1), out, conv_method="median")
    np.testing.assert_array_equal(rows.numpy(), np.median(out.numpy().reshape(4, 3, 9), axis=2))
    flat = _rows(nn.Conv2d(1, 3, 1), out, conv_method="flatten")
    assert flat.shape == (4, 27)


def test_spatial_samples_and_interpolation_bound_rows():
    out = torch.randn(2, 3, 40, 40)
    assert _rows(nn.Conv2d(1, 3, 1), out, spatial_samples=10).shape == (20, 3)
    shrunk = _rows(
        nn.Conv2d(1, 3, 1), out, interpolation_strategy="nearest", interpolation_downsampling=8
    )
    assert shrunk.shape == (2 * 64, 3)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
@pytest.mark.parametrize("batch_first", [False, True])
def test_recurrent_reads_along_time_for_both_layouts(cls, batch_first):
    torch.manual_seed(0)
    rnn = cls(input_size=3, hidden_size=4, batch_first=batch_first)
    x = torch.randn(5, 7, 3) if batch_first else torch.randn(7, 5, 3)  # N=5, T=7
    output = rnn(x)
    seq = output[0] if batch_first else output[0].transpose(0, 1)  # (N, T, H)
    last = _rows(rnn, output)
    np.testing.assert_array_equal(last.detach().numpy(), seq[:, -1].detach().numpy())
    steps = _rows(rnn, output, timeseries_method="timestepwise")
    assert steps.shape == (35, 4)
    np.testing.assert_array_equal(steps[7 * 2 + 3].detach().numpy(), seq[2, 3].detach().numpy())


def test_packed_sequence_uses_each_sequence_own_last_step():
    torch.manual_seed(0)
    lstm = nn.LSTM(2, 3, batch_first=True)
    x = torch.randn(3, 5, 2)
    lengths = torch.tensor([5, 3, 2])
    output = lstm(pack_padded_sequence(x, lengths, batch_first=True))
    rows = _rows(lstm, output)
    for i, n in enumerate(lengths.tolist()):
        expected = lstm(x[i : i + 1, :n])[0][0, -1]
        np.testing.assert_allclose(rows[i].detach().numpy(), expected.detach().numpy(), atol=1e-6)
    assert _rows(lstm, output, timeseries_method="timestepwise").shape == (10, 3)


def test_bad_method_names_list_the_valid_ones():
    with pytest.raises(UnknownNameError, match="channelwise, mean, max, median, flatten"):
        HandlerConfig(conv_method="avg")
    with pytest.raises(ValueError, match="last_timestep, timestepwise"):
        HandlerConfig(timeseries_method="last")


class _Custom(nn.Module):
    def forward(self, x):
        return x * 2


class _CustomHandler(LayerHandler):
    def to_rows(self, module, output, config):
        return output.reshape(output.shape[0], -1)


def test_registry_dispatches_on_type_and_inherits_to_subclasses():
    class MyConv(nn.Conv2d):
        pass

    assert get_layer_handler(MyConv(1, 1, 1)) is get_layer_handler(nn.Conv2d(1, 1, 1))
    assert get_layer_handler(nn.ReLU()) is None
    try:
        register_layer_handler(_Custom, _CustomHandler())
        assert isinstance(get_layer_handler(_Custom()), _CustomHandler)
        with pytest.raises(DuplicateRegistrationError, match="override=True"):
            register_layer_handler(_Custom, _CustomHandler())
        register_layer_handler(_Custom, _CustomHandler(), override=True)
    finally:
        _HANDLERS.unregister(_Custom)
