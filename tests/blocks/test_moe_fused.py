"""The fused sorted dispatch (moe_fused) against the static loop and an independent reference.

The reference loops over tokens in plain Python, picks the top-k experts from the router logits
with ``sorted`` and mixes the expert modules' own outputs; autograd through it gives the
reference gradients.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from modstudio.blocks.layers import moe_fused
from modstudio.blocks.layers.moe import MixtureOfExperts
from modstudio.blocks.layers.moe_fused import mlp_chain
from modstudio.compile.graphnet import GraphNet
from modstudio.graph.builder import ProjectBuilder

DIM = 6


def mlp(hidden: int = 9, act: nn.Module | None = None, bias: bool = True, out: int = DIM) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(DIM, hidden, bias=bias), act or nn.GELU(), nn.Linear(hidden, hidden, bias=bias), nn.Tanh(),
        nn.Linear(hidden, out, bias=bias),
    )  # fmt: skip


def make(experts: list[nn.Module], gate: str = "topk", dispatch: str = "sorted", **kw) -> MixtureOfExperts:
    torch.manual_seed(5)
    moe = MixtureOfExperts(DIM, experts, gate=gate, k=2, dispatch=dispatch, capacity_factor=1.0, **kw)
    return moe.train()


def twin(moe: MixtureOfExperts, dispatch: str) -> MixtureOfExperts:
    moe.aux_losses = {}  # tensors of the last forward are not graph leaves: deepcopy refuses them
    other = copy.deepcopy(moe)
    other.dispatch = dispatch
    return other


def grads_of(moe: MixtureOfExperts, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
    x = x.clone().requires_grad_(True)
    moe.zero_grad(set_to_none=True)
    torch.manual_seed(3)
    out = moe(x)
    target = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
    ((out * target).sum() + sum(moe.aux_losses.values())).backward()
    grads: dict[str, torch.Tensor | None] = {"input": x.grad}
    grads.update({name: p.grad for name, p in moe.named_parameters()})
    return out, grads


def assert_same(a: MixtureOfExperts, b: MixtureOfExperts, x: torch.Tensor, none_is_zero: bool = True) -> None:
    out_a, grads_a = grads_of(a, x)
    out_b, grads_b = grads_of(b, x)
    assert torch.allclose(out_a, out_b, atol=1e-5)
    assert grads_a.keys() == grads_b.keys()
    for name, ga in grads_a.items():
        gb = grads_b[name]
        if none_is_zero:
            ga = ga if ga is not None else torch.zeros(1)
            gb = gb if gb is not None else torch.zeros(1)
        assert ga is not None and gb is not None, f"gradient of {name} missing"
        assert torch.allclose(ga, gb, atol=1e-5), f"gradient of {name} differs"


@pytest.fixture
def fused_calls(monkeypatch) -> list[int]:
    """Counts calls of the fused path, so a test knows it ran."""
    calls: list[int] = []
    real = moe_fused._FusedDispatch.apply

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(moe_fused._FusedDispatch, "apply", counted)
    return calls


@pytest.mark.parametrize("gate", ["topk", "noisy_topk", "switch", "expert_choice"])
@pytest.mark.parametrize("shape", [(40, DIM), (3, 11, DIM)])
def test_fused_matches_static_loop(gate, shape, fused_calls):
    torch.manual_seed(1)
    moe = make([mlp() for _ in range(5)], gate=gate, importance_weight=0.1)
    torch.manual_seed(2)
    x = torch.randn(*shape)
    assert_same(moe, twin(moe, "static"), x)
    assert fused_calls, "the fused path did not run"


@pytest.mark.parametrize(
    "factory",
    [
        lambda: mlp(act=nn.ReLU(), bias=False),
        lambda: mlp(act=nn.GELU(approximate="tanh")),  # GELU's derivative is called directly: its setting kept
        lambda: mlp(act=nn.SiLU(), out=4),
        lambda: nn.Sequential(nn.Linear(DIM, DIM)),
        lambda: nn.Sequential(nn.Linear(DIM, 8), nn.LeakyReLU(0.2), nn.Linear(8, DIM)),
        lambda: nn.Sequential(nn.Tanh(), nn.Linear(DIM, 8), nn.Sigmoid()),  # starts and ends with an activation
        lambda: nn.Sequential(nn.Linear(DIM, 8), nn.ELU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, DIM)),
    ],
)
def test_fused_chains_match_static_and_unfused_loop(factory, fused_calls, monkeypatch):
    torch.manual_seed(4)
    experts = [factory() for _ in range(6)]
    out_dim = experts[0](torch.zeros(1, DIM)).shape[-1]
    moe = make(experts, out_dim=out_dim)
    x = torch.randn(30, DIM)
    assert_same(moe, twin(moe, "static"), x)
    assert fused_calls
    unfused = twin(moe, "sorted")
    out_fused, grads_fused = grads_of(moe, x)
    monkeypatch.setattr("modstudio.blocks.layers.moe.mlp_chain", lambda *a: None)
    out_loop, grads_loop = grads_of(unfused, x)
    assert torch.allclose(out_fused, out_loop, atol=1e-6)
    for name, g in grads_loop.items():  # None (expert without slots) exactly where the loop has None
        assert (g is None) == (grads_fused[name] is None), name
        if g is not None:
            assert torch.allclose(g, grads_fused[name], atol=1e-5), name


def reference(moe: MixtureOfExperts, x: torch.Tensor) -> torch.Tensor:
    """Top-k by hand: per token, the k largest logits, softmax over them, mix the experts."""
    rows = []
    logits = moe.router(x)
    for t in range(x.shape[0]):
        values = logits[t].tolist()
        best = sorted(range(len(values)), key=lambda e: -values[e])[: moe.k]
        chosen = logits[t, best] - logits[t, best[0]]  # differentiable copy of the same numbers
        weights = chosen.exp() / chosen.exp().sum()
        rows.append(sum(weights[j] * moe.experts[e](x[t : t + 1])[0] for j, e in enumerate(best)))
    return torch.stack(rows)


def test_fused_matches_independent_reference(fused_calls):
    torch.manual_seed(8)
    moe = make([mlp() for _ in range(7)], load_balance_weight=0.0, z_loss_weight=0.0)
    ref = copy.deepcopy(moe)
    x = torch.randn(25, DIM)
    out, grads = grads_of(moe, x)
    assert fused_calls
    xr = x.clone().requires_grad_(True)
    expected = reference(ref, xr)
    target = torch.linspace(-1, 1, expected.numel()).reshape(expected.shape)
    (expected * target).sum().backward()
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(grads["input"], xr.grad, atol=1e-5)
    for name, p in ref.named_parameters():
        mine = grads[name] if grads[name] is not None else torch.zeros_like(p)
        theirs = p.grad if p.grad is not None else torch.zeros_like(p)
        assert torch.allclose(mine, theirs, atol=1e-5), f"gradient of {name} differs"


@pytest.mark.parametrize(
    "experts",
    [
        [mlp(hidden=9), mlp(hidden=5), mlp(hidden=9)],  # heterogeneous widths
        [mlp(act=nn.LeakyReLU(0.1)), mlp(act=nn.LeakyReLU(0.3)), mlp(act=nn.LeakyReLU(0.1))],  # settings differ
        [nn.Sequential(nn.Linear(DIM, 8), nn.Dropout(0.0), nn.Linear(8, DIM)) for _ in range(3)],  # not elementwise
        [mlp(), nn.Sequential(nn.Linear(DIM, DIM)), mlp()],  # different chains
        [nn.Linear(DIM, DIM) for _ in range(3)],  # not a Sequential
        [mlp(act=nn.ReLU(inplace=True)) for _ in range(3)],  # in place
    ],
)
def test_other_experts_take_the_module_loop_and_still_match(experts, fused_calls):
    assert mlp_chain(nn.ModuleList(experts), torch.zeros(1, DIM)) is None
    moe = make(experts)
    assert_same(moe, twin(moe, "static"), torch.randn(20, DIM))
    assert not fused_calls


def test_hooked_expert_takes_the_module_loop(fused_calls):
    experts = [mlp() for _ in range(4)]
    seen: list[int] = []
    experts[2][0].register_forward_hook(lambda m, i, o: seen.append(o.shape[0]))
    experts[1].register_full_backward_hook(lambda m, gi, go: seen.append(-1))
    moe = make(experts)
    moe(torch.randn(30, DIM, requires_grad=True)).sum().backward()
    assert not fused_calls and seen and -1 in seen, "hooks on an expert or its layers must still fire"


def test_expert_without_slots_gets_no_gradient_and_frozen_experts_work(fused_calls):
    experts = [mlp() for _ in range(4)]
    for p in experts[1].parameters():
        p.requires_grad_(False)
    moe = make(experts)
    with torch.no_grad():  # expert 3 is never in anyone's top 2
        moe.router.weight[3].fill_(0.0)
        moe.router.weight[:3].copy_(torch.eye(3, DIM) * 5)
    x = torch.rand(16, DIM) + 1
    _, grads = grads_of(moe, x)
    assert fused_calls
    assert all(grads[f"experts.3.{n}"] is None for n, _ in experts[3].named_parameters())
    assert all(grads[f"experts.1.{n}"] is None for n, _ in experts[1].named_parameters())
    assert grads["experts.0.0.weight"] is not None and grads["router.weight"] is not None
    with torch.no_grad():
        assert torch.allclose(moe(x), twin(moe, "static")(x), atol=1e-5)


def test_state_dict_names_unchanged():
    moe = make([mlp() for _ in range(3)])
    names = set(moe.state_dict())
    moe(torch.randn(5, DIM)).sum().backward()
    assert set(moe.state_dict()) == names
    assert "experts.2.4.weight" in names


def graph_moe(residual: bool):
    pb = ProjectBuilder("fused")
    e = pb.module("Expert")
    x_in = e.input("x")
    h = e.add("linear", "fc2", e.add("tanh", "act", e.add("linear", "fc1", x_in, out_features=12)), out_features=8)
    e.output("y", e.add("add", "skip", h, x_in) if residual else h)
    b = pb.module("main")
    h = b.add(
        "moe", "moe1", b.input("x", [5, 8]), experts=["Expert"], num_experts=4, gate="topk", k=2, dispatch="sorted"
    )
    b.output("y", b.add("linear", "head", b.add("flatten", "flat", h), out_features=3), task="classification")
    torch.manual_seed(12)
    return GraphNet(pb.project("fused")).moe1


@pytest.mark.parametrize("residual", [False, True])
def test_graphnet_experts_fuse_when_they_are_a_chain(residual, fused_calls):
    moe = graph_moe(residual)
    assert isinstance(moe, MixtureOfExperts)
    assert (mlp_chain(moe.experts, torch.zeros(1, 8)) is None) == residual
    torch.manual_seed(2)
    x = torch.randn(6, 5, 8)
    out, _ = grads_of(moe, x)
    assert bool(fused_calls) != residual
    static = twin(moe, "static")
    assert_same(moe, static, x)
    with torch.no_grad():  # and the experts' own forward, token by token, gives the same mix
        logits = moe.router(x.reshape(-1, 8))
        top, picked = logits.topk(2, dim=-1)
        weights = top.softmax(dim=-1)
        rows = x.reshape(-1, 8)
        expected = torch.stack(
            [
                sum(weights[t, j] * moe.experts[int(picked[t, j])](rows[t : t + 1])[0] for j in range(2))
                for t in range(30)
            ]
        )
    assert torch.allclose(out.detach().reshape(-1, 8), expected, atol=1e-5)


def test_autocast_takes_the_module_loop(fused_calls):
    moe = make([mlp() for _ in range(4)])
    x = torch.randn(12, DIM)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = moe(x)
    assert not fused_calls
    assert out.dtype == x.dtype and torch.isfinite(out).all()


def test_first_expert_without_slots_and_another_output_width(fused_calls):
    experts = [mlp(out=4) for _ in range(4)]
    moe = make(experts, out_dim=4)
    with torch.no_grad():  # expert 0 is never picked
        moe.router.weight[0].fill_(-10.0)
    x = torch.rand(14, DIM) + 1
    assert_same(moe, twin(moe, "static"), x)
    assert fused_calls
    _, grads = grads_of(moe, x)
    assert grads["experts.0.0.weight"] is None and grads["experts.1.0.weight"] is not None
