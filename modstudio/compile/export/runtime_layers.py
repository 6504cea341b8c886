"""Torch-only layers that exported code carries (shapes, attention, local, recurrent).

Each class here is copied verbatim into the exported ``.py`` when a project uses it, so it
imports only torch, keeps the parameter names of the ModStudio layer it stands for (the same
``state_dict`` loads), and is written for ``torch.jit.script`` and ``torch.export``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """[N, T, D] -> [N, heads, T, D / heads]."""
    return x.view(x.shape[0], x.shape[1], num_heads, -1).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[N, heads, T, Dh] -> [N, T, heads * Dh]."""
    return x.transpose(1, 2).flatten(2)


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention: one fused q/k/v projection, one output projection."""

    def __init__(self, dim: int, num_heads: int = 1, dropout: float = 0.0, causal: bool = False) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.num_heads = num_heads
        self.dropout = dropout
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(
            split_heads(q, self.num_heads),
            split_heads(k, self.num_heads),
            split_heads(v, self.num_heads),
            dropout_p=p,
            is_causal=self.causal,
        )
        return self.proj(merge_heads(y))


class MultiHeadAttention(nn.Module):
    """Multi-head attention of a query sequence over key/value sequences (key defaults to the
    query, value to the key); the output has the query's feature size."""

    def __init__(
        self, dim: int, num_heads: int, key_dim: int, value_dim: int, dropout: float = 0.0, causal: bool = False
    ) -> None:
        super().__init__()
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(key_dim, dim)
        self.v_proj = nn.Linear(value_dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.num_heads = num_heads
        self.dropout = dropout
        self.causal = causal

    def forward(
        self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None
    ) -> torch.Tensor:
        if key is None:
            key = query
        if value is None:
            value = key
        q = split_heads(self.q_proj(query), self.num_heads)
        k = split_heads(self.k_proj(key), self.num_heads)
        v = split_heads(self.v_proj(value), self.num_heads)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)
        return self.out_proj(merge_heads(y))


class FeedForward(nn.Module):
    """The transformer MLP: Linear -> GELU -> Dropout -> Linear -> Dropout."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class TransformerEncoderBlock(nn.Module):
    """Pre-norm transformer encoder block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, dropout: float = 0.0, causal: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, num_heads, dropout, causal)
        self.drop = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, mlp_hidden, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.mlp(self.norm2(x))


class PatchEmbedding(nn.Module):
    """Cuts images [N, C, H, W] into patches and projects each: tokens [N, patches, D]."""

    def __init__(self, in_channels: int, embed_dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class PositionalEmbedding(nn.Module):
    """Adds a learned embedding per position: tokens [N, T, D] + ``pos`` [1, T, D]."""

    def __init__(self, num_tokens: int, dim: int) -> None:
        super().__init__()
        self.pos = nn.Parameter(torch.empty(1, num_tokens, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pos


class ClassToken(nn.Module):
    """Prepends a learned [CLS] token: [N, T, D] -> [N, T + 1, D]."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.empty(1, 1, dim))
        nn.init.trunc_normal_(self.token, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)


class TokenPool(nn.Module):
    """Reduces tokens [N, T, D] to one vector [N, D]: the first, the last or their mean."""

    def __init__(self, mode: str = "first") -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "mean":
            return x.mean(dim=1)
        if self.mode == "last":
            return x[:, -1]
        return x[:, 0]


class DepthwiseSeparableConv2d(nn.Module):
    """A depthwise KxK convolution (one filter per input channel), then a pointwise 1x1 one."""

    def __init__(self, depthwise: nn.Conv2d, pointwise: nn.Conv2d) -> None:
        super().__init__()
        self.depthwise = depthwise
        self.pointwise = pointwise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class LocallyConnected2d(nn.Module):
    """Like Conv2d, but each output position has its own filter bank (no weight sharing)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        output_size: tuple[int, int],
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.output_size = output_size
        fan_in = in_channels * kernel_size * kernel_size
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.empty(output_size[0] * output_size[1], out_channels, fan_in))
        nn.init.uniform_(self.weight, -bound, bound)
        self.bias = nn.Parameter(torch.empty(out_channels, *output_size).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)  # [N, C*k*k, L]
        out = torch.einsum("ncl,loc->nol", patches, self.weight)  # one matrix product per position
        out = out.reshape(x.shape[0], self.out_channels, self.output_size[0], self.output_size[1])
        bias = self.bias
        if bias is not None:
            out = out + bias
        return out


class LowRankLocallyConnected2d(nn.Module):
    """``rank`` shared filter banks mixed per position by softmax(row_logits + col_logits)."""

    def __init__(
        self, bases: nn.Conv2d, out_channels: int, rank: int, output_size: tuple[int, int], bias: bool
    ) -> None:
        super().__init__()
        self.bases = bases
        self.out_channels = out_channels
        self.rank = rank
        self.row_logits = nn.Parameter(torch.zeros(rank, output_size[0], 1))
        self.col_logits = nn.Parameter(torch.zeros(rank, 1, output_size[1]))
        self.bias = nn.Parameter(torch.zeros(out_channels, 1, 1)) if bias else None
        self.spatial_bias = nn.Parameter(torch.zeros(output_size[0], output_size[1])) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        responses = self.bases(x)  # [N, rank * out_channels, out_h, out_w]
        responses = responses.reshape(
            responses.shape[0], self.rank, self.out_channels, responses.shape[-2], responses.shape[-1]
        )
        mix = torch.softmax(self.row_logits + self.col_logits, dim=0)
        out = torch.einsum("nrohw,rhw->nohw", responses, mix)
        bias, spatial_bias = self.bias, self.spatial_bias
        if bias is not None and spatial_bias is not None:
            out = out + bias + spatial_bias
        return out


class Recurrent(nn.Module):
    """A batch-first RNN/GRU/LSTM returning the output sequence or, with ``last``, the final
    state of the last layer (both directions' final states when bidirectional)."""

    def __init__(self, rnn: nn.Module, hidden_size: int, bidirectional: bool, last: bool) -> None:
        super().__init__()
        self.rnn = rnn
        self.hidden_size = hidden_size
        self.bidirectional = bidirectional
        self.last = last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(x)[0]
        if not self.last:
            return out
        if self.bidirectional:
            h = self.hidden_size
            return torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=-1)
        return out[:, -1]
