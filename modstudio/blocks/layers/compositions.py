"""Static compositions of member modules: ensembles, trees, one-vs-rest, cooperative fusion."""

from __future__ import annotations

import torch
from torch import nn


class Ensemble(nn.Module):
    """Members see the same input; their outputs are combined.

    mean: the average. weighted: a learned softmax mixture. concat: joined on the last
    dimension. vote: in training like mean (a vote has no gradient); in eval each member's
    argmax votes and the output is log(share of votes), so the majority class scores highest.
    """

    def __init__(self, members: list[nn.Module], combine: str = "mean") -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.combine = combine
        self.member_logits = nn.Parameter(torch.zeros(len(members))) if combine == "weighted" else None

    def extra_repr(self) -> str:
        return f"members={len(self.members)}, combine={self.combine}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [member(x) for member in self.members]
        if self.combine == "concat":
            return torch.cat(outs, dim=-1)
        stacked = torch.stack(outs)
        if self.member_logits is not None:
            weights = self.member_logits.softmax(0).view(-1, *([1] * (stacked.dim() - 1)))
            return (stacked * weights).sum(0)
        if self.combine == "vote" and not self.training:
            votes = nn.functional.one_hot(stacked.argmax(-1), stacked.shape[-1]).float().mean(0)
            return votes.clamp_min(1e-6).log()
        return stacked.mean(0)


class ClassTree(nn.Module):
    """A trunk feeds branches that each score a subset of the classes; the scores are put
    back in class order to give full logits (task decomposition by class subsets)."""

    def __init__(self, trunk: nn.Module, branches: list[nn.Module], branch_of_class: list[int]) -> None:
        super().__init__()
        self.trunk = trunk
        self.branches = nn.ModuleList(branches)
        order = [c for b in range(len(branches)) for c, owner in enumerate(branch_of_class) if owner == b]
        # branch outputs are concatenated in branch order; this puts each column at its class
        self.register_buffer(
            "class_position", torch.tensor([order.index(c) for c in range(len(order))]), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.trunk(x)
        scores = torch.cat([branch(features) for branch in self.branches], dim=-1)
        return scores.index_select(-1, self.class_position)


class OneVsRest(nn.Module):
    """One binary member per class; member c's single logit scores class c."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([member(x) for member in self.members], dim=-1)


class Cooperative(nn.Module):
    """Heterogeneous members each see the input (or their slice of the last dimension);
    a learned linear combiner fuses their concatenated outputs."""

    def __init__(self, members: list[nn.Module], splits: list[int], fused_features: int, out_features: int) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.splits = list(splits)
        self.combiner = nn.Linear(fused_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = x.split(self.splits, dim=-1) if self.splits else [x] * len(self.members)
        return self.combiner(torch.cat([m(p) for m, p in zip(self.members, parts)], dim=-1))
