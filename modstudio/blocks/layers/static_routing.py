"""The static-loop forms of the routing layers, the ones exported code carries.

Every expert (branch) runs on every token in a ``for e, expert in enumerate(self.experts)``
loop, masked by the combine weights: no data-dependent shapes, so ``torch.jit.script``,
``torch.export`` and ONNX accept them. Parameter names equal those of the training forms
(``moe.MixtureOfExperts``, ``hierarchy.HierarchicalMoE``, ``hierarchy.HardGate``: sorted
dispatch and routing probes), so the same ``state_dict`` loads, and the outputs and gradients
equal theirs (tests/blocks/test_moe_static.py).

The two forms share everything but their forward: the constructor and parameter layout, the
gates and the auxiliary losses are written once here, in ``MixtureOfExpertsLayer``,
``HierarchicalMoELayer`` and ``HardGateLayer``, which both forms extend (exported code carries
them with the static classes).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

GATES = ("topk", "noisy_topk", "switch", "expert_choice")
UNPICKED = ("zero", "pass_through")  # expert choice: what a token no expert picks comes out as


def balance_loss(probs: torch.Tensor, picked: torch.Tensor, count: int) -> torch.Tensor:
    """count * sum_i f_i * P_i: f_i the share of picks that went to i, P_i its mean probability."""
    chosen = torch.bincount(picked.reshape(-1), minlength=count).to(probs.dtype)
    return count * (chosen / chosen.sum() * probs.mean(dim=0)).sum()


def cv_squared(values: torch.Tensor) -> torch.Tensor:
    """Squared coefficient of variation: population variance / mean^2."""
    return values.var(unbiased=False) / (values.mean().square() + 1e-10)


def smooth_load(logits: torch.Tensor, scores: torch.Tensor, noise_std: torch.Tensor, k: int) -> torch.Tensor:
    """Shazeer et al.'s differentiable estimate of tokens per expert under the noisy gate."""
    top = scores.topk(k + 1, dim=-1).values
    in_top = scores >= top[:, k - 1 : k]
    threshold = torch.where(in_top, top[:, k : k + 1], top[:, k - 1 : k])
    normal = torch.distributions.Normal(0.0, 1.0)
    return normal.cdf((logits - threshold) / noise_std.clamp_min(1e-9)).sum(dim=0)


class ExpertsLayer(nn.Module):
    """Experts that each map a token to ``out_dim`` values, mixed by combine weights."""

    def __init__(self, experts: list[nn.Module], out_dim: int) -> None:
        super().__init__()
        self.experts = nn.ModuleList(experts)
        self.out_dim = out_dim
        self.aux_losses: dict[str, torch.Tensor] = {}  # set by a training forward; add them to the loss

    def run_static(self, tokens: torch.Tensor, combine: torch.Tensor) -> torch.Tensor:
        """Every expert on every token, masked by the combine weights [tokens, experts]."""
        out = torch.zeros(tokens.shape[0], self.out_dim, dtype=tokens.dtype, device=tokens.device)
        for e, expert in enumerate(self.experts):
            weight = combine[:, e : e + 1]
            out = out + torch.where(weight > 0, weight.to(tokens.dtype) * expert(tokens), 0.0)
        return out


