"""Torch-only compositions and conditional layers that exported code carries.

Like ``runtime_layers``: copied verbatim into the exported ``.py``, parameter names equal to
ModStudio's layers, no routing probes. Conditional layers run every expert (branch) on every
token in a static ``for e, expert in enumerate(self.experts)`` loop and mask the results with
the combine weights: no data-dependent shapes, so ``torch.jit.script``, ``torch.export`` and
ONNX accept them, and the outputs equal ModStudio's sorted dispatch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def balance_loss(probs: torch.Tensor, picked: torch.Tensor, count: int) -> torch.Tensor:
    """count * sum_i f_i * P_i: f_i the share of picks that went to i, P_i its mean probability."""
    chosen = torch.bincount(picked.reshape(-1), minlength=count).to(probs.dtype)
    return count * (chosen / chosen.sum() * probs.mean(dim=0)).sum()


class Ensemble(nn.Module):
    """Members see the same input; their outputs are averaged (mean), mixed by learned softmax
    weights (weighted), joined (concat), or, in eval, put to a vote (log share of votes)."""

    def __init__(self, members: list[nn.Module], combine: str = "mean") -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.combine = combine
        self.member_logits = nn.Parameter(torch.zeros(len(members))) if combine == "weighted" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        for member in self.members:
            outs.append(member(x))
        if self.combine == "concat":
            return torch.cat(outs, dim=-1)
        stacked = torch.stack(outs)
        member_logits = self.member_logits
        if member_logits is not None:
            weights = member_logits.softmax(0).view([-1] + [1] * (stacked.dim() - 1))
            return (stacked * weights).sum(0)
        if self.combine == "vote" and not self.training:
            votes = F.one_hot(stacked.argmax(-1), stacked.shape[-1]).float().mean(0)
            return votes.clamp_min(1e-6).log()
        return stacked.mean(0)


class ClassTree(nn.Module):
    """A trunk feeds branches that each score a subset of the classes; the scores are put
    back in class order to give full logits."""

    def __init__(self, trunk: nn.Module, branches: list[nn.Module], class_position: list[int]) -> None:
        super().__init__()
        self.trunk = trunk
        self.branches = nn.ModuleList(branches)
        self.register_buffer("class_position", torch.tensor(class_position), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.trunk(x)
        scores: list[torch.Tensor] = []
        for branch in self.branches:
            scores.append(branch(features))
        return torch.cat(scores, dim=-1).index_select(-1, self.class_position)


class OneVsRest(nn.Module):
    """One binary member per class; member c's single logit scores class c."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores: list[torch.Tensor] = []
        for member in self.members:
            scores.append(member(x))
        return torch.cat(scores, dim=-1)


