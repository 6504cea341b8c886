"""Locally connected layers: convolution-like windows with untied (or partly tied) weights."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sliding_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """How many windows of ``kernel_size`` fit along ``size`` (as torch's Conv2d counts them)."""
    return (size + 2 * padding - kernel_size) // stride + 1


class LocallyConnected2d(nn.Module):
    """Like Conv2d, but each output position has its own filter bank (no weight sharing).

    ``weight`` is [out_h * out_w, out_channels, in_channels * k * k] (one filter bank per
    position, in unfold's patch order) and ``bias`` is [out_channels, out_h, out_w]. The input
    height and width are fixed when the layer is built.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        input_size: tuple[int, int],
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.output_size = (
            sliding_size(input_size[0], kernel_size, stride, padding),
            sliding_size(input_size[1], kernel_size, stride, padding),
        )
        positions = self.output_size[0] * self.output_size[1]
        self.weight = nn.Parameter(torch.empty(positions, out_channels, in_channels * kernel_size * kernel_size))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, *self.output_size))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Each position starts like a freshly initialised Conv2d: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        bound = 1.0 / math.sqrt(self.weight.shape[-1])
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)  # [N, C*k*k, L]
        out = torch.einsum("ncl,loc->nol", patches, self.weight)  # one matrix product per position
        out = out.reshape(x.shape[0], self.out_channels, self.output_size[0], self.output_size[1])
        bias = self.bias
        if bias is not None:
            out = out + bias
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, output_size={self.output_size}, bias={self.bias is not None}"
        )


class LowRankLocallyConnected2d(nn.Module):
    """Low-rank locally connected layer (Elsayed et al. 2020, "Revisiting spatial invariance
    with low-rank local connectivity").

    ``rank`` shared filter banks (``bases``, one Conv2d with rank * out_channels filters) are
    mixed at each output position (i, j) with combining weights
    ``w(i, j) = softmax_r(row_logits[r, i] + col_logits[r, j])``: they are positive and sum to
    one, so the kernel at every position is a convex combination of the shared kernels.
    The logits start at zero, i.e. the layer starts as a convolution with the averaged kernel;
    rank 1 is exactly a Conv2d. The bias is a per-channel bias plus a per-position bias.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        input_size: tuple[int, int],
        kernel_size: int,
        rank: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.rank = rank
        self.bases = nn.Conv2d(
            in_channels, rank * out_channels, kernel_size, stride=stride, padding=padding, bias=False
        )
        out_h = sliding_size(input_size[0], kernel_size, stride, padding)
        out_w = sliding_size(input_size[1], kernel_size, stride, padding)
        self.output_size = (out_h, out_w)
        self.row_logits = nn.Parameter(torch.zeros(rank, out_h, 1))
        self.col_logits = nn.Parameter(torch.zeros(rank, 1, out_w))
        if bias:
            self.bias = nn.Parameter(torch.zeros(out_channels, 1, 1))
            self.spatial_bias = nn.Parameter(torch.zeros(out_h, out_w))
        else:
            self.register_parameter("bias", None)
            self.register_parameter("spatial_bias", None)

    def combining_weights(self) -> torch.Tensor:
        """[rank, out_h, out_w]: how much each shared kernel counts at each position (sums to 1)."""
        return torch.softmax(self.row_logits + self.col_logits, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        responses = self.bases(x)  # [N, rank * out_channels, out_h, out_w]
        responses = responses.reshape(
            responses.shape[0], self.rank, self.out_channels, responses.shape[-2], responses.shape[-1]
        )
        out = torch.einsum("nrohw,rhw->nohw", responses, self.combining_weights())
        bias, spatial_bias = self.bias, self.spatial_bias
        if bias is not None and spatial_bias is not None:
            out = out + bias + spatial_bias
        return out

    def extra_repr(self) -> str:
        return f"rank={self.rank}, output_size={self.output_size}, bias={self.bias is not None}"
