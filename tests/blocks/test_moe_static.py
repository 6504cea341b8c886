"""The two algorithms of each routing layer agree: sorted dispatch (what GraphNet trains with,
``layers.moe`` / ``layers.hierarchy``) and the static loop that exported code carries
(``layers.static_routing``), on the same weights: outputs, auxiliary losses and gradients."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from modstudio.blocks.layers import static_routing
from modstudio.blocks.layers.hierarchy import HardGate, HierarchicalMoE
from modstudio.blocks.layers.moe import GATES, MixtureOfExperts


def experts(count: int, width: int = 6) -> list[nn.Module]:
    return [nn.Sequential(nn.Linear(width, 8), nn.GELU(), nn.Linear(8, width)) for _ in range(count)]


def twins(training: nn.Module, exported_type: type, **arguments) -> tuple[nn.Module, nn.Module]:
    """The exported form built with copies of the training layer's members, its weights loaded."""
    exported = exported_type(**arguments)
    exported.load_state_dict(training.state_dict(), strict=True)
    return training, exported


def run(layer: nn.Module, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    torch.manual_seed(seed)  # the same noise (noisy gate) and Gumbel draws for both
    x = x.clone().requires_grad_(True)
    out = layer(x)
    aux = dict(getattr(layer, "aux_losses", {})) if layer.training else {}  # kept from training otherwise
    (out.square().sum() + sum(aux.values(), torch.zeros(()))).backward()
    assert x.grad is not None
    return torch.cat([out.reshape(-1), x.grad.reshape(-1)]), aux


def assert_same(training: nn.Module, exported: nn.Module, x: torch.Tensor, seed: int = 3) -> None:
    for mode in (True, False):
        training.train(mode)
        exported.train(mode)
        training.zero_grad()
        exported.zero_grad()
        got, got_aux = run(exported, x, seed)
        want, want_aux = run(training, x, seed)
        assert torch.allclose(got, want, atol=1e-5), f"outputs or input gradients differ (train={mode})"
        assert got_aux.keys() == want_aux.keys()
        for name in want_aux:
            assert torch.allclose(got_aux[name], want_aux[name], atol=1e-6), name
        grads = dict(exported.named_parameters())
        for name, p in training.named_parameters():
            if p.grad is None:
                assert grads[name].grad is None or not grads[name].grad.any(), name
            else:
                assert torch.allclose(grads[name].grad, p.grad, atol=1e-5), f"gradient of {name} (train={mode})"


@pytest.mark.parametrize("gate", GATES)
def test_mixture_of_experts_sorted_dispatch_equals_the_static_loop(gate: str) -> None:
    torch.manual_seed(0)
    weights = {"load_balance_weight": 0.5, "z_loss_weight": 0.1}
    importance = 0.3 if gate == "noisy_topk" else 0.0
    training = MixtureOfExperts(
        6, experts(4), gate=gate, k=2, capacity_factor=1.0, importance_weight=importance, dispatch="sorted", **weights
    )
    with torch.no_grad():
        training.router.weight.mul_(5)  # decisive routing: every expert gets tokens, switch drops some
    _, exported = twins(
        training,
        static_routing.MixtureOfExperts,
        dim=6,
        experts=copy.deepcopy(list(training.experts)),
        gate=gate,
        k=2,
        capacity_factor=1.0,
        importance_weight=importance,
        **weights,
    )
    assert_same(training, exported, torch.randn(3, 7, 6))


def test_hierarchical_moe_sorted_dispatch_equals_the_static_loop() -> None:
    torch.manual_seed(1)
    arguments = {"groups": 2, "k_groups": 1, "k": 2, "load_balance_weight": 0.5, "z_loss_weight": 0.1}
    training = HierarchicalMoE(6, experts(6), **arguments)
    _, exported = twins(
        training,
        static_routing.HierarchicalMoE,
        dim=6,
        experts=copy.deepcopy(list(training.experts)),
        out_dim=6,
        **arguments,
    )
    assert_same(training, exported, torch.randn(10, 6))


@pytest.mark.parametrize("allow_skip", [False, True])
def test_hard_gate_sorted_branches_equal_the_static_loop(allow_skip: bool) -> None:
    torch.manual_seed(2)
    branches = [nn.Sequential(nn.Flatten(), nn.Linear(12, 12), nn.Unflatten(1, (3, 4))) for _ in range(3)]
    arguments = {"allow_skip": allow_skip, "temperature": 0.7, "balance_weight": 0.5}
    training = HardGate(12, branches, (3, 4), **arguments)
    _, exported = twins(
        training,
        static_routing.HardGate,
        features=12,
        branches=copy.deepcopy(list(training.branches)),
        out_shape=[3, 4],
        **arguments,
    )
    assert_same(training, exported, torch.randn(16, 3, 4))
