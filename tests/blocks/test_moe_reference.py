"""MixtureOfExperts against independent reference computations written here from the formulas.

The references loop over tokens in plain Python (math.exp, sorted lists) and never call the
layer's own helpers; router weights are set by hand where a case needs known numbers.
"""

from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from modstudio.blocks.layers.moe import MixtureOfExperts
from modstudio.compile.graphnet import GraphNet
from modstudio.graph.builder import ProjectBuilder

GATES = ("topk", "noisy_topk", "switch", "expert_choice")


def make_moe(gate: str, dim: int = 6, experts: int = 5, k: int = 2, seed: int = 0, **kwargs) -> MixtureOfExperts:
    torch.manual_seed(seed)
    members = [nn.Sequential(nn.Linear(dim, 7), nn.Tanh(), nn.Linear(7, dim)) for _ in range(experts)]
    return MixtureOfExperts(dim, members, gate=gate, k=k, **kwargs)


def twin(moe: MixtureOfExperts, dispatch: str) -> MixtureOfExperts:
    """The same layer (same weights) with another dispatch."""
    other = MixtureOfExperts(
        moe.router.in_features,
        _copy_experts(moe),
        gate=moe.gate,
        k=moe.k,
        capacity_factor=moe.capacity_factor,
        load_balance_weight=moe.load_balance_weight,
        z_loss_weight=moe.z_loss_weight,
        importance_weight=moe.importance_weight,
        dispatch=dispatch,
        out_dim=moe.out_dim,
    )
    other.load_state_dict(moe.state_dict())
    other.train(moe.training)
    return other


def _copy_experts(moe: MixtureOfExperts) -> list[nn.Module]:
    return [copy.deepcopy(e) for e in moe.experts]


def logits_of(moe: MixtureOfExperts, x: torch.Tensor) -> list[list[float]]:
    w = moe.router.weight.detach().double()
    return (x.detach().double().reshape(-1, x.shape[-1]) @ w.t()).tolist()


