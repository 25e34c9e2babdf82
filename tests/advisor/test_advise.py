"""advise() end to end on small budgets: real data, the expected tails, no false alarm."""

import math
from html.parser import HTMLParser

import pytest
import torch
import torchvision

from delve_advisor import load_data, load_model
from delve_advisor.advisor.advise import advise
from delve_advisor.exceptions import InputSizeError, InvalidArgumentError, SpecError
from delve_advisor.report import validate_report
from delve_advisor.testing import matched_cnn


def _fmnist(fashion_mnist, size=None, limit=768):
    return load_data(
        f"fashion-mnist:{fashion_mnist}", input_size=size, batch_size=64, limit=limit, seed=0
    )


def test_resnet18_on_fashion_mnist_tail_in_the_last_stages(fashion_mnist):
    data = _fmnist(fashion_mnist)
    model = load_model("torchvision:resnet18", num_classes=10, in_channels=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = advise(model, data, input_size=28, epochs=1, progress=False)
    assert report.status == "ok"
    layers = report.layers.set_index("name")
    for name in ("layer4.0.conv1", "layer4.0.conv2", "layer4.1.conv1", "layer4.1.conv2"):
        assert layers.loc[name, "in_tail"] and layers.loc[name, "evidence"] == "both", name
    assert not layers.loc["layer1.0.conv1", "in_tail"]
    first = report.suggestions[0]
    assert first.kind == "drop_downsampling" and first.targets == ("conv1",)
    assert first.before.unproductive > first.after.unproductive
    assert report.history is not None and set(report.history["mode"]) == {"train", "eval"}
    # the caller's model is untouched: same weights, still in train mode, no hooks left
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training and all(not m._forward_hooks for m in model.modules())
    validate_report(report)


def test_matched_cnn_on_fashion_mnist_has_no_false_alarm(fashion_mnist):
    data = _fmnist(fashion_mnist, limit=1024)
    report = advise(matched_cnn(), data, input_size=28, epochs=2, progress=False)
    assert report.status == "ok"
    assert report.tail == () and report.suggestions == ()
    assert "No tail" in report.headline


@pytest.mark.slow
def test_vgg16_on_fashion_mnist_at_32(fashion_mnist):
    data = _fmnist(fashion_mnist, size=32, limit=256)
    model = load_model("torchvision:vgg16", num_classes=10, in_channels=1)
    # 2 training batches already give the whole 7-layer tail from features.14 (tail saturation
    # 0.15-0.16 in eval against 0.74 before it); each more batch costs 4 s in VGG-16's Adam step.
    report = advise(model, data, input_size=32, epochs=1, max_batches=2, progress=False)
    assert {"features.26", "features.28"} <= set(report.tail)
    assert report.suggestions[0].kind == "drop_downsampling"
    assert report.suggestions[0].targets == ("features.4",)


def test_graph_only_report_says_so():
    report = advise(matched_cnn(), input_size=(1, 28, 28))
    assert report.status == "graph_only" and report.history is None
    assert report.layers["saturation_eval"].isna().all()
    assert "graph alone" in report.to_markdown()


def test_eval_only_and_probes(fashion_mnist):
    data = _fmnist(fashion_mnist, limit=256)
    report = advise(matched_cnn(), data, input_size=28, train=False, probes=True, progress=False)
    assert report.status == "eval_only"
    probes = report.layers["probe_accuracy"]
    assert probes.notna().all() and ((probes >= 0) & (probes <= 1)).all()
    assert report.layers["saturation_train"].isna().all()
    assert report.layers["saturation_eval"].notna().all()


def test_diverging_model_ends_with_a_report_that_says_so(fashion_mnist):
    data = _fmnist(fashion_mnist, limit=256)
    report = advise(matched_cnn(), data, input_size=28, epochs=2, lr=1e30, progress=False)
    assert report.status == "diverged"
    assert "loss became nan" in report.meta["status_detail"]
    assert "diverged" in report.headline.lower()
    assert "diverged" in report.to_markdown().lower()


def test_channel_and_class_mismatch_are_reported_before_training(fashion_mnist):
    data = _fmnist(fashion_mnist, limit=64)
    rgb = torchvision.models.resnet18(num_classes=10)
    with pytest.raises(InputSizeError, match=r"3 channels.*1"):
        advise(rgb, data, input_size=28, progress=False)
    with pytest.raises(SpecError, match=r"1000 classes.*10"):
        advise(
            load_model("torchvision:resnet18", in_channels=1), data, input_size=28, progress=False
        )


def test_bad_arguments():
    with pytest.raises(InputSizeError, match=r"\(C, H, W\)"):
        advise(matched_cnn(), input_size=28)
    with pytest.raises(InvalidArgumentError, match="probes=True needs data"):
        advise(matched_cnn(), input_size=(1, 28, 28), probes=True)
    with pytest.raises(InvalidArgumentError, match="CUDA is not available"):
        if torch.cuda.is_available():
            pytest.skip("CUDA present")
        advise(matched_cnn(), input_size=(1, 28, 28), device="cuda")


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.ids.append(dict(attrs).get("id"))


def test_saved_report_has_every_plot(tmp_path, fashion_mnist):
    data = _fmnist(fashion_mnist, limit=256)
    report = advise(matched_cnn(), data, input_size=28, epochs=1, probes=True, progress=False)
    paths = report.save(tmp_path)
    parser = _Images()
    parser.feed(paths["html"].read_text())
    assert {"plot-saturation", "plot-receptive-field", "plot-combined"} <= set(parser.ids)
    assert not math.isnan(report.meta["elapsed_s"])