class MixtureOfExpertsLayer(ExpertsLayer):
    """Routes each token (a vector over the last dimension) to experts and mixes their outputs.

    Gates (the router runs in fp32): ``topk`` softmax over the k largest logits; ``noisy_topk``
    the same with learned noise while training; ``switch`` top-1 weighted by the full softmax,
    at most ceil(capacity_factor * T / E) tokens per expert, the rest pass through unchanged;
    ``expert_choice`` each expert takes its top min(T, ceil(capacity_factor * T / E)) tokens;
    a token no expert picks comes out as zeros (``unpicked="zero"``) or as its input
    (``unpicked="pass_through"``, which needs ``out_dim == dim``).
    """

    def __init__(
        self,
        dim: int,
        experts: list[nn.Module],
        gate: str = "topk",
        k: int = 2,
        capacity_factor: float = 1.25,
        load_balance_weight: float = 0.01,
        z_loss_weight: float = 0.001,
        importance_weight: float = 0.0,
        out_dim: int | None = None,
        unpicked: str = "zero",
    ) -> None:
        if gate not in GATES:
            raise ValueError(f"unknown gate '{gate}'")
        if unpicked not in UNPICKED:
            raise ValueError(f"unknown unpicked '{unpicked}'; choose one of {', '.join(UNPICKED)}")
        if gate == "expert_choice" and unpicked == "pass_through" and out_dim not in (None, dim):
            raise ValueError(
                f"unpicked tokens pass through unchanged, so experts must keep the width {dim}, not {out_dim}"
            )
        super().__init__(experts, out_dim if out_dim is not None else dim)
        self.unpicked = unpicked
        self.num_experts = len(experts)
        self.gate = gate
        self.k = 1 if gate == "switch" else k
        self.capacity_factor = capacity_factor
        self.load_balance_weight = load_balance_weight
        self.z_loss_weight = z_loss_weight
        self.importance_weight = importance_weight
        self.router = nn.Linear(dim, self.num_experts, bias=False)
        self.noise = nn.Linear(dim, self.num_experts, bias=False) if gate == "noisy_topk" else None

    def router_scores(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The clean router logits, the scores that route (with the learned noise while
        training a noisy gate) and that noise's standard deviation, all [tokens, experts]."""
        logits = self.router(tokens).float()
        scores = logits
        noise_std = torch.zeros_like(logits)
        noise = self.noise
        if noise is not None and self.training:
            noise_std = F.softplus(noise(tokens).float())
            scores = logits + torch.randn_like(logits) * noise_std
        return logits, scores, noise_std

    def _combine(self, scores: torch.Tensor, probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense combine weights [T, E] (0 where a token does not go) and the picked experts:
        [T, k] expert ids for token-choice gates, [C, E] token ids for expert choice."""
        tokens, experts = probs.shape[0], probs.shape[1]
        if self.gate == "expert_choice":
            capacity = min(tokens, math.ceil(self.capacity_factor * tokens / experts))
            weights, picked = probs.topk(capacity, dim=0)
            return torch.zeros_like(probs).scatter(0, picked, weights), picked
        if self.gate == "switch":
            picked = probs.argmax(dim=-1, keepdim=True)
            weight = probs.gather(1, picked)
            onehot = torch.zeros_like(probs).scatter(1, picked, 1.0)
            position = (onehot.cumsum(dim=0) * onehot).sum(dim=-1, keepdim=True) - 1  # 0-based, per expert
            # position < capacity_factor*T/E  <=>  position < ceil(capacity_factor*T/E) for whole positions;
            # written without ceil so a dynamic token count stays symbolic under torch.export.
            kept = (position < self.capacity_factor * tokens / experts).to(probs.dtype)
            return onehot * weight * kept, picked
        values, picked = scores.topk(self.k, dim=-1)
        return torch.zeros_like(probs).scatter(1, picked, values.softmax(dim=-1)), picked

    def pass_dropped(self, tokens: torch.Tensor, combine: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Switch, and expert choice with ``unpicked="pass_through"``: the tokens no expert took
        (over capacity, or picked by none) pass through unchanged."""
        if not (self.gate == "switch" or (self.gate == "expert_choice" and self.unpicked == "pass_through")):
            return out
        dropped = combine.sum(dim=-1) == 0
        return torch.where(dropped.unsqueeze(-1), tokens.to(out.dtype), out)

    @torch.jit.unused
    def auxiliary_losses(
        self,
        logits: torch.Tensor,
        scores: torch.Tensor,
        probs: torch.Tensor,
        noise_std: torch.Tensor,
        combine: torch.Tensor,
        picked: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """load_balance = E * sum_i f_i * P_i (f_i: share of the routed slots sent to expert i,
        P_i: its mean router probability); z_loss = mean(logsumexp(logits)^2); importance (noisy
        gates) = CV(sum_x G(x))^2 + CV(Load)^2 with Shazeer's smooth load; each times its weight."""
        experts = self.num_experts
        losses: dict[str, torch.Tensor] = {}
        if self.load_balance_weight > 0 and self.gate != "expert_choice":
            chosen = torch.bincount(picked.reshape(-1), minlength=experts).to(probs.dtype)
            share = chosen / chosen.sum()
            losses["load_balance"] = self.load_balance_weight * experts * (share * probs.mean(dim=0)).sum()
        if self.z_loss_weight > 0:
            losses["z_loss"] = self.z_loss_weight * torch.logsumexp(logits, dim=-1).square().mean()
        if self.importance_weight > 0 and self.noise is not None and self.k < experts:
            load = smooth_load(logits, scores, noise_std, self.k)
            losses["importance"] = self.importance_weight * (cv_squared(combine.sum(dim=0)) + cv_squared(load))
        return losses


class MixtureOfExperts(MixtureOfExpertsLayer):
    """The static loop: every expert runs on every token, masked by the combine weights."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        tokens = x.reshape(-1, x.shape[-1])
        logits, scores, noise_std = self.router_scores(tokens)
        probs = scores.softmax(dim=-1)
        combine, picked = self._combine(scores, probs)  # [tokens, experts], 0 where a token does not go
        out = self.pass_dropped(tokens, combine, self.run_static(tokens, combine))
        if self.training and not torch.jit.is_scripting():
            self.aux_losses = self.auxiliary_losses(logits, scores, probs, noise_std, combine, picked)
        return out.unflatten(0, lead).to(x.dtype)


class HierarchicalMoELayer(ExpertsLayer):
    """A primary gate picks ``k_groups`` of the groups, a secondary gate inside each picked
    group picks ``k`` of its experts; y = sum_i sum_j G_i(x) G_ij(x) E_ij(x)."""

    def __init__(
        self,
        dim: int,
        experts: list[nn.Module],
        groups: int,
        k_groups: int = 1,
        k: int = 1,
        load_balance_weight: float = 0.01,
        z_loss_weight: float = 0.001,
        out_dim: int | None = None,
    ) -> None:
        super().__init__(experts, out_dim if out_dim is not None else dim)
        self.groups = groups
        self.per_group = len(experts) // groups
        self.k_groups = k_groups
        self.k = k
        self.load_balance_weight = load_balance_weight
        self.z_loss_weight = z_loss_weight
        self.primary = nn.Linear(dim, groups, bias=False)
        self.secondary = nn.Linear(dim, len(experts), bias=False)  # one router per group, side by side

    def route(
        self, tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The primary logits [T, groups], the secondary ones [T, groups, per_group], the picked
        groups [T, k_groups], the picked experts' ids [T, k_groups, k] and the combine weights [T, E]."""
        count = tokens.shape[0]
        group_logits = self.primary(tokens).float()
        inner_logits = self.secondary(tokens).float().view(count, self.groups, self.per_group)
        group_values, group_idx = group_logits.topk(self.k_groups, dim=-1)
        picked_inner = inner_logits.gather(1, group_idx.unsqueeze(-1).expand(-1, -1, self.per_group))
        inner_values, inner_idx = picked_inner.topk(self.k, dim=-1)  # [T, k_groups, k]
        weight = group_values.softmax(dim=-1).unsqueeze(-1) * inner_values.softmax(dim=-1)
        expert_idx = group_idx.unsqueeze(-1) * self.per_group + inner_idx
        combine = torch.zeros(count, len(self.experts), device=tokens.device).scatter(
            1, expert_idx.reshape(count, -1), weight.reshape(count, -1)
        )
        return group_logits, inner_logits, group_idx, expert_idx, combine

    def joint_probs(self, group_logits: torch.Tensor, inner_logits: torch.Tensor) -> torch.Tensor:
        """P(expert) = P(group) P(expert | group) from the full softmaxes, [T, E]."""
        joint = group_logits.softmax(-1).unsqueeze(-1) * inner_logits.softmax(-1)
        return joint.reshape(group_logits.shape[0], -1)

    @torch.jit.unused
    def auxiliary_losses(
        self,
        group_logits: torch.Tensor,
        inner_logits: torch.Tensor,
        group_idx: torch.Tensor,
        expert_idx: torch.Tensor,
        joint: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Load balance over groups and over experts (``joint``: P(expert)), and the z-loss of
        both routers; each times its weight."""
        losses: dict[str, torch.Tensor] = {}
        if self.load_balance_weight > 0:
            primary = balance_loss(group_logits.softmax(-1), group_idx, self.groups)
            secondary = balance_loss(joint, expert_idx, len(self.experts))
            losses["load_balance"] = self.load_balance_weight * (primary + secondary)
        if self.z_loss_weight > 0:
            z = torch.logsumexp(group_logits, -1).square().mean() + torch.logsumexp(inner_logits, -1).square().mean()
            losses["z_loss"] = self.z_loss_weight * z
        return losses


class HierarchicalMoE(HierarchicalMoELayer):
    """The static loop: every expert runs on every token, masked by the combine weights."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        tokens = x.reshape(-1, x.shape[-1])
        group_logits, inner_logits, group_idx, expert_idx, combine = self.route(tokens)
        out = self.run_static(tokens, combine)
        if self.training and not torch.jit.is_scripting():
            joint = self.joint_probs(group_logits, inner_logits)
            self.aux_losses = self.auxiliary_losses(group_logits, inner_logits, group_idx, expert_idx, joint)
        return out.unflatten(0, lead).to(x.dtype)


class HardGateLayer(nn.Module):
    """Sends each sample to one branch (or past them all when skipping is allowed), chosen by
    argmax of a learned router; while training a straight-through Gumbel-softmax."""

    def __init__(
        self,
        features: int,
        branches: list[nn.Module],
        out_shape: list[int] | tuple[int, ...],
        allow_skip: bool = False,
        temperature: float = 1.0,
        balance_weight: float = 0.01,
    ) -> None:
        super().__init__()
        self.out_shape = list(out_shape)
        self.out_features = math.prod(out_shape)
        self.branches = nn.ModuleList(branches)
        self.allow_skip = allow_skip
        self.temperature = temperature
        self.balance_weight = balance_weight
        self.choices = len(branches) + int(allow_skip)
        self.router = nn.Linear(features, self.choices)
        self.aux_losses: dict[str, torch.Tensor] = {}  # set by a training forward; add them to the loss

    def choose(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The router's logits (fp32) and its one-hot choice per sample (the last index is the skip)."""
        logits = self.router(x.flatten(1)).float()
        if self.training:
            onehot = F.gumbel_softmax(logits, tau=self.temperature, hard=True)
        else:
            onehot = F.one_hot(logits.argmax(-1), self.choices).to(logits.dtype)
        return logits, onehot

    @torch.jit.unused
    def auxiliary_losses(self, logits: torch.Tensor, choice: torch.Tensor) -> dict[str, torch.Tensor]:
        """Load balance over the branches (and the skip), times its weight."""
        if self.balance_weight <= 0:
            return {}
        return {"load_balance": self.balance_weight * balance_loss(logits.softmax(-1), choice, self.choices)}


class HardGate(HardGateLayer):
    """The static loop: every branch runs on every sample, masked by the choice."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits, onehot = self.choose(x)
        onehot = onehot.to(x.dtype)
        chosen = onehot.detach()
        scale = (onehot * chosen).sum(dim=-1, keepdim=True)  # 1.0; the router learns through the chosen branch
        out = torch.zeros(x.shape[0], self.out_features, dtype=x.dtype, device=x.device)
        for b, branch in enumerate(self.branches):
            out = out + chosen[:, b : b + 1] * branch(x).flatten(1)
        if self.allow_skip:  # a skipped sample passes through unchanged
            out = out + chosen[:, -1:] * x.flatten(1)
        out = out * scale
        if self.training and not torch.jit.is_scripting():
            self.aux_losses = self.auxiliary_losses(logits, onehot.argmax(-1))
        return out.unflatten(1, self.out_shape)
