"""Static compositions of member modules: ensembles, trees, one-vs-rest, cooperative fusion.

Written for ``torch.jit.script`` and ``torch.export`` (loops over members, no data-dependent
shapes); the exported ``.py`` carries these classes' source.
"""

from __future__ import annotations

import torch
from torch import nn


class Ensemble(nn.Module):
    """Members see the same input; their outputs are averaged (mean), mixed by learned softmax
    weights (weighted), joined (concat), or, in eval, put to a vote (log share of votes)."""

    def __init__(self, members: list[nn.Module], combine: str = "mean") -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.combine = combine
        self.member_logits = nn.Parameter(torch.zeros(len(members))) if combine == "weighted" else None

    def extra_repr(self) -> str:
        return f"members={len(self.members)}, combine={self.combine}"

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
            votes = nn.functional.one_hot(stacked.argmax(-1), stacked.shape[-1]).float().mean(0)
            return votes.clamp_min(1e-6).log()
        return stacked.mean(0)


class ClassTree(nn.Module):
    """A trunk feeds branches that each score a subset of the classes; the scores are put
    back in class order to give full logits (task decomposition by class subsets).
    ``branch_of_class[c]`` is the branch that scores class c."""

    def __init__(self, trunk: nn.Module, branches: list[nn.Module], branch_of_class: list[int]) -> None:
        super().__init__()
        self.trunk = trunk
        self.branches = nn.ModuleList(branches)
        order = [c for b in range(len(branches)) for c, owner in enumerate(branch_of_class) if owner == b]
        # branch outputs are concatenated in branch order; this puts each column at its class
        position = [order.index(c) for c in range(len(order))]
        self.register_buffer("class_position", torch.tensor(position), persistent=False)

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
