"""Attention and transformer blocks over tokens [N, T, D], and the token plumbing of a
vision transformer (patches, positions, a class token, pooling)."""

from __future__ import annotations

import math

from modstudio.graph.schema import ParamSpec, PortSpec

from .attention_import import import_attention, import_encoder, import_patches, import_self_attention, import_token_pool
from .costs import attention_flops, linear_flops, numel, tokens_of, zero
from .importing import own_plain, rule
from .spec import BlockSpec, Inputs, Layer, Params, require_float, single
from .tensors import ShapeError, TensorInfo

_TOKEN_HINTS = {
    2: "add a Reshape before it, e.g. to [T, features] or [1, features] for a single token",
    4: "turn images into tokens first with a Patch Embedding",
}


def require_tokens(x: TensorInfo, port: str = "") -> None:
    """Raise a readable ShapeError unless ``x`` is float tokens [N, T, D]; ``port`` names the port."""
    require_float(x, port)
    if x.rank != 3:
        hint = _TOKEN_HINTS.get(x.rank, "add a Reshape before it")
        where = f" on '{port}'" if port else ""
        raise ShapeError(f"expects tokens [N, T, features]{where} but receives {x}; {hint}")


def _divisors(n: int, limit: int = 64) -> list[int]:
    return [d for d in range(1, min(n, limit) + 1) if n % d == 0]


def _check_heads(dim: int, heads: int, x: TensorInfo) -> None:
    if dim % heads:
        choices = ", ".join(map(str, _divisors(dim)[-6:]))
        raise ShapeError(
            f"cannot split the {dim} features of {x} into {heads} heads: the feature size must be "
            f"divisible by num_heads; use num_heads {choices}, or change the feature size"
        )


def _tokens_same_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_tokens(x)
    return (x,)


def _self_attention_arguments(params: Params, inputs: Inputs) -> dict:
    return {"dim": single(inputs).shape[-1], "num_heads": 1, "dropout": params["dropout"], "causal": params["causal"]}


def _self_attention_flops(params: Params, inputs: Inputs, outputs) -> int:
    t, d = tokens_of(single(inputs))
    return attention_flops(t, t, d, d, d, 1)


def _mha_infos(inputs: Inputs) -> tuple[TensorInfo, TensorInfo, TensorInfo]:
    q = single(inputs, "query")
    k = single(inputs, "key") if "key" in inputs else q
    v = single(inputs, "value") if "value" in inputs else k
    return q, k, v


def _mha_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    q, k, v = _mha_infos(inputs)
    for name, x in (("query", q), ("key", k), ("value", v)):
        require_tokens(x, name)
    if k.shape[0] != v.shape[0]:
        raise ShapeError(
            f"needs key and value with the same number of tokens, but key {k} has {k.shape[0]} "
            f"and value {v} has {v.shape[0]}"
        )
    if params["causal"] and q.shape[0] != k.shape[0]:
        raise ShapeError(
            f"can only mask causally when query and key have the same number of tokens, but query "
            f"{q} has {q.shape[0]} and key {k} has {k.shape[0]}; turn causal off for cross-attention"
        )
    _check_heads(q.shape[1], params["num_heads"], q)
    return (q,)


def _mha_arguments(params: Params, inputs: Inputs) -> dict:
    q, k, v = _mha_infos(inputs)
    return {
        "dim": q.shape[1],
        "num_heads": params["num_heads"],
        "key_dim": k.shape[1],
        "value_dim": v.shape[1],
        "dropout": params["dropout"],
        "causal": params["causal"],
    }


def _mha_flops(params: Params, inputs: Inputs, outputs) -> int:
    (tq, d), (tk, dk), (_, dv) = (tokens_of(x) for x in _mha_infos(inputs))
    return attention_flops(tq, tk, d, dk, dv, params["num_heads"])


def _mlp_hidden(params: Params, dim: int) -> int:
    return max(1, round(dim * params["mlp_ratio"]))


def _encoder_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_tokens(x)
    _check_heads(x.shape[1], params["num_heads"], x)
    return (x,)


def _encoder_arguments(params: Params, inputs: Inputs) -> dict:
    dim = single(inputs).shape[-1]
    return {
        "dim": dim,
        "num_heads": params["num_heads"],
        "mlp_hidden": _mlp_hidden(params, dim),
        "dropout": params["dropout"],
        "causal": params["causal"],
    }


