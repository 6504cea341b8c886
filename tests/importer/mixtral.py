"""A Mixtral-style sparse mixture-of-experts layer (as in transformers' MixtralSparseMoeBlock):
a router, SwiGLU experts, top-2 routing with the weights renormalised, a loop over experts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MixtralExpert(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class SparseMoeBlock(nn.Module):
    def __init__(self, dim: int, hidden: int, num_experts: int = 4, top_k: int = 2) -> None:
        super().__init__()
        self.num_experts, self.top_k = num_experts, top_k
        self.gate = nn.Linear(dim, num_experts, bias=False)
        self.experts = nn.ModuleList(MixtralExpert(dim, hidden) for _ in range(num_experts))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch, length, dim = hidden_states.shape
        x = hidden_states.view(-1, dim)
        routing = F.softmax(self.gate(x), dim=1, dtype=torch.float)
        weights, selected = torch.topk(routing, self.top_k, dim=-1)
        weights = (weights / weights.sum(dim=-1, keepdim=True)).to(x.dtype)
        out = torch.zeros_like(x)
        mask = F.one_hot(selected, num_classes=self.num_experts).permute(2, 1, 0)
        for e in range(self.num_experts):
            idx, top_x = torch.where(mask[e])
            out.index_add_(0, top_x, self.experts[e](x[top_x]) * weights[top_x, idx, None])
        return out.view(batch, length, dim)


class MixtralLayer(nn.Module):
    """A pre-norm residual MoE layer over tokens, pooled into a classifier."""

    def __init__(self, dim: int = 16, hidden: int = 32, num_experts: int = 4, num_classes: int = 3) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.moe = SparseMoeBlock(dim, hidden, num_experts)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.moe(self.norm(x))
        return self.head(x.mean(dim=1))
