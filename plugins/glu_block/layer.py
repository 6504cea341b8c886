"""Gated linear unit layers in plain PyTorch (what the glu_block blocks build and exported code imports)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def gated(a: torch.Tensor, b: torch.Tensor, gate: str) -> torch.Tensor:
    """a * gate(b)."""
    if gate == "sigmoid":
        return a * torch.sigmoid(b)
    if gate == "silu":
        return a * F.silu(b)
    if gate == "gelu":
        return a * F.gelu(b)
    if gate == "relu":
        return a * F.relu(b)
    return a * b


class GatedLinearUnit(nn.Module):
    """Linear(in_features, 2 * out_features) split into a and b; returns a * gate(b)."""

    def __init__(self, in_features: int, out_features: int, gate: str = "sigmoid", bias: bool = True) -> None:
        super().__init__()
        self.gate = gate
        self.proj = nn.Linear(in_features, 2 * out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.proj(x).chunk(2, dim=-1)
        return gated(a, b, self.gate)

    def extra_repr(self) -> str:
        # the constructor's arguments, as Python: ModStudio's export writes GatedLinearUnit(<this>)
        out_features = self.proj.out_features // 2
        return f'{self.proj.in_features}, {out_features}, gate="{self.gate}", bias={self.proj.bias is not None}'


class GatedFeedForward(nn.Module):
    """x -> W_down(dropout(a * gate(b))), [a, b] = W_up x; biasless, output size = input size."""

    def __init__(self, features: int, hidden: int, gate: str = "silu", dropout: float = 0.0) -> None:
        super().__init__()
        self.gate = gate
        self.up = nn.Linear(features, 2 * hidden, bias=False)
        self.drop = nn.Dropout(dropout)
        self.down = nn.Linear(hidden, features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.up(x).chunk(2, dim=-1)
        return self.down(self.drop(gated(a, b, self.gate)))

    def extra_repr(self) -> str:
        # the constructor's arguments, as Python: ModStudio's export writes GatedFeedForward(<this>)
        hidden = self.down.in_features
        return f'{self.up.in_features}, {hidden}, gate="{self.gate}", dropout={self.drop.p!r}'
