"""Hierarchical mixture of experts and a learned hard gate over branches.

Hierarchical MoE (Shazeer et al. 2017, appendix B): a primary gate picks ``k_groups`` of G
groups, a secondary gate inside each picked group picks ``k`` of its m experts;
y = Σ_i Σ_j G_i(x)·G_ij(x)·E_ij(x), each gate a softmax over its picked logits.
Auxiliary losses per level: load balancing G·Σ f_g·P_g over groups and E·Σ f_e·P_e over
experts (P_e = P(group)·P(expert | group) from the full softmaxes), plus the z-loss of both
routers. The probe records tokens per group and per expert; its capture keeps the expert id
(group * experts_per_group + expert; the group is that id // experts_per_group).

HardGate: each sample goes to exactly one branch (or skips, passing through unchanged),
chosen by argmax of a learned router; while training a straight-through Gumbel-softmax
(hard one-hot forward, soft gradient) lets the router learn.
"""

from __future__ import annotations

from typing import Any

import torch

from .moe import run_sorted
from .routing import RoutingProbe
from .static_routing import HardGateLayer, HierarchicalMoELayer


class HierarchicalMoE(HierarchicalMoELayer):
    """The training form: sorted dispatch and a routing probe; the constructor is
    ``HierarchicalMoELayer``'s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.probe = RoutingProbe(len(self.experts), "hierarchical_moe")

    def extra_repr(self) -> str:
        return f"groups={self.groups}, experts per group={self.per_group}, k_groups={self.k_groups}, k={self.k}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        tokens = x.reshape(-1, x.shape[-1])
        count = tokens.shape[0]
        group_logits, inner_logits, group_idx, expert_idx, combine = self.route(tokens)
        token_idx = torch.arange(count, device=x.device).repeat_interleave(self.k_groups * self.k)
        per_token = self.k_groups * self.k
        out = run_sorted(self.experts, tokens, combine, token_idx, expert_idx.reshape(-1), self.out_dim, per_token)
        joint = self.joint_probs(group_logits, inner_logits)
        if self.training:
            self.aux_losses = self.auxiliary_losses(group_logits, inner_logits, group_idx, expert_idx, joint)
        if self.probe.enabled:
            self._record(x, joint, combine, group_idx)
        if self.probe.capture:  # expert id group * experts_per_group + expert of the best group's best expert
            self.probe.keep_choice(expert_idx[:, 0, 0])
        return out.reshape(*lead, self.out_dim).to(x.dtype)

    @torch.no_grad()  # facts, not part of the loss
    def _record(self, x: torch.Tensor, joint: torch.Tensor, combine: torch.Tensor, group_idx: torch.Tensor) -> None:
        probe = self.probe
        routed = combine > 0
        count = joint.shape[0]
        probe.add("tokens_per_expert", routed.sum(dim=0))
        probe.add("tokens_per_group", torch.bincount(group_idx.reshape(-1), minlength=self.groups))
        probe.add("slots", float(count * self.k_groups * self.k))
        probe.add("routed_tokens", float(count))
        probe.add("entropy", _mean_entropy(joint))
        probe.add(
            "group_entropy", _mean_entropy(joint.view(count, self.groups, self.per_group).sum(-1))
        )  # primary gate
        probe.add("mean_prob", joint.mean(dim=0))
        for name, value in self.aux_losses.items():
            probe.add(f"aux_{name}", value)
        probe.count_by_label(x.shape[0], routed)
        probe.step_done()


class HardGate(HardGateLayer):
    """The training form: each sample runs only through its branch, and a routing probe; the
    constructor is ``HardGateLayer``'s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.probe = RoutingProbe(self.choices, "gate")

    def extra_repr(self) -> str:
        return f"branches={len(self.branches)}, allow_skip={self.allow_skip}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits, onehot = self.choose(x)
        choice = onehot.argmax(-1)
        order = torch.argsort(choice, stable=True)
        sizes = torch.bincount(choice, minlength=self.choices).tolist()
        outs = []
        for branch, chunk, size in zip([*self.branches, None], x.index_select(0, order).split(sizes), sizes):
            if size:  # a skipped sample (branch None) passes through unchanged
                outs.append((chunk if branch is None else branch(chunk)).flatten(1))
        scale = onehot[order, choice[order]].unsqueeze(-1)  # 1.0 forward; carries the router's gradient
        out = torch.zeros(x.shape[0], outs[0].shape[1], dtype=x.dtype, device=x.device)
        out.index_add_(0, order, torch.cat(outs) * scale.to(x.dtype))
        self.aux_losses = self.auxiliary_losses(logits, choice) if self.training else {}
        if self.probe.capture:  # the branch each sample took (the last index is the skip)
            self.probe.keep_choice(choice)
        if self.probe.enabled:
            self.probe.add("tokens_per_expert", onehot.detach().sum(0))
            self.probe.add("slots", float(x.shape[0]))
            self.probe.add("routed_tokens", float(x.shape[0]))
            probs = logits.softmax(-1)
            self.probe.add("entropy", _mean_entropy(probs))
            for name, value in self.aux_losses.items():
                self.probe.add(f"aux_{name}", value)
            self.probe.count_by_label(x.shape[0], onehot > 0)
            self.probe.step_done()
        return out.view(x.shape[0], *self.out_shape)


def _mean_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Mean over tokens of the entropy of each row of probabilities (nats)."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean()
