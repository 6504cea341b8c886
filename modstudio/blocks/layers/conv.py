"""Convolution modules that torch.nn does not provide as one module."""

from __future__ import annotations

import torch
from torch import nn


class DepthwiseSeparableConv2d(nn.Module):
    """A depthwise KxK convolution (one filter per input channel) followed by a pointwise 1x1
    convolution to ``out_channels``. The depthwise step has no bias: the pointwise bias covers it."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=in_channels,
            bias=False,
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))
