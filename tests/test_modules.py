"""Running a user's model without changing it: devices, dtypes, and every module's own mode."""

import torch
from torch import nn

from delve_advisor._modules import device_and_dtype, eval_mode
from delve_advisor.advisor.probes import probe_accuracy
from delve_advisor.edits import output_signature
from delve_advisor.testing import matched_cnn


def _mixed():
    model = matched_cnn()
    model.train()
    model[3].eval()  # one frozen module inside a training model
    return model


def _modes(model):
    return [m.training for m in model.modules()]


def test_eval_mode_restores_each_module_flag_even_after_an_error():
    model = _mixed()
    before = _modes(model)
    try:
        with eval_mode(model):
            assert not any(_modes(model))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert _modes(model) == before


def test_device_and_dtype_follow_the_first_floating_tensor():
    assert device_and_dtype(nn.Linear(2, 2).double()) == (torch.device("cpu"), torch.float64)
    assert device_and_dtype(nn.ReLU()) == (torch.device("cpu"), torch.get_default_dtype())


def test_probes_and_output_checks_keep_mixed_modes():
    model = _mixed()
    before = _modes(model)
    output_signature(model, (1, 28, 28))
    batches = [(torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))]
    probe_accuracy(model, ["0"], batches, batches, 10, steps=2)
    assert _modes(model) == before