def _encoder_flops(params: Params, inputs: Inputs, outputs) -> int:
    t, d = tokens_of(single(inputs))
    hidden = _mlp_hidden(params, d)
    norms, residuals = 2 * 5 * t * d, 2 * t * d
    mlp = linear_flops(d, hidden, t) + t * hidden + linear_flops(hidden, d, t)  # GELU: 1 per element
    return norms + attention_flops(t, t, d, d, d, params["num_heads"]) + residuals + mlp


def _patch_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_float(x)
    if x.rank != 4:
        raise ShapeError(f"expects images [N, channels, height, width] but receives {x}")
    _, h, w = x.shape
    p = params["patch_size"]
    if h % p or w % p:
        side = f"height {h}" if h % p else f"width {w}"
        fits = [d for d in _divisors(math.gcd(h, w)) if d > 1]
        fix = f"use a patch size that divides both {h} and {w} ({', '.join(map(str, fits[-5:]))})" if fits else ""
        fix = fix or "resize or pad the images so both sides are divisible by the patch size"
        raise ShapeError(f"cannot cut {x} into {p}×{p} patches: {side} is not divisible by {p}; {fix}")
    return (TensorInfo(((h // p) * (w // p), params["embed_dim"])),)


def _patch_arguments(params: Params, inputs: Inputs) -> dict:
    return {
        "in_channels": single(inputs).shape[0],
        "embed_dim": params["embed_dim"],
        "patch_size": params["patch_size"],
    }


def _patch_flops(params: Params, inputs: Inputs, outputs) -> int:
    x, y = single(inputs), outputs["out"]
    return linear_flops(x.shape[0] * params["patch_size"] ** 2, params["embed_dim"], y.shape[0])


def _position_arguments(params: Params, inputs: Inputs) -> dict:
    x = single(inputs)
    return {"num_tokens": x.shape[0], "dim": x.shape[1]}


def _add_per_element(params: Params, inputs: Inputs, outputs) -> int:
    return numel(outputs["out"])


def _class_token_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_tokens(x)
    return (TensorInfo((x.shape[0] + 1, x.shape[1])),)


def _class_token_arguments(params: Params, inputs: Inputs) -> dict:
    return {"dim": single(inputs).shape[-1]}


def _token_pool_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_tokens(x)
    return (TensorInfo((x.shape[1],)),)


def _token_pool_arguments(params: Params, inputs: Inputs) -> dict:
    return {"mode": params["mode"]}


def _token_pool_flops(params: Params, inputs: Inputs, outputs) -> int:
    return numel(single(inputs)) if params["mode"] == "mean" else 0


# Importers: torch's MultiheadAttention, and ModStudio's own layer classes (blocks/layers), also as exported
# code ships them ("*.": in any module): their attributes are the constructor's arguments, their weights the block's.


def _heads(default: int) -> ParamSpec:
    return ParamSpec("num_heads", "int", default, "attention heads; must divide the feature size", min=1, max=1024)


_DROPOUT = ParamSpec(
    "dropout", "float", 0.0, "dropout on the attention weights while training", min=0.0, max=1.0, max_exclusive=True
)
_CAUSAL = ParamSpec("causal", "bool", False, "each token attends only to itself and earlier tokens (for generation)")

SPECS = (
    BlockSpec(
        id="self_attention",
        title="Self-Attention",
        category="Attention",
        doc=(
            "Single-head scaled dot-product self-attention over tokens [N, T, D]: every token "
            "builds a query, key and value and takes a softmax-weighted mix of all values. It is "
            "soft, input-dependent routing of information between tokens. With causal on, a token "
            "sees only earlier tokens. The feature size is kept; it is taken from the input."
        ),
        params=(_DROPOUT, _CAUSAL),
        shape=_tokens_same_shape,
        layer=Layer("modstudio.blocks.layers.attention.SelfAttention", _self_attention_arguments),
        importer=rule("*.SelfAttention", import_self_attention),
        flops=_self_attention_flops,
    ),
    BlockSpec(
        id="multi_head_attention",
        title="Multi-Head Attention",
        category="Attention",
        doc=(
            "Attention with several heads that each attend in their own subspace, then recombine: "
            "parallel modules over the same tokens. Connect only 'query' for self-attention, or "
            "'key' (and 'value') for cross-attention to another sequence, as in an encoder-decoder. "
            "Key defaults to query and value to key; their feature sizes may differ from the "
            "query's. The output has the query's shape [N, Tq, D]; D must be divisible by num_heads."
        ),
        params=(_heads(4), _DROPOUT, _CAUSAL),
        inputs=(
            PortSpec("query", "tokens that ask: the output has one token per query token"),
            PortSpec("key", "tokens to attend to (default: the query)", optional=True),
            PortSpec("value", "what is mixed, one per key token (default: the key)", optional=True),
        ),
        shape=_mha_shape,
        layer=Layer("modstudio.blocks.layers.attention.MultiHeadAttention", _mha_arguments),
        importer=rule(
            ("torch.nn.MultiheadAttention", "*.MultiHeadAttention"),
            import_attention,
            returns=0,
            ignored_keywords=("need_weights",),
        ),
        flops=_mha_flops,
    ),
    BlockSpec(
        id="transformer_encoder_block",
        title="Transformer Encoder Block",
        category="Attention",
        doc=(
            "One pre-norm transformer layer over tokens [N, T, D]: LayerNorm, multi-head "
            "self-attention and a residual add, then LayerNorm, a GELU MLP and a residual add. "
            "The survey's repeated building block: stack identical copies for BERT- or ViT-style "
            "encoders (with causal on, a GPT-style decoder). Shape is kept."
        ),
        params=(
            _heads(4),
            ParamSpec(
                "mlp_ratio", "float", 4.0, "MLP hidden size as a multiple of the feature size", min=0.01, max=64.0
            ),
            ParamSpec(
                "dropout",
                "float",
                0.0,
                "dropout on attention weights and both residual branches",
                min=0.0,
                max=1.0,
                max_exclusive=True,
            ),
            _CAUSAL,
        ),
        shape=_encoder_shape,
        layer=Layer("modstudio.blocks.layers.attention.TransformerEncoderBlock", _encoder_arguments),
        importer=rule(("*.TransformerEncoderBlock", "torch.nn.TransformerEncoderLayer"), import_encoder),
        flops=_encoder_flops,
        flops_exact=False,
    ),
    BlockSpec(
        id="patch_embedding",
        title="Patch Embedding",
        category="Attention",
        doc=(
            "Cuts images [N, C, H, W] into non-overlapping square patches and projects each to "
            "embed_dim features, giving tokens [N, (H/p)·(W/p), embed_dim]: the input module of a "
            "vision transformer (ViT). H and W must be divisible by patch_size."
        ),
        params=(
            ParamSpec("patch_size", "int", 4, "side of each square patch in pixels", min=1, max=1024),
            ParamSpec("embed_dim", "int", 64, "features per token", min=1, max=100_000),
        ),
        shape=_patch_shape,
        layer=Layer("modstudio.blocks.layers.attention.PatchEmbedding", _patch_arguments),
        importer=rule("*.PatchEmbedding", import_patches),
        flops=_patch_flops,
    ),
    BlockSpec(
        id="positional_embedding",
        title="Positional Embedding",
        category="Attention",
        doc=(
            "Adds a learned vector to each position of tokens [N, T, D], so attention, which "
            "ignores order, can tell positions apart. The number of positions is taken from the "
            "input; put it after a Patch Embedding (and Class Token) or a token Embedding."
        ),
        shape=_tokens_same_shape,
        layer=Layer("modstudio.blocks.layers.attention.PositionalEmbedding", _position_arguments),
        importer=rule("*.PositionalEmbedding", own_plain("pos")),
        flops=_add_per_element,
    ),
    BlockSpec(
        id="class_token",
        title="Class Token",
        category="Attention",
        doc=(
            "Prepends one learned [CLS] token to tokens [N, T, D], giving [N, T+1, D]. Through "
            "attention it gathers a summary of the whole sequence; read it back with a Token Pool "
            "(mode 'first') for the classifier head, as ViT and BERT do."
        ),
        shape=_class_token_shape,
        layer=Layer("modstudio.blocks.layers.attention.ClassToken", _class_token_arguments),
        importer=rule("*.ClassToken", own_plain("token")),
        flops=zero,
    ),
    BlockSpec(
        id="token_pool",
        title="Token Pool",
        category="Attention",
        doc=(
            "Reduces tokens [N, T, D] to one vector [N, D] for a classifier head: the first token "
            "(the [CLS] token after a Class Token), the last token (for causal models), or the "
            "mean over all tokens."
        ),
        params=(ParamSpec("mode", "choice", "first", "which token(s) to keep", choices=("first", "mean", "last")),),
        shape=_token_pool_shape,
        layer=Layer("modstudio.blocks.layers.attention.TokenPool", _token_pool_arguments),
        importer=rule("*.TokenPool", import_token_pool),
        flops=_token_pool_flops,
    ),
)
