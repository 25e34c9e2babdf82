"""Edits on graph nodes: functional ops, slices, aliased modules and fx GraphModules."""

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from delve_advisor.edits import (
    ReplaceWithIdentity,
    SetStride,
    apply_edits,
    list_node_names,
    predict,
)
from delve_advisor.exceptions import EditError
from delve_advisor.graph import receptive_field


class FunctionalNet(nn.Module):
    """Downsampling by F.max_pool2d, a strided F.conv2d and a strided slice."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.weight = nn.Parameter(torch.randn(4, 4, 3, 3) * 0.1)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 2)
        x = F.conv2d(x, self.weight, None, 2, 1)
        x = x[:, :, ::2, ::2]
        return self.head(x.mean(dim=(2, 3)))


class AliasedPool(nn.Module):
    """One nn.MaxPool2d object used twice and registered under two names."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.pool_again = self.pool
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        x = self.pool(self.conv1(x))
        x = self.pool_again(self.conv2(x))
        return self.head(x.mean(dim=(2, 3)))


SIZE = (1, 32, 32)


def _rf(model, size=SIZE):
    analysis = receptive_field(model, input_size=size)
    return {layer.node_name: layer.r_max for layer in analysis.layers if layer.is_spatial}


def test_functional_nodes_are_listed_by_their_captured_names():
    names = list_node_names(FunctionalNet())
    assert {"max_pool2d", "conv2d", "getitem"} <= set(names)
    captured = {
        layer.node_name for layer in receptive_field(FunctionalNet(), input_size=SIZE).layers
    }
    assert {"max_pool2d", "conv2d", "getitem"} <= captured


@pytest.mark.parametrize(
    ("edit", "check"),
    [
        (ReplaceWithIdentity("max_pool2d"), lambda gm: "max_pool2d" not in gm.code),
        (SetStride("conv2d", [1, 1]), lambda gm: "conv2d" in gm.code),
        (SetStride("getitem", [1, 1]), lambda gm: "::2" not in gm.code),
        (ReplaceWithIdentity("getitem"), lambda gm: "getitem" not in gm.code),
    ],
)
def test_functional_downsampling_is_rewritten_on_an_fx_copy(edit, check):
    torch.manual_seed(0)
    model = FunctionalNet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = apply_edits(model, [edit], SIZE)
    gm = result.model
    assert isinstance(gm, fx.GraphModule) and check(gm)
    assert not isinstance(model, fx.GraphModule)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    assert set(result.kept) == {n for n, _ in model.named_parameters()}
    assert gm(torch.zeros(1, *SIZE)).shape == (1, 3)
    if edit.module == "conv2d":  # stride 1: four times the conv's output positions
        assert result.after.flops > 3 * result.before.flops // 2
    assert result.after == predict(gm, SIZE)


def test_dropping_the_functional_pool_doubles_the_later_maps():
    model = FunctionalNet()
    result = apply_edits(model, [ReplaceWithIdentity("max_pool2d")], SIZE)
    before = {layer.node_name: layer for layer in receptive_field(model, input_size=SIZE).layers}
    after = {
        layer.node_name: layer for layer in receptive_field(result.model, input_size=SIZE).layers
    }
    assert before["conv2d"].input_map == (16, 16) and after["conv2d"].input_map == (32, 32)


def test_two_graph_edits_in_one_list_rewrite_one_copy():
    model = FunctionalNet()
    edits = [ReplaceWithIdentity("max_pool2d"), SetStride("conv2d", [1, 1])]
    gm = apply_edits(model, edits, SIZE).model
    assert "max_pool2d" not in gm.code
    assert gm(torch.zeros(1, *SIZE)).shape == (1, 3)


def test_a_stride_on_a_node_without_one_is_refused():
    model = FunctionalNet()
    name = next(n for n in list_node_names(model) if n.startswith("mean"))
    with pytest.raises(EditError, match=rf"cannot set_stride on '{name}'.*has no stride"):
        apply_edits(model, [SetStride(name, [1, 1])], SIZE)
    with pytest.raises(EditError, match=r"no module or graph node 'max_pool3d'.*'max_pool2d'"):
        apply_edits(model, [ReplaceWithIdentity("max_pool3d")], SIZE)


def test_an_aliased_pooling_module_is_edited_at_every_use():
    model = AliasedPool()
    assert model.pool is model.pool_again
    result = apply_edits(model, [ReplaceWithIdentity("pool")], SIZE)
    assert isinstance(result.model.pool, nn.Identity)
    assert result.model.pool is result.model.pool_again
    assert isinstance(model.pool, nn.MaxPool2d)  # the caller's model is untouched
    layers = receptive_field(result.model, input_size=SIZE).layers
    assert not any(layer.op == "MaxPool2d" for layer in layers)
    strided = apply_edits(model, [SetStride("pool_again", [1, 1])], SIZE).model
    assert strided.pool.stride == 1 and strided.pool is strided.pool_again


def test_one_use_of_a_module_called_twice_is_removed_by_its_node_name():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            return self.pool(self.pool(self.conv(x))).mean(dim=(2, 3))

    model = Twice()
    gm = apply_edits(model, [ReplaceWithIdentity("pool:1")], SIZE).model
    assert gm(torch.zeros(1, *SIZE)).shape == (1, 4)
    pools = [
        layer for layer in receptive_field(gm, input_size=SIZE).layers if layer.op == "MaxPool2d"
    ]
    assert len(pools) == 1


def test_a_users_graph_module_is_edited_and_left_as_it_was():
    model = fx.symbolic_trace(FunctionalNet())
    code = model.code
    names = list_node_names(model)
    assert "max_pool2d" in names
    result = apply_edits(
        model, [ReplaceWithIdentity("max_pool2d"), SetStride("stem", [2, 2])], SIZE
    )
    assert model.code == code and model.stem.stride == (1, 1)
    assert "max_pool2d" not in result.model.code and result.model.stem.stride == (2, 2)
    assert result.model(torch.zeros(1, *SIZE)).shape == (1, 3)