class Cooperative(nn.Module):
    """Members each see the input (or their slice of the last dimension); a linear combiner
    fuses their concatenated outputs."""

    def __init__(self, members: list[nn.Module], splits: list[int], fused_features: int, out_features: int) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.splits = splits
        self.combiner = nn.Linear(fused_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = x.split(self.splits, dim=-1) if len(self.splits) > 0 else [x] * len(self.members)
        outs: list[torch.Tensor] = []
        for i, member in enumerate(self.members):
            outs.append(member(parts[i]))
        return self.combiner(torch.cat(outs, dim=-1))


class MixtureOfExperts(nn.Module):
    """Routes each token (a vector over the last dimension) to experts and mixes their outputs.

    Gates (the router runs in fp32): ``topk`` softmax over the k largest logits; ``noisy_topk``
    the same with learned noise while training; ``switch`` top-1 weighted by the full softmax,
    at most ceil(capacity_factor * T / E) tokens per expert, the rest pass through unchanged;
    ``expert_choice`` each expert takes its top min(T, ceil(capacity_factor * T / E)) tokens.
    """

    def __init__(
        self,
        dim: int,
        experts: list[nn.Module],
        gate: str = "topk",
        k: int = 2,
        capacity_factor: float = 1.25,
        out_dim: int | None = None,
        load_balance_weight: float = 0.0,
        z_loss_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.experts = nn.ModuleList(experts)
        self.num_experts = len(experts)
        self.gate = gate
        self.k = 1 if gate == "switch" else k
        self.capacity_factor = capacity_factor
        self.out_dim = out_dim if out_dim is not None else dim
        self.load_balance_weight = load_balance_weight
        self.z_loss_weight = z_loss_weight
        self.router = nn.Linear(dim, self.num_experts, bias=False)
        self.noise = nn.Linear(dim, self.num_experts, bias=False) if gate == "noisy_topk" else None
        self.aux_losses: dict[str, torch.Tensor] = {}  # set by a training forward; add them to the loss

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        tokens = x.reshape(-1, x.shape[-1])
        logits = self.router(tokens).float()
        scores = logits
        noise = self.noise
        if noise is not None and self.training:
            scores = logits + torch.randn_like(logits) * F.softplus(noise(tokens).float())
        combine = self.combine_weights(scores)  # [tokens, experts], 0 where a token does not go
        out = torch.zeros(tokens.shape[0], self.out_dim, dtype=tokens.dtype, device=tokens.device)
        for e, expert in enumerate(self.experts):
            weight = combine[:, e : e + 1]
            out = out + torch.where(weight > 0, weight.to(tokens.dtype) * expert(tokens), 0.0)
        if self.gate == "switch":  # tokens over capacity pass through unchanged
            dropped = combine.sum(dim=-1) == 0
            out = torch.where(dropped.unsqueeze(-1), tokens.to(out.dtype), out)
        if self.training and not torch.jit.is_scripting():
            self.aux_losses = self.auxiliary_losses(logits, scores)
        return out.unflatten(0, lead).to(x.dtype)

    @torch.jit.unused
    def auxiliary_losses(self, logits: torch.Tensor, scores: torch.Tensor) -> dict[str, torch.Tensor]:
        """load_balance = E * sum_i f_i * P_i (f_i: share of the routed slots sent to expert i,
        P_i: its mean router probability); z_loss = mean(logsumexp(logits)^2); each times its weight."""
        losses: dict[str, torch.Tensor] = {}
        probs = scores.softmax(dim=-1)
        if self.load_balance_weight > 0 and self.gate != "expert_choice":
            picked = scores.topk(self.k, dim=-1).indices.reshape(-1)
            share = torch.bincount(picked, minlength=self.num_experts).to(probs.dtype) / picked.numel()
            losses["load_balance"] = self.load_balance_weight * self.num_experts * (share * probs.mean(dim=0)).sum()
        if self.z_loss_weight > 0:
            losses["z_loss"] = self.z_loss_weight * torch.logsumexp(logits, dim=-1).square().mean()
        return losses

    def combine_weights(self, scores: torch.Tensor) -> torch.Tensor:
        probs = scores.softmax(dim=-1)
        tokens, experts = probs.shape[0], probs.shape[1]
        if self.gate == "expert_choice":
            capacity = min(tokens, math.ceil(self.capacity_factor * tokens / experts))
            weights, picked = probs.topk(capacity, dim=0)
            return torch.zeros_like(probs).scatter(0, picked, weights)
        if self.gate == "switch":
            picked = probs.argmax(dim=-1, keepdim=True)
            onehot = torch.zeros_like(probs).scatter(1, picked, 1.0)
            position = (onehot.cumsum(dim=0) * onehot).sum(dim=-1, keepdim=True) - 1  # 0-based, per expert
            kept = (position < self.capacity_factor * tokens / experts).to(probs.dtype)
            return onehot * probs.gather(1, picked) * kept
        values, picked = scores.topk(self.k, dim=-1)
        return torch.zeros_like(probs).scatter(1, picked, values.softmax(dim=-1))


class HierarchicalMoE(nn.Module):
    """A primary gate picks ``k_groups`` of the groups, a secondary gate inside each picked
    group picks ``k`` of its experts; y = sum_i sum_j G_i(x) G_ij(x) E_ij(x)."""

    def __init__(
        self,
        dim: int,
        experts: list[nn.Module],
        groups: int,
        k_groups: int,
        k: int,
        out_dim: int,
        load_balance_weight: float = 0.0,
        z_loss_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.experts = nn.ModuleList(experts)
        self.groups = groups
        self.per_group = len(experts) // groups
        self.k_groups = k_groups
        self.k = k
        self.out_dim = out_dim
        self.load_balance_weight = load_balance_weight
        self.z_loss_weight = z_loss_weight
        self.aux_losses: dict[str, torch.Tensor] = {}  # set by a training forward; add them to the loss
        self.primary = nn.Linear(dim, groups, bias=False)
        self.secondary = nn.Linear(dim, len(experts), bias=False)  # one router per group, side by side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        tokens = x.reshape(-1, x.shape[-1])
        count = tokens.shape[0]
        group_logits = self.primary(tokens).float()
        inner_logits = self.secondary(tokens).float().view(count, self.groups, self.per_group)
        group_values, group_idx = group_logits.topk(self.k_groups, dim=-1)
        picked_inner = inner_logits.gather(1, group_idx.unsqueeze(-1).expand(-1, -1, self.per_group))
        inner_values, inner_idx = picked_inner.topk(self.k, dim=-1)  # [T, k_groups, k]
        weight = group_values.softmax(dim=-1).unsqueeze(-1) * inner_values.softmax(dim=-1)
        expert_idx = group_idx.unsqueeze(-1) * self.per_group + inner_idx
        combine = torch.zeros(count, len(self.experts), device=x.device).scatter(
            1, expert_idx.reshape(count, -1), weight.reshape(count, -1)
        )
        out = torch.zeros(count, self.out_dim, dtype=tokens.dtype, device=tokens.device)
        for e, expert in enumerate(self.experts):
            w = combine[:, e : e + 1]
            out = out + torch.where(w > 0, w.to(tokens.dtype) * expert(tokens), 0.0)
        if self.training and not torch.jit.is_scripting():
            self.aux_losses = self.auxiliary_losses(group_logits, inner_logits, group_idx, expert_idx)
        return out.unflatten(0, lead).to(x.dtype)

    @torch.jit.unused
    def auxiliary_losses(
        self, group_logits: torch.Tensor, inner_logits: torch.Tensor, group_idx: torch.Tensor, expert_idx: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Load balance over groups and over experts (P(expert) = P(group) P(expert | group)),
        and the z-loss of both routers; each times its weight."""
        losses: dict[str, torch.Tensor] = {}
        if self.load_balance_weight > 0:
            groups = group_logits.softmax(-1)
            joint = (groups.unsqueeze(-1) * inner_logits.softmax(-1)).reshape(groups.shape[0], -1)
            primary = balance_loss(groups, group_idx, self.groups)
            losses["load_balance"] = self.load_balance_weight * (
                primary + balance_loss(joint, expert_idx, len(self.experts))
            )
        if self.z_loss_weight > 0:
            z = torch.logsumexp(group_logits, -1).square().mean() + torch.logsumexp(inner_logits, -1).square().mean()
            losses["z_loss"] = self.z_loss_weight * z
        return losses


class HardGate(nn.Module):
    """Sends each sample to one branch (or past them all when skipping is allowed), chosen by
    argmax of a learned router; while training a straight-through Gumbel-softmax."""

    def __init__(
        self,
        features: int,
        branches: list[nn.Module],
        out_shape: list[int],
        allow_skip: bool,
        temperature: float,
        balance_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.balance_weight = balance_weight
        self.aux_losses: dict[str, torch.Tensor] = {}  # set by a training forward; add them to the loss
        self.branches = nn.ModuleList(branches)
        self.out_shape = out_shape
        self.out_features = math.prod(out_shape)
        self.allow_skip = allow_skip
        self.temperature = temperature
        self.choices = len(branches) + int(allow_skip)
        self.router = nn.Linear(features, self.choices)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.router(x.flatten(1)).float()
        if self.training:
            onehot = F.gumbel_softmax(logits, tau=self.temperature, hard=True)
        else:
            onehot = F.one_hot(logits.argmax(-1), self.choices).to(logits.dtype)
        onehot = onehot.to(x.dtype)
        out = torch.zeros(x.shape[0], self.out_features, dtype=x.dtype, device=x.device)
        for b, branch in enumerate(self.branches):
            out = out + onehot[:, b : b + 1] * branch(x).flatten(1)
        if self.allow_skip:  # a skipped sample passes through unchanged
            out = out + onehot[:, -1:] * x.flatten(1)
        if self.training and self.balance_weight > 0 and not torch.jit.is_scripting():
            choice = onehot.argmax(-1)
            self.aux_losses = {
                "load_balance": self.balance_weight * balance_loss(logits.softmax(-1), choice, self.choices)
            }
        return out.unflatten(1, self.out_shape)
