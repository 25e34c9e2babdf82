"""Every torchvision classifier captures, with finite r or explicit global marks, no warning.

Models are built on the meta device (no memory, no compute), RegNets included (conftest).
"""

from __future__ import annotations

import math

import networkx as nx
import pytest
import torchvision

from delve_advisor import receptive_field

_NAMES = torchvision.models.list_models(module=torchvision.models)


def _size(name: str) -> int:
    if name.startswith(("vit", "swin", "maxvit")):
        return 224  # fixed patch grids
    return 75 if name == "inception_v3" else 64


@pytest.mark.parametrize("name", _NAMES)
def test_zoo_model(name, meta_torchvision):
    rf = receptive_field(meta_torchvision(name), (3, _size(name), _size(name)))
    assert rf.capture_method == "torch.fx"
    assert rf.warnings == []
    assert rf.spatial_layers, "no spatial layer found"
    graph = rf.graph
    for layer in rf.layers:
        if all(math.isfinite(v) for v in layer.r_max):
            continue
        # r = inf only where a global op lies on some path (marked on that node)
        sources = nx.ancestors(graph, layer.node_name) | {layer.node_name}
        assert any(rf.layer(name).is_global for name in sources), layer.node_name
    assert rf.layers[-1].is_global  # the classifier sees the whole image
