"""Small modules for shape operations and merges."""

from __future__ import annotations

import torch
from torch import nn


class Reshape(nn.Module):
    """Reshape each sample to ``shape`` (the batch dimension is kept)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Permute(nn.Module):
    """Reorder the per-sample dimensions; ``dims`` counts from 1 (0 is the batch)."""

    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = (0, *dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims[1:]}"


class GlobalAvgPool2d(nn.Module):
    """The mean of each channel over the image: [N, C, H, W] -> [N, C]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class Add(nn.Module):
    """Element-wise sum of all inputs (a residual or skip connection)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Multiply(nn.Module):
    """Element-wise product of all inputs (gating)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Concat(nn.Module):
    """Concatenate all inputs along ``dim`` (1 = channels or features)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
