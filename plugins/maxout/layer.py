"""The Maxout layer in plain PyTorch (what the maxout block builds and exported code imports)."""

from __future__ import annotations

import torch
from torch import nn


class Maxout(nn.Module):
    """y_j = max_k (x · W_jk + b_jk) for k in 1..pieces: a Linear to out_features * pieces, then a
    maximum over each output's pieces."""

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True) -> None:
        super().__init__()
        self.out_features = out_features
        self.pieces = pieces
        self.linear = nn.Linear(in_features, out_features * pieces, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        grouped = y.unflatten(-1, (self.out_features, self.pieces))  # [..., out_features, pieces]
        return grouped.amax(dim=-1)

    def extra_repr(self) -> str:
        # the constructor's arguments, as Python: ModStudio's export writes Maxout(<this>)
        bias = self.linear.bias is not None
        return f"{self.linear.in_features}, {self.out_features}, pieces={self.pieces}, bias={bias}"
