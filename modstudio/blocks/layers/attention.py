"""Attention and transformer modules over batch-first tokens [N, T, D]."""

from __future__ import annotations

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
    """Multi-head scaled dot-product self-attention with one fused q/k/v projection
    (``qkv``) and an output projection (``proj``)."""

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

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, dropout={self.dropout}, causal={self.causal}"


class MultiHeadAttention(nn.Module):
    """Multi-head attention of a query sequence over key/value sequences.

    ``key`` defaults to ``query`` and ``value`` to ``key``. Key and value may have other
    feature sizes than the query (``key_dim``, ``value_dim``); the output has the query's.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        key_dim: int | None = None,
        value_dim: int | None = None,
        dropout: float = 0.0,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(key_dim or dim, dim)
        self.v_proj = nn.Linear(value_dim or key_dim or dim, dim)
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

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, dropout={self.dropout}, causal={self.causal}"


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

    def extra_repr(self) -> str:
        return f"mode={self.mode}"
