"""Routing probe facts of MixtureOfExperts, the summary statistics, and the compile.probes helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from modstudio.blocks.layers.moe import MixtureOfExperts
from modstudio.blocks.layers.routing import RoutingProbe, routing_summary
from modstudio.compile.graphnet import GraphNet
from modstudio.compile.probes import aux_loss, aux_loss_values, enable_probes, probes_of, set_probe_labels
from modstudio.graph.builder import ProjectBuilder


def make_moe(gate: str = "topk", experts: int = 4, k: int = 2, dim: int = 4, **kwargs) -> MixtureOfExperts:
    torch.manual_seed(0)
    return MixtureOfExperts(dim, [nn.Linear(dim, dim) for _ in range(experts)], gate=gate, k=k, **kwargs)


def identity_router(moe: MixtureOfExperts) -> MixtureOfExperts:
    with torch.no_grad():
        moe.router.weight.copy_(torch.eye(moe.num_experts, moe.router.in_features))
    return moe


def one_hot_tokens(wanted: list[int], dim: int = 4) -> torch.Tensor:
    """Tokens whose largest coordinate is the wanted expert (second largest is the next one)."""
    x = torch.zeros(len(wanted), dim)
    for t, e in enumerate(wanted):
        x[t, e] = 3.0
        x[t, (e + 1) % dim] = 1.0
    return x


@pytest.mark.parametrize(("k", "tokens"), [(1, 7), (2, 20), (3, 33)])
def test_tokens_per_expert_sums_to_tokens_times_k(k, tokens):
    moe = make_moe("topk", experts=5, k=k, dim=6).eval()
    moe.probe.enabled = True
    moe(torch.randn(tokens, 6))
    facts = moe.probe.take()
    assert facts["tokens_per_expert"].shape == (5,)
    assert facts["tokens_per_expert"].sum() == tokens * k
    assert facts["slots"] == tokens * k
    assert facts["routed_tokens"] == tokens
    assert facts["dropped_tokens"] == 0
    assert facts["steps"] == 1 and facts["kind"] == "moe" and facts["num_experts"] == 5


def test_tokens_per_expert_by_hand_and_summed_over_steps():
    moe = identity_router(make_moe("topk", experts=4, k=2)).eval()
    moe.probe.enabled = True
    # top-2 of each token: (e, e+1 mod 4)
    moe(one_hot_tokens([0, 0, 1, 3]))  # experts 0,1 | 0,1 | 1,2 | 3,0  -> [3, 3, 1, 1]
    moe(one_hot_tokens([2, 2]))  # 2,3 | 2,3 -> [0, 0, 2, 2]
    facts = moe.probe.take()
    assert list(facts["tokens_per_expert"]) == [3, 3, 3, 3]
    assert facts["slots"] == 12 and facts["routed_tokens"] == 6 and facts["steps"] == 2
    # mean_prob and entropy are averaged per step
    assert facts["mean_prob"].shape == (4,)
    assert facts["mean_prob"].sum() == pytest.approx(1.0, abs=1e-5)
    assert moe.probe.take()["steps"] == 0  # take() resets


def test_entropy_and_mean_prob_by_hand():
    moe = identity_router(make_moe("topk", experts=4, k=1)).eval()
    moe.probe.enabled = True
    p = [0.4, 0.3, 0.2, 0.1]
    moe(torch.tensor([[math.log(v) for v in p]] * 3))
    facts = moe.probe.take()
    assert facts["entropy"] == pytest.approx(-sum(v * math.log(v) for v in p), rel=1e-5)
    assert np.allclose(facts["mean_prob"], p, atol=1e-6)


def test_class_expert_matrix_matches_a_hand_count():
    moe = identity_router(make_moe("topk", experts=4, k=1)).eval()
    net = nn.Sequential(moe)
    enable_probes(net, True)
    # 3 samples x 2 tokens each; labels per sample
    wanted = [[0, 1], [1, 1], [3, 0]]
    labels = torch.tensor([2, 0, 2])
    set_probe_labels(net, labels, num_classes=3)
    x = torch.stack([one_hot_tokens(w) for w in wanted])  # [3, 2, 4]
    net(x)
    expected = np.zeros((3, 4))
    for sample, experts in enumerate(wanted):
        for e in experts:
            expected[labels[sample], e] += 1
    facts = probes_of(net)["0"].take()
    assert np.array_equal(facts["class_expert"], expected)


def test_class_expert_for_two_dimensional_inputs_and_top2():
    moe = identity_router(make_moe("topk", experts=4, k=2)).eval()
    moe.probe.enabled = True
    moe.probe.labels, moe.probe.num_classes = torch.tensor([1, 0, 1]), 2
    moe(one_hot_tokens([0, 2, 3]))  # experts {0,1}, {2,3}, {3,0}
    expected = np.array([[0, 0, 1, 1], [2, 1, 0, 1]])
    assert np.array_equal(moe.probe.take()["class_expert"], expected)


def test_class_expert_skipped_without_labels_or_with_mismatched_batch():
    moe = make_moe().eval()
    moe.probe.enabled = True
    moe(torch.randn(5, 4))
    assert "class_expert" not in moe.probe.take()
    moe.probe.labels, moe.probe.num_classes = torch.tensor([0, 1]), 2
    moe(torch.randn(5, 4))
    assert "class_expert" not in moe.probe.take()


@pytest.mark.parametrize("gate", ["topk", "switch", "expert_choice"])
def test_many_steps_of_changing_batches_count_like_a_step_by_step_hand_count(gate):
    """Steps are kept and counted together at take(); batches of different sizes, labels that
    change every step and more steps than are kept before folding must all count exactly."""
    from modstudio.blocks.layers.routing import FOLD_AFTER

    moe = make_moe(gate, experts=4, k=2, capacity_factor=1.0).eval()
    moe.probe.enabled = True
    moe.probe.num_classes = 3
    generator = torch.Generator().manual_seed(1)
    load, by_class, dropped, entropy = np.zeros(4), np.zeros((3, 4)), 0, 0.0
    steps = FOLD_AFTER * 2 + 5
    for step in range(steps):
        batch = 6 if step % 3 else 4
        x = torch.randn(batch, 2, 4, generator=generator)  # 2 tokens per sample
        labels = torch.randint(0, 3, (batch,), generator=generator)
        moe.probe.labels = labels
        moe(x)
        with torch.no_grad():  # the hand count: who got each token, from the layer's own combine
            probs = moe.router(x.reshape(-1, 4)).softmax(-1)
            combine, _ = moe._combine(moe.router(x.reshape(-1, 4)), probs)
        routed = (combine > 0).numpy()
        load += routed.sum(0)
        dropped += int((~routed.any(-1)).sum())
        for token, row in enumerate(routed):
            by_class[int(labels[token // 2])] += row
        entropy += float(-(probs * probs.log()).sum(-1).mean())
    facts = moe.probe.take()
    assert facts["steps"] == steps
    assert np.array_equal(facts["tokens_per_expert"], load)
    assert np.array_equal(facts["class_expert"], by_class)
    assert facts["dropped_tokens"] == dropped
    assert facts["entropy"] == pytest.approx(entropy / steps, rel=1e-5)
    assert len(moe.probe._deferred) == 0  # take() leaves nothing behind


def test_switch_probe_counts_kept_tokens_and_drops():
    moe = identity_router(make_moe("switch", experts=4, capacity_factor=1.0)).eval()
    moe.probe.enabled = True
    moe(one_hot_tokens([0, 0, 0, 0, 0, 1, 2, 2]))  # C = 2: expert 0 keeps 2 of 5
    facts = moe.probe.take()
    assert list(facts["tokens_per_expert"]) == [2, 1, 2, 0]
    assert facts["dropped_tokens"] == 3 and facts["slots"] == 8
    summary = routing_summary(facts)
    assert summary["dropped_share"] == pytest.approx(3 / 8)
    assert summary["dead_experts"] == [3]


def test_routing_summary_on_a_constructed_case():
    facts = {
        "tokens_per_expert": np.array([10.0, 0.0, 20.0, 10.0, 0.0]),
        "slots": 40.0,
        "routed_tokens": 20.0,
        "dropped_tokens": 2.0,
        "entropy": 0.7,
    }
    summary = routing_summary(facts)
    fair = 40 / 5
    assert np.allclose(summary["utilization"], [10 / fair, 0, 20 / fair, 10 / fair, 0])
    assert summary["dead_experts"] == [1, 4]
    load = [10, 0, 20, 10, 0]
    mean = sum(load) / 5
    std = math.sqrt(sum((v - mean) ** 2 for v in load) / 5)
    assert summary["cv"] == pytest.approx(std / mean)
    assert summary["max_over_mean"] == pytest.approx(20 / 8)
    assert summary["max_over_min"] == math.inf
    assert summary["busiest_20_share"] == pytest.approx(20 / 40)
    assert summary["idlest_20_share"] == 0
    assert summary["dropped_share"] == pytest.approx(0.1)
    assert summary["entropy"] == 0.7


def test_routing_summary_balanced_and_empty():
    summary = routing_summary({"tokens_per_expert": np.array([4.0, 4.0, 4.0, 4.0]), "slots": 16.0})
    assert np.allclose(summary["utilization"], 1.0)
    assert summary["cv"] == 0 and summary["dead_experts"] == [] and summary["max_over_min"] == 1
    assert routing_summary({}) == {}
    assert routing_summary({"tokens_per_expert": np.zeros(3)}) == {}


def test_routing_summary_from_a_real_probe():
    moe = identity_router(make_moe("topk", experts=4, k=1)).eval()
    moe.probe.enabled = True
    moe(one_hot_tokens([0, 0, 0, 1, 1, 2]))
    summary = routing_summary(moe.probe.take())
    assert np.allclose(summary["utilization"], [3 / 1.5, 2 / 1.5, 1 / 1.5, 0])
    assert summary["dead_experts"] == [3]


def test_probes_are_off_by_default_and_record_nothing():
    moe = make_moe().train()
    assert moe.probe.enabled is False
    moe(torch.randn(9, 4))
    facts = moe.probe.take()
    assert facts["steps"] == 0
    assert set(facts) == {"kind", "num_experts", "steps"}


def test_enable_probes_switches_every_probe():
    net = nn.Sequential(make_moe(), nn.Linear(4, 4), make_moe("switch"))
    assert set(probes_of(net)) == {"0", "2"}
    enable_probes(net, True)
    assert all(p.enabled for p in probes_of(net).values())
    net(torch.randn(6, 4))
    assert all(p.take()["steps"] == 1 for p in probes_of(net).values())
    enable_probes(net, False)
    net(torch.randn(6, 4))
    assert all(p.take()["steps"] == 0 for p in probes_of(net).values())


def test_aux_losses_are_recorded_when_probing_in_training():
    moe = make_moe().train()
    moe.probe.enabled = True
    moe(torch.randn(9, 4))
    moe(torch.randn(9, 4))
    facts = moe.probe.take()
    assert facts["aux_load_balance"] > 0 and facts["aux_z_loss"] > 0


def test_aux_loss_sums_every_moe():
    net = nn.Sequential(make_moe("topk"), nn.Tanh(), make_moe("noisy_topk", importance_weight=0.5), make_moe("switch"))
    net.train()
    net(torch.randn(2, 8, 4))
    expected = sum(v for i in (0, 2, 3) for v in net[i].aux_losses.values())
    assert torch.allclose(aux_loss(net), expected)
    values = aux_loss_values(net)
    assert set(values) == {
        "0.load_balance",
        "0.z_loss",
        "2.load_balance",
        "2.z_loss",
        "2.importance",
        "3.load_balance",
        "3.z_loss",
    }
    assert sum(values.values()) == pytest.approx(expected.item(), rel=1e-6)
    net.eval()
    net(torch.randn(2, 8, 4))
    assert aux_loss(net) == 0.0 and aux_loss_values(net) == {}


def test_aux_loss_through_graphnet_moe_block():
    pb = ProjectBuilder("probe")
    e = pb.module("Expert")
    e.output("y", e.add("linear", "fc", e.input("x"), out_features=8))
    b = pb.module("main")
    h = b.add("moe", "moe1", b.input("x", [5, 8]), experts=["Expert"], num_experts=4, gate="topk", k=2)
    h = b.add("moe", "moe2", h, experts=["Expert"], num_experts=3, gate="switch")
    b.output("y", b.add("linear", "head", b.add("flatten", "flat", h), out_features=3), task="classification")
    net = GraphNet(pb.project("probe")).train()
    assert set(probes_of(net)) == {"moe1", "moe2"}
    enable_probes(net, True)
    set_probe_labels(net, torch.tensor([0, 2, 1, 1]), 3)
    net(torch.randn(4, 5, 8))
    expected = sum(net.moe1.aux_losses.values()) + sum(net.moe2.aux_losses.values())
    assert torch.allclose(aux_loss(net), expected)
    facts = {path: probe.take() for path, probe in probes_of(net).items()}
    assert facts["moe1"]["tokens_per_expert"].sum() == 4 * 5 * 2
    assert facts["moe1"]["class_expert"].sum() == 4 * 5 * 2
    assert facts["moe1"]["class_expert"].shape == (3, 4)
    assert facts["moe2"]["class_expert"].shape == (3, 3)


def test_probe_take_averages_rates_and_sums_counts():
    probe = RoutingProbe(2)
    for value in (1.0, 3.0):
        probe.add("entropy", torch.tensor(value))
        probe.add("tokens_per_expert", torch.tensor([value, 0.0]))
        probe.step_done()
    facts = probe.take()
    assert facts["entropy"] == 2.0
    assert list(facts["tokens_per_expert"]) == [4.0, 0.0]