def softmax_list(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def top_indices(values: list[float], k: int) -> list[int]:
    return sorted(range(len(values)), key=lambda i: -values[i])[:k]


def expert_out(moe: MixtureOfExperts, e: int, token: torch.Tensor) -> torch.Tensor:
    return moe.experts[e](token.unsqueeze(0))[0].detach().double()


def ref_topk(moe: MixtureOfExperts, x: torch.Tensor, k: int) -> torch.Tensor:
    tokens = x.reshape(-1, x.shape[-1])
    rows = []
    for t, logits in enumerate(logits_of(moe, x)):
        chosen = top_indices(logits, k)
        weights = softmax_list([logits[i] for i in chosen])
        assert abs(sum(weights) - 1) < 1e-12
        rows.append(sum(w * expert_out(moe, e, tokens[t]) for w, e in zip(weights, chosen)))
    return torch.stack(rows).reshape(*x.shape[:-1], -1)


def ref_switch(moe: MixtureOfExperts, x: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    tokens = x.reshape(-1, x.shape[-1])
    T, E = tokens.shape[0], moe.num_experts
    capacity = math.ceil(moe.capacity_factor * T / E)
    taken = [0] * E
    rows, dropped = [], []
    for t, logits in enumerate(logits_of(moe, x)):
        probs = softmax_list(logits)
        e = top_indices(logits, 1)[0]
        if taken[e] < capacity:
            taken[e] += 1
            rows.append(probs[e] * expert_out(moe, e, tokens[t]))
        else:
            dropped.append(t)
            rows.append(tokens[t].detach().double())
    return torch.stack(rows).reshape(x.shape), dropped


def ref_expert_choice(moe: MixtureOfExperts, x: torch.Tensor) -> tuple[torch.Tensor, int, list[list[int]]]:
    tokens = x.reshape(-1, x.shape[-1])
    T, E = tokens.shape[0], moe.num_experts
    capacity = min(T, math.ceil(moe.capacity_factor * T / E))
    scores = [softmax_list(row) for row in logits_of(moe, x)]
    out = torch.zeros(T, moe.out_dim, dtype=torch.float64)
    picks = []
    for e in range(E):
        column = [scores[t][e] for t in range(T)]
        picked = top_indices(column, capacity)
        picks.append(picked)
        for t in picked:
            out[t] += scores[t][e] * expert_out(moe, e, tokens[t])
    return out.reshape(*x.shape[:-1], -1), capacity, picks


# ------------------------------------------------------------------ top-k


@pytest.mark.parametrize(("experts", "k", "tokens"), [(4, 1, 5), (4, 2, 17), (6, 3, 40), (5, 5, 9)])
def test_topk_is_softmax_over_the_k_best_logits(experts, k, tokens):
    moe = make_moe("topk", experts=experts, k=k, seed=experts * 10 + k).eval()
    x = torch.randn(tokens, 6)
    assert torch.allclose(moe(x).double(), ref_topk(moe, x, k), atol=1e-5)


def test_topk_hand_set_router_picks_and_renormalises():
    # 4 experts, dim 4, router = identity: token logits are the token itself.
    moe = MixtureOfExperts(4, [nn.Linear(4, 3) for _ in range(4)], gate="topk", k=2, out_dim=3).eval()
    with torch.no_grad():
        moe.router.weight.copy_(torch.eye(4))
    x = torch.tensor([[3.0, 1.0, 0.0, -1.0], [0.0, 0.0, 2.0, 2.0 + math.log(3.0)]])
    # token 0: experts 0, 1 with softmax(3, 1); token 1: experts 3, 2 with weights 3/4, 1/4.
    w0 = math.exp(3) / (math.exp(3) + math.exp(1))
    expected0 = w0 * moe.experts[0](x[0]) + (1 - w0) * moe.experts[1](x[0])
    expected1 = 0.75 * moe.experts[3](x[1]) + 0.25 * moe.experts[2](x[1])
    out = moe(x)
    assert torch.allclose(out[0], expected0, atol=1e-6)
    assert torch.allclose(out[1], expected1, atol=1e-6)
    assert out.shape == (2, 3)


class Constant(nn.Module):
    """An expert that answers 1 everywhere (with a parameter, so it trains): output = Σ of gate weights."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale.expand(x.shape[0], -1)


@pytest.mark.parametrize("gate", ["topk", "noisy_topk"])
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("training", [False, True])
def test_renormalised_gate_weights_sum_to_one(gate, k, training):
    torch.manual_seed(k)
    moe = MixtureOfExperts(6, [Constant(6) for _ in range(5)], gate=gate, k=k).train(training)
    out = moe(torch.randn(2, 11, 6) * 3)
    assert torch.allclose(out, torch.ones(2, 11, 6), atol=1e-6)


def test_switch_weight_is_the_full_softmax_probability():
    torch.manual_seed(1)
    moe = MixtureOfExperts(6, [Constant(6) for _ in range(5)], gate="switch", capacity_factor=5.0).eval()
    x = torch.randn(13, 6)
    expected = torch.tensor([max(softmax_list(row)) for row in logits_of(moe, x)], dtype=torch.float32)
    assert torch.allclose(moe(x), expected.unsqueeze(-1).expand(13, 6), atol=1e-6)


def test_topk_leading_shape_is_kept():
    moe = make_moe("topk", experts=4, k=2).eval()
    x = torch.randn(3, 4, 6)
    out = moe(x)
    assert out.shape == (3, 4, 6)
    assert torch.allclose(out.double(), ref_topk(moe, x, 2), atol=1e-5)


# ------------------------------------------------------------- noisy top-k


def test_noisy_topk_in_eval_is_deterministic_and_equals_plain_topk():
    noisy = make_moe("noisy_topk", experts=5, k=2, seed=3).eval()
    plain = MixtureOfExperts(6, _copy_experts(noisy), gate="topk", k=2).eval()
    with torch.no_grad():
        plain.router.weight.copy_(noisy.router.weight)
    x = torch.randn(30, 6)
    first, second = noisy(x), noisy(x)
    assert torch.equal(first, second)
    assert torch.allclose(first, plain(x), atol=1e-6)
    assert torch.allclose(first.double(), ref_topk(noisy, x, 2), atol=1e-5)


def test_noisy_topk_in_train_is_noisy():
    moe = make_moe("noisy_topk", experts=5, k=2, seed=4).train()
    x = torch.randn(40, 6)
    assert not torch.equal(moe(x), moe(x)), "noisy top-k in train() must differ between calls"


def test_noisy_topk_scores_are_clean_plus_known_noise_times_softplus(monkeypatch):
    moe = make_moe("noisy_topk", experts=5, k=2, seed=5).train()
    x = torch.randn(12, 6)
    torch.manual_seed(123)
    noise = torch.randn(12, 5)
    monkeypatch.setattr(torch, "randn_like", lambda t, *a, **kw: noise.to(t.dtype).clone())
    out = moe(x)
    clean = x.double() @ moe.router.weight.detach().double().t()
    std = F.softplus(x.double() @ moe.noise.weight.detach().double().t())
    H = (clean + noise.double() * std).tolist()
    rows = []
    for t in range(12):
        chosen = top_indices(H[t], 2)
        weights = softmax_list([H[t][i] for i in chosen])
        rows.append(sum(w * expert_out(moe, e, x[t]) for w, e in zip(weights, chosen)))
    assert torch.allclose(out.double(), torch.stack(rows), atol=1e-5)


def test_noisy_topk_noise_std_is_softplus_of_noise_projection(monkeypatch):
    """With W_g = 0 the scores are pure noise; recover its std per expert from many samples."""
    dim, E = 3, 4
    moe = MixtureOfExperts(dim, [nn.Linear(dim, dim) for _ in range(E)], gate="noisy_topk", k=1).train()
    seen: list[torch.Tensor] = []
    with torch.no_grad():
        moe.router.weight.zero_()
        moe.noise.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0, 0, 0]]))
    real_softmax = torch.Tensor.softmax

    def capture(self, *a, **kw):
        seen.append(self.detach().clone())
        return real_softmax(self, *a, **kw)

    monkeypatch.setattr(torch.Tensor, "softmax", capture)
    x = torch.tensor([[2.0, -1.0, 0.5]]).repeat(20000, 1)
    torch.manual_seed(0)
    moe(x)
    scores = seen[0]
    assert scores.shape == (20000, E)
    expected = F.softplus(torch.tensor([2.0, -1.0, 0.5, 0.0]))
    assert torch.allclose(scores.mean(0), torch.zeros(E), atol=0.05)
    assert torch.allclose(scores.std(0), expected, rtol=0.03)


# ------------------------------------------------------------------ switch


def switch_case(capacity_factor: float = 1.0) -> tuple[MixtureOfExperts, torch.Tensor]:
    """10 tokens over 4 experts, router = identity: 6 tokens want expert 0, 2 want 1, 2 want 2."""
    torch.manual_seed(11)
    moe = MixtureOfExperts(4, [nn.Linear(4, 4) for _ in range(4)], gate="switch", capacity_factor=capacity_factor)
    with torch.no_grad():
        moe.router.weight.copy_(torch.eye(4))
    wants = [0, 1, 0, 0, 2, 0, 1, 0, 2, 0]
    x = torch.randn(10, 4) * 0.1
    for t, e in enumerate(wants):
        x[t, e] += 2.0 + 0.1 * t
    return moe.eval(), x


def test_switch_top1_weighted_by_full_softmax_with_capacity_in_token_order():
    moe, x = switch_case(1.0)  # C = ceil(1.0 * 10 / 4) = 3
    moe.probe.enabled = True
    out = moe(x)
    expected, dropped = ref_switch(moe, x)
    assert dropped == [5, 7, 9]  # the 4th, 5th and 6th token wanting expert 0
    assert torch.allclose(out.double(), expected, atol=1e-6)
    for t in dropped:
        assert torch.equal(out[t], x[t]), "a token over capacity must pass through unchanged"
    facts = moe.probe.take()
    assert facts["dropped_tokens"] == 3
    assert list(facts["tokens_per_expert"]) == [3, 2, 2, 0]


@pytest.mark.parametrize("capacity_factor", [0.5, 1.25, 2.0, 4.0])
def test_switch_capacity_counts_match_reference(capacity_factor):
    moe, x = switch_case(capacity_factor)
    moe.probe.enabled = True
    expected, dropped = ref_switch(moe, x)
    assert torch.allclose(moe(x).double(), expected, atol=1e-6)
    assert moe.probe.take()["dropped_tokens"] == len(dropped)


def test_switch_random_case_matches_reference():
    moe = make_moe("switch", experts=5, capacity_factor=1.0, seed=9).eval()
    x = torch.randn(2, 13, 6)
    moe.probe.enabled = True
    expected, dropped = ref_switch(moe, x)
    assert torch.allclose(moe(x).double(), expected, atol=1e-5)
    assert moe.probe.take()["dropped_tokens"] == len(dropped)


# ----------------------------------------------------------- expert choice


@pytest.mark.parametrize(
    ("experts", "tokens", "capacity_factor"), [(4, 10, 1.0), (5, 23, 1.25), (6, 5, 2.0), (4, 7, 9.0)]
)
def test_expert_choice_each_expert_takes_capacity_tokens(experts, tokens, capacity_factor):
    moe = make_moe("expert_choice", experts=experts, capacity_factor=capacity_factor, seed=tokens).eval()
    moe.probe.enabled = True
    x = torch.randn(tokens, 6)
    expected, capacity, picks = ref_expert_choice(moe, x)
    out = moe(x)
    assert torch.allclose(out.double(), expected, atol=1e-5)
    facts = moe.probe.take()
    assert list(facts["tokens_per_expert"]) == [capacity] * experts
    unpicked = set(range(tokens)) - {t for p in picks for t in p}
    for t in unpicked:
        assert torch.equal(out[t], torch.zeros(6)), "a token no expert picks gives 0"
    assert facts["dropped_tokens"] == len(unpicked)


def test_expert_choice_leading_shape():
    moe = make_moe("expert_choice", experts=4, capacity_factor=1.0).eval()
    x = torch.randn(3, 5, 6)
    expected, _, _ = ref_expert_choice(moe, x)
    assert torch.allclose(moe(x).double(), expected, atol=1e-5)


# ------------------------------------------------------------- aux losses

# Router = identity and token rows log(p) + c: softmax(logits) = p exactly, logsumexp = c.
P_ROWS = [[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.7, 0.1, 0.2]]
C = [1.0, 2.0, 3.0]


def aux_case(gate: str, k: int, **weights) -> tuple[MixtureOfExperts, torch.Tensor]:
    moe = MixtureOfExperts(3, [nn.Linear(3, 3) for _ in range(3)], gate=gate, k=k, **weights).train()
    with torch.no_grad():
        moe.router.weight.copy_(torch.eye(3))
    x = torch.tensor([[math.log(p) + c for p in row] for row, c in zip(P_ROWS, C)])
    return moe, x


def test_load_balance_top1_by_hand():
    # chosen experts 0, 1, 0: f = [2/3, 1/3, 0]; P = [1.3, 1.0, 0.7] / 3
    # E·Σ f·P = 3 · (2/3 · 1.3/3 + 1/3 · 1.0/3) = 1.2
    moe, x = aux_case("topk", 1, load_balance_weight=0.01, z_loss_weight=0.0)
    moe(x)
    assert set(moe.aux_losses) == {"load_balance"}
    assert moe.aux_losses["load_balance"].item() == pytest.approx(0.01 * 1.2, rel=1e-5)


def test_load_balance_top2_counts_every_chosen_slot():
    # slots {0,1}, {1,2}, {0,2}: f = [1/3] * 3, so E·Σ f·P = Σ P = 1
    moe, x = aux_case("topk", 2, load_balance_weight=0.5, z_loss_weight=0.0)
    moe(x)
    assert moe.aux_losses["load_balance"].item() == pytest.approx(0.5, rel=1e-5)


def test_load_balance_switch_counts_slots_before_capacity_dropping():
    # top-1 picks 0, 1, 0 (as above); capacity ceil(0.5·3/3) = 1 drops token 2, f still [2/3, 1/3, 0].
    moe, x = aux_case("switch", 1, capacity_factor=0.5, load_balance_weight=1.0, z_loss_weight=0.0)
    out = moe(x)
    assert torch.equal(out[2], x[2])
    assert moe.aux_losses["load_balance"].item() == pytest.approx(1.2, rel=1e-5)


def test_z_loss_by_hand():
    # logsumexp(log p + c) = c: mean(c²) = (1 + 4 + 9) / 3
    moe, x = aux_case("topk", 2, load_balance_weight=0.0, z_loss_weight=0.001)
    moe(x)
    assert set(moe.aux_losses) == {"z_loss"}
    assert moe.aux_losses["z_loss"].item() == pytest.approx(0.001 * 14 / 3, rel=1e-5)


def test_expert_choice_has_z_loss_but_no_load_balance():
    moe, x = aux_case("expert_choice", 2, load_balance_weight=0.01, z_loss_weight=0.001)
    moe(x)
    assert set(moe.aux_losses) == {"z_loss"}
    assert moe.aux_losses["z_loss"].item() == pytest.approx(0.001 * 14 / 3, rel=1e-5)


def test_no_aux_losses_in_eval():
    moe, x = aux_case("topk", 2)
    moe.eval()
    moe(x)
    assert moe.aux_losses == {}


def phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def cv_squared(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return (sum((v - mean) ** 2 for v in values) / len(values)) / mean**2


def test_importance_loss_top1_by_hand(monkeypatch):
    """Zero noise sample, W_noise = 0: noise std = softplus(0) = ln 2, scores = clean logits.
    Importance (G one-hot on argmax) = [2, 1, 0], CV² = (2/3) / 1.
    Load_i = Σ_x Φ((clean_i − threshold_i) / ln 2) with threshold = 2nd best if i is the best, else the best."""
    moe, x = aux_case("noisy_topk", 1, load_balance_weight=0.0, z_loss_weight=0.0, importance_weight=0.1)
    with torch.no_grad():
        moe.noise.weight.zero_()
    monkeypatch.setattr(torch, "randn_like", lambda t, *a, **kw: torch.zeros_like(t))
    moe(x)
    load = [0.0, 0.0, 0.0]
    for row in P_ROWS:
        best, second = sorted(row, reverse=True)[:2]
        for i, p in enumerate(row):
            threshold = second if p == best else best
            load[i] += phi(math.log(p / threshold) / math.log(2))
    expected = 0.1 * (cv_squared([2.0, 1.0, 0.0]) + cv_squared(load))
    assert cv_squared([2.0, 1.0, 0.0]) == pytest.approx(2 / 3)
    assert set(moe.aux_losses) == {"importance"}
    assert moe.aux_losses["importance"].item() == pytest.approx(expected, rel=1e-5)


def test_importance_loss_top2_random_case(monkeypatch):
    moe = make_moe(
        "noisy_topk", experts=5, k=2, seed=21, load_balance_weight=0.0, z_loss_weight=0.0, importance_weight=1.0
    )
    moe.train()
    x = torch.randn(9, 6)
    torch.manual_seed(1)
    noise = torch.randn(9, 5)
    monkeypatch.setattr(torch, "randn_like", lambda t, *a, **kw: noise.clone())
    moe(x)
    clean = (x.double() @ moe.router.weight.detach().double().t()).tolist()
    std = F.softplus(x.double() @ moe.noise.weight.detach().double().t()).tolist()
    importance, load = [0.0] * 5, [0.0] * 5
    for t in range(9):
        H = [clean[t][i] + noise[t, i].item() * std[t][i] for i in range(5)]
        chosen = top_indices(H, 2)
        for w, e in zip(softmax_list([H[i] for i in chosen]), chosen):
            importance[e] += w
        ranked = sorted(H, reverse=True)
        for i in range(5):
            # k-th best of H excluding component i (Shazeer et al. 2017, eq. 9)
            others = sorted((H[j] for j in range(5) if j != i), reverse=True)
            assert others[1] == (ranked[2] if i in chosen else ranked[1])
            load[i] += phi((clean[t][i] - others[1]) / std[t][i])
    expected = cv_squared(importance) + cv_squared(load)
    assert moe.aux_losses["importance"].item() == pytest.approx(expected, rel=1e-4)


# ----------------------------------------------------- sorted == static


def run_with_grads(moe: MixtureOfExperts, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    x = x.clone().requires_grad_(True)
    moe.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    out = moe(x)
    target = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
    loss = (out * target).sum() + sum(moe.aux_losses.values())
    loss.backward()
    grads = {"input": x.grad}
    grads.update({name: p.grad if p.grad is not None else torch.zeros_like(p) for name, p in moe.named_parameters()})
    return out, grads


@pytest.mark.parametrize("gate", GATES)
@pytest.mark.parametrize("shape", [(17, 6), (3, 7, 6)])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_sorted_and_static_dispatch_agree_on_outputs_and_gradients(gate, shape, mode):
    sorted_moe = make_moe(gate, experts=5, k=2, seed=31, capacity_factor=1.0, importance_weight=0.1)
    sorted_moe.train(mode == "train")
    static_moe = twin(sorted_moe, "static")
    torch.manual_seed(7)
    x = torch.randn(*shape)
    out_a, grads_a = run_with_grads(sorted_moe, x, seed=99)
    out_b, grads_b = run_with_grads(static_moe, x, seed=99)
    assert out_a.shape == out_b.shape == shape
    assert torch.allclose(out_a, out_b, atol=1e-6)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_b[name], atol=1e-5), f"gradient of {name} differs"


@pytest.mark.parametrize("gate", GATES)
def test_gradients_reach_the_gate_from_the_task_loss_alone(gate):
    moe = make_moe(gate, experts=4, k=2, seed=41, load_balance_weight=0.0, z_loss_weight=0.0).train()
    x = torch.randn(20, 6)
    (moe(x) * torch.randn(20, 6)).sum().backward()
    assert moe.router.weight.grad is not None and moe.router.weight.grad.abs().sum() > 0
    if gate == "noisy_topk":
        assert moe.noise.weight.grad is not None and moe.noise.weight.grad.abs().sum() > 0
    for e, expert in enumerate(moe.experts):
        grad = expert[0].weight.grad
        assert grad is not None and grad.abs().sum() > 0, f"expert {e} got no gradient"


def test_aux_losses_reach_the_router():
    moe = make_moe("topk", experts=4, k=1, seed=42, load_balance_weight=1.0, z_loss_weight=1.0).train()
    moe(torch.randn(20, 6))
    sum(moe.aux_losses.values()).backward()
    assert moe.router.weight.grad.abs().sum() > 0


# ------------------------------------------------------------ exportable


def static_moe(gate: str) -> MixtureOfExperts:
    return make_moe(gate, experts=4, k=2, seed=51, capacity_factor=1.0, dispatch="static").eval()


@pytest.mark.parametrize("gate", GATES)
def test_static_dispatch_scripts_and_matches(gate):
    moe = static_moe(gate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(moe)
    for shape in [(10, 6), (2, 9, 6)]:
        x = torch.randn(*shape)
        assert torch.allclose(scripted(x), moe(x), atol=1e-6)
    sorted_moe = twin(moe, "sorted").eval()
    x = torch.randn(10, 6)
    assert torch.allclose(scripted(x), sorted_moe(x), atol=1e-6)


@pytest.mark.parametrize("gate", GATES)
def test_static_dispatch_exports_and_matches(gate):
    moe = static_moe(gate)
    x = torch.randn(12, 6)
    if gate == "expert_choice":  # capacity depends on the token count: fixed shape
        program = torch.export.export(moe, (x,))
        tests = [x, torch.randn(12, 6)]
    else:
        program = torch.export.export(moe, (x,), dynamic_shapes={"x": {0: torch.export.Dim("tokens", min=2, max=4096)}})
        tests = [x, torch.randn(3, 6), torch.randn(57, 6)]
    exported = program.module()
    for t in tests:
        assert torch.allclose(exported(t), moe(t), atol=1e-6)


def moe_project(gate: str, dispatch: str = "static"):
    pb = ProjectBuilder("moe_ref")
    e = pb.module("Expert")
    h = e.add("relu", "act", e.add("linear", "fc1", e.input("x"), out_features=12))
    e.output("y", e.add("linear", "fc2", h, out_features=8))
    b = pb.module("main")
    x = b.input("x", [5, 8])
    h = b.add(
        "moe", "moe1", x, experts=["Expert"], num_experts=4, gate=gate, k=2, capacity_factor=1.0, dispatch=dispatch
    )
    b.output("y", b.add("linear", "head", b.add("flatten", "flat", h), out_features=3), task="classification")
    return pb.project("moe_ref")


@pytest.mark.parametrize("gate", GATES)
def test_graphnet_moe_block_exports_with_static_dispatch(gate):
    torch.manual_seed(61)
    net = GraphNet(moe_project(gate)).eval()
    assert isinstance(net.moe1, MixtureOfExperts) and net.moe1.dispatch == "static"
    x = torch.randn(3, 5, 8)
    if gate == "expert_choice":
        program = torch.export.export(net, (x,))
        tests = [x, torch.randn(3, 5, 8)]
    else:  # GraphNet.forward(*inputs): the spec is nested one level
        program = torch.export.export(net, (x,), dynamic_shapes=(({0: torch.export.Dim("N", min=2, max=512)},),))
        tests = [x, torch.randn(7, 5, 8), torch.randn(2, 5, 8)]
    for t in tests:
        assert torch.allclose(program.module()(t), net(t), atol=1e-6)
    sorted_net = GraphNet(moe_project(gate, "sorted")).eval()
    sorted_net.load_state_dict(net.state_dict())
    assert torch.allclose(sorted_net(tests[0]), net(tests[0]), atol=1e-6)


# ------------------------------------------------------ sorted dispatch cost


class Guarded(nn.Linear):
    """An expert that records its calls and refuses an empty batch."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, dim)
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 0:
            raise AssertionError("sorted dispatch called an expert with 0 tokens")
        self.calls.append(x.shape[0])
        return super().forward(x)


@pytest.mark.parametrize("gate", ["topk", "switch", "noisy_topk"])
def test_sorted_never_calls_an_expert_without_tokens(gate):
    dim, E = 4, 6
    experts = [Guarded(dim) for _ in range(E)]
    moe = MixtureOfExperts(dim, experts, gate=gate, k=2, capacity_factor=4.0).eval()
    with torch.no_grad():  # experts 2..5 get logits far below 0 and 1
        moe.router.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]] + [[-5.0, -5.0, 0, 0]] * 4))
    x = torch.rand(25, dim) + 1.0
    out = moe(x)
    assert out.shape == (25, dim)
    assert all(e.calls == [] for e in experts[2:]), "experts without tokens must not run"
    k = 1 if gate == "switch" else 2
    assert sum(sum(e.calls) for e in experts[:2]) == 25 * k
    assert all(len(e.calls) <= 1 for e in experts), "each expert runs at most once per forward"
