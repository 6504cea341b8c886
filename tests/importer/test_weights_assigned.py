"""The import's check puts the model's own tensors into the project's network, as torch's
``load_state_dict(assign=True)`` would: the same tensors, parameters still parameters."""

from __future__ import annotations

import torch
from torch import nn

from modstudio.importer.verify import _assigned


def _net() -> nn.Module:
    with torch.device("meta"):
        net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    net[1].register_buffer("scratch", torch.zeros(4, device="meta"), persistent=False)
    return net


def test_every_key_of_the_state_dict_is_assigned_the_model_s_own_tensor() -> None:
    source = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    source[0].bias.requires_grad_(False)
    state = {k: v.detach() for k, v in source.state_dict().items()}
    net = _net()
    net[0].bias.requires_grad_(False)
    assert _assigned(net, state) == set(net.state_dict()) == set(state)
    for key, tensor in net.state_dict(keep_vars=True).items():
        assert tensor.data_ptr() == state[key].data_ptr()  # shared, not copied
    assert isinstance(net[0].weight, nn.Parameter) and net[0].weight.requires_grad
    assert not net[0].bias.requires_grad
    assert net[1].scratch.is_meta  # not in the state dict: left for the caller to build for real
    assert torch.equal(net.eval()[0](torch.ones(2, 3)), source.eval()[0](torch.ones(2, 3)))


def test_keys_the_walk_does_not_know_are_left_out_so_torch_s_loader_takes_over() -> None:
    net = _net()
    state = {k: torch.zeros(v.shape) for k, v in net.state_dict().items()}
    state["1.extra"] = torch.zeros(1)  # a block keeping weights its own way would name such keys
    assert "1.extra" not in _assigned(net, state)
