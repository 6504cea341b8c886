"""Within shared_prototypes a network built on the meta device is the same network, its equal leaf
layers shallow copies of one built layer, each with its own weights once they are assigned."""

from __future__ import annotations

import torch
from torch import nn

from modstudio.blocks import default_catalog
from modstudio.compile.graphnet import GraphNet
from modstudio.compile.prototypes import shared_prototypes
from modstudio.library import load_template


def _build(name: str, shared: bool) -> GraphNet:
    project = load_template(name)
    with torch.device("meta"):
        if shared:
            with shared_prototypes():
                return GraphNet(project, default_catalog())
        return GraphNet(project, default_catalog())


def test_the_network_is_the_one_built_layer_by_layer() -> None:
    for template in ("resnet18", "switch_transformer", "hierarchical_moe"):
        plain, shared = _build(template, False), _build(template, True)
        assert repr(shared) == repr(plain)
        assert {k: v.shape for k, v in shared.state_dict().items()} == {
            k: v.shape for k, v in plain.state_dict().items()
        }


def test_equal_layers_are_copies_with_their_own_weights_and_hooks() -> None:
    net = _build("resnet18", True)
    convs = [m for m in net.modules() if type(m) is nn.Conv2d and m.weight.shape == (64, 64, 3, 3)]
    assert len(convs) >= 4 and len({id(c) for c in convs}) == len(convs)
    first, second = convs[0], convs[1]
    first._parameters["weight"] = nn.Parameter(torch.ones(64, 64, 3, 3))
    assert second.weight.is_meta  # the other copy keeps its own
    first.register_forward_hook(lambda *args: None)
    assert not second._forward_hooks
    real = net.get_submodule("conv1")
    assert real.kernel_size == (7, 7) and real.stride == (2, 2)
