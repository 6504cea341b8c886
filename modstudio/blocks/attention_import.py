"""How the attention blocks recognise layers on import (torch-free: the layers are only read): torch's
``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` where they are the block, with their packed
weights renamed, and ModStudio's own attention layers wherever they are defined."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .importing import Mapped, NoBlock, lacks


def _split_projections(state: Mapping[str, Any]) -> dict[str, Any]:
    """torch's packed ``in_proj_weight`` [3D, D] -> the block's q_proj, k_proj, v_proj."""
    out: dict[str, Any] = {}
    weights, biases = state["in_proj_weight"].chunk(3), state["in_proj_bias"].chunk(3)
    for name, weight, bias in zip(("q_proj", "k_proj", "v_proj"), weights, biases):
        out[f"{name}.weight"], out[f"{name}.bias"] = weight, bias
    out["out_proj.weight"], out["out_proj.bias"] = state["out_proj.weight"], state["out_proj.bias"]
    return out


def _import_torch_attention(m: Any) -> Mapped | NoBlock:
    if not m.batch_first:
        return NoBlock("batch_first=False (the block reads tokens [N, T, features])")
    if not m._qkv_same_embed_dim or m.in_proj_bias is None or m.bias_k is not None or m.add_zero_attn:
        return NoBlock("kdim/vdim, bias=False, add_bias_kv or add_zero_attn")
    return Mapped({"num_heads": m.num_heads, "dropout": m.dropout, "causal": False}, weights=_split_projections)


def import_attention(m: Any) -> Mapped | NoBlock:
    if type(m).__name__ == "MultiheadAttention":
        return _import_torch_attention(m)
    why = lacks(m, "q_proj", "k_proj", "v_proj", "out_proj", "num_heads", "dropout", "causal")
    return why or Mapped({"num_heads": m.num_heads, "dropout": m.dropout, "causal": m.causal})


def import_self_attention(m: Any) -> Mapped | NoBlock:
    why = lacks(m, "qkv", "proj", "num_heads", "dropout", "causal")
    if why or m.num_heads != 1:
        return why or NoBlock(f"num_heads={m.num_heads} (the block has one head)")
    return Mapped({"dropout": m.dropout, "causal": m.causal})


def _from_torch_encoder_layer(state: Mapping[str, Any]) -> dict[str, Any]:
    """torch's ``nn.TransformerEncoderLayer`` state -> the block's: its packed q/k/v projection is the
    block's ``attn.qkv`` (the same [3D, D] order), ``linear1``/``linear2`` its MLP."""
    renamed = {"self_attn.in_proj_": "attn.qkv.", "self_attn.out_proj.": "attn.proj.", "linear1.": "mlp.fc1."}
    renamed |= {"linear2.": "mlp.fc2.", "norm1.": "norm1.", "norm2.": "norm2."}
    out: dict[str, Any] = {}
    for key, value in state.items():
        prefix = next(p for p in renamed if key.startswith(p))
        out[renamed[prefix] + key[len(prefix) :]] = value
    return out


def _import_torch_encoder_layer(m: Any) -> Mapped | NoBlock:
    """``nn.TransformerEncoderLayer`` in the block's form: batch-first, pre-norm, exact GELU, one dropout."""
    attn = m.self_attn
    if not attn.batch_first:
        return NoBlock("batch_first=False (the block reads tokens [N, T, features])")
    if not m.norm_first:
        return NoBlock("norm_first=False (post-norm: the block normalises before attention and MLP)")
    if getattr(m, "activation_relu_or_gelu", 0) != 2 or getattr(m.activation, "approximate", "none") != "none":
        return NoBlock("an activation other than 'gelu' (the block's MLP uses the exact GELU)")
    if m.linear1.bias is None or not attn._qkv_same_embed_dim or attn.bias_k is not None or attn.add_zero_attn:
        return NoBlock("bias=False (the block's projections have biases)")
    if m.norm1.eps != 1e-5 or m.norm2.eps != 1e-5:
        return NoBlock(f"layer_norm_eps={m.norm1.eps} (the block's LayerNorms use 1e-5)")
    rates = {m.dropout.p, m.dropout1.p, m.dropout2.p, attn.dropout}
    if len(rates) > 1:
        return NoBlock("different dropout rates (the block has one)")
    dim, hidden = m.linear1.in_features, m.linear1.out_features
    ratio = hidden / dim
    if max(1, round(dim * ratio)) != hidden:
        return NoBlock(f"dim_feedforward={hidden} (the block's MLP width is a multiple of {dim} it cannot give)")
    params = {"num_heads": attn.num_heads, "mlp_ratio": ratio, "dropout": rates.pop(), "causal": False}
    return Mapped(params, weights=_from_torch_encoder_layer)


def import_encoder(m: Any) -> Mapped | NoBlock:
    if type(m).__name__ == "TransformerEncoderLayer":
        return _import_torch_encoder_layer(m)
    why = lacks(m, "norm1", "attn", "mlp", "norm2")
    if why:
        return why
    dim, hidden = m.mlp.fc1.in_features, m.mlp.fc1.out_features
    ratio = hidden / dim
    if max(1, round(dim * ratio)) != hidden or m.norm1.eps != 1e-5:
        return NoBlock("an MLP width or LayerNorm eps the block cannot give")
    return Mapped(
        {"num_heads": m.attn.num_heads, "mlp_ratio": ratio, "dropout": m.attn.dropout, "causal": m.attn.causal}
    )


def import_patches(m: Any) -> Mapped | NoBlock:
    why = lacks(m, "proj")
    return why or Mapped({"patch_size": m.proj.kernel_size[0], "embed_dim": m.proj.out_channels})


def import_token_pool(m: Any) -> Mapped | NoBlock:
    return lacks(m, "mode") or Mapped({"mode": m.mode})
