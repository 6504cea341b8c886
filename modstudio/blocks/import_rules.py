"""Importers of the built-in blocks: which torch layer each one is, read from the layer's attributes.

Registered by block id until each moves onto its BlockSpec (``BlockSpec.importer``);
:func:`importer_of` gives a spec's own importer first. Torch-free at import time: the rules only
read attributes of the modules they are given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .importing import LayerImporter, Mapped, MemberModules, NoBlock
from .spec import BlockSpec


def _square(value: Any, what: str) -> int | NoBlock:
    """One int from torch's int-or-tuple settings; NoBlock when the sides differ."""
    if isinstance(value, int):
        return value
    values = tuple(value)
    if len(set(values)) != 1:
        return NoBlock(f"{what} {values} differs between sides (the block has one {what} for all sides)")
    return int(values[0])


def _squares(module: Any, names: tuple[str, ...]) -> dict[str, int] | NoBlock:
    out: dict[str, int] = {}
    for name in names:
        value = _square(getattr(module, name), name)
        if isinstance(value, NoBlock):
            return value
        out[name] = value
    return out


def _conv_params(m: Any, grouped: bool) -> Mapped | NoBlock:
    if m.padding_mode != "zeros":
        return NoBlock(f"padding_mode '{m.padding_mode}' (the block pads with zeros)")
    if isinstance(m.padding, str):
        if m.padding != "valid":
            return NoBlock(f"padding '{m.padding}' (give the padding as a number)")
        padding: int | NoBlock = 0
    else:
        padding = _square(m.padding, "padding")
    sizes = _squares(m, ("kernel_size", "stride", "dilation"))
    for value in (padding, sizes):
        if isinstance(value, NoBlock):
            return value
    params: dict[str, Any] = {"out_channels": m.out_channels, **sizes, "padding": padding, "bias": m.bias is not None}
    if grouped != (m.groups > 1):
        return NoBlock(f"groups={m.groups}")
    if grouped:
        params["groups"] = m.groups
    return Mapped(params)


def _conv(m: Any) -> Mapped | NoBlock:
    return _conv_params(m, grouped=False)


def _group_conv(m: Any) -> Mapped | NoBlock:
    return _conv_params(m, grouped=True)


def _conv_transpose(m: Any) -> Mapped | NoBlock:
    if m.padding_mode != "zeros" or m.groups != 1:
        return NoBlock(f"groups={m.groups}, padding_mode '{m.padding_mode}'")
    sizes = _squares(m, ("kernel_size", "stride", "padding", "output_padding", "dilation"))
    if isinstance(sizes, NoBlock):
        return sizes
    return Mapped({"out_channels": m.out_channels, **sizes, "bias": m.bias is not None})


def _max_pool(m: Any) -> Mapped | NoBlock:
    if m.ceil_mode or m.return_indices:
        return NoBlock("ceil_mode or return_indices")
    sizes = _squares(m, ("kernel_size", "stride", "padding", "dilation"))
    if isinstance(sizes, NoBlock):
        return sizes
    if sizes.pop("dilation") != 1:
        return NoBlock("dilation (the block's windows are contiguous)")
    return Mapped(sizes)


def _avg_pool(m: Any) -> Mapped | NoBlock:
    if m.ceil_mode or not m.count_include_pad or m.divisor_override is not None:
        return NoBlock("ceil_mode, count_include_pad=False or divisor_override")
    sizes = _squares(m, ("kernel_size", "stride", "padding"))
    return sizes if isinstance(sizes, NoBlock) else Mapped(sizes)


def _adaptive_avg_pool(m: Any) -> Mapped | NoBlock:
    size = m.output_size
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if height is None or width is None:
        return NoBlock("an output size of None (keep the input's size)")
    return Mapped({"height": height, "width": width})


def _batch_norm(m: Any) -> Mapped | NoBlock:
    if not m.track_running_stats or m.momentum is None:
        return NoBlock("track_running_stats=False or momentum=None (the block keeps running statistics)")
    return Mapped({"eps": m.eps, "momentum": m.momentum, "affine": m.affine})


def _layer_norm(m: Any) -> Mapped | NoBlock:
    if len(m.normalized_shape) != 1:
        return NoBlock(f"normalized_shape {tuple(m.normalized_shape)} (the block normalises the last dimension)")
    if m.elementwise_affine and getattr(m, "bias", True) is None:
        return NoBlock("bias=False (the block's affine step has a bias)")
    return Mapped({"eps": m.eps, "elementwise_affine": m.elementwise_affine})


def _plain(m: Any) -> Mapped | NoBlock:
    return Mapped({})


def _gelu(m: Any) -> Mapped | NoBlock:
    if m.approximate != "none":
        return NoBlock(f"approximate='{m.approximate}' (the block is the exact GELU)")
    return Mapped({})


def _softmax(m: Any) -> Mapped | NoBlock:
    if m.dim is None:
        return NoBlock("no dim (give Softmax a dim)")
    return Mapped({"dim": m.dim})


def _flatten(m: Any) -> Mapped | NoBlock:
    if (m.start_dim, m.end_dim) != (1, -1):
        return NoBlock(f"start_dim={m.start_dim}, end_dim={m.end_dim} (the block flattens all but the batch)")
    return Mapped({})


def _embedding(m: Any) -> Mapped | NoBlock:
    if m.padding_idx is not None or m.max_norm is not None or m.scale_grad_by_freq or m.sparse:
        return NoBlock("padding_idx, max_norm, scale_grad_by_freq or sparse")
    return Mapped({"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim})


def _prefixed(prefix: str):
    def weights(state: Mapping[str, Any]) -> dict[str, Any]:
        return {prefix + key: value for key, value in state.items()}

    return weights


def _recurrent(m: Any) -> Mapped | NoBlock:
    if not m.batch_first or not m.bias or getattr(m, "proj_size", 0):
        return NoBlock("batch_first=False, bias=False or proj_size (the block reads [N, T, features] with biases)")
    params: dict[str, Any] = {
        "hidden_size": m.hidden_size,
        "num_layers": m.num_layers,
        "bidirectional": m.bidirectional,
        "dropout": m.dropout,
        "output": "sequence",
    }
    if m.mode.startswith("RNN_"):
        params["nonlinearity"] = m.nonlinearity
    return Mapped(params, weights=_prefixed("rnn."))


def _split_projections(state: Mapping[str, Any]) -> dict[str, Any]:
    """torch's packed ``in_proj_weight`` [3D, D] -> the block's q_proj, k_proj, v_proj."""
    out: dict[str, Any] = {}
    weights, biases = state["in_proj_weight"].chunk(3), state["in_proj_bias"].chunk(3)
    for name, weight, bias in zip(("q_proj", "k_proj", "v_proj"), weights, biases):
        out[f"{name}.weight"], out[f"{name}.bias"] = weight, bias
    out["out_proj.weight"], out["out_proj.bias"] = state["out_proj.weight"], state["out_proj.bias"]
    return out


def _attention(m: Any) -> Mapped | NoBlock:
    if not m.batch_first:
        return NoBlock("batch_first=False (the block reads tokens [N, T, features])")
    if not m._qkv_same_embed_dim or m.in_proj_bias is None or m.bias_k is not None or m.add_zero_attn:
        return NoBlock("kdim/vdim, bias=False, add_bias_kv or add_zero_attn")
    return Mapped({"num_heads": m.num_heads, "dropout": m.dropout, "causal": False}, weights=_split_projections)


# ModStudio's own layer classes (blocks/layers), also as exported code ships them ("*.": in any module):
# their attributes are the constructor's arguments, and their weights are already the block's.


def _has(m: Any, *names: str) -> NoBlock | None:
    missing = [n for n in names if not hasattr(m, n)]
    return NoBlock(f"lacks {', '.join(missing)} (not ModStudio's layer of that name)") if missing else None


def _own_self_attention(m: Any) -> Mapped | NoBlock:
    why = _has(m, "qkv", "proj", "num_heads", "dropout", "causal")
    if why or m.num_heads != 1:
        return why or NoBlock(f"num_heads={m.num_heads} (the block has one head)")
    return Mapped({"dropout": m.dropout, "causal": m.causal})


def _any_attention(m: Any) -> Mapped | NoBlock:
    if type(m).__name__ == "MultiheadAttention":
        return _attention(m)
    why = _has(m, "q_proj", "k_proj", "v_proj", "out_proj", "num_heads", "dropout", "causal")
    return why or Mapped({"num_heads": m.num_heads, "dropout": m.dropout, "causal": m.causal})


def _own_encoder(m: Any) -> Mapped | NoBlock:
    why = _has(m, "norm1", "attn", "mlp", "norm2")
    if why:
        return why
    dim, hidden = m.mlp.fc1.in_features, m.mlp.fc1.out_features
    ratio = hidden / dim
    if max(1, round(dim * ratio)) != hidden or m.norm1.eps != 1e-5:
        return NoBlock("an MLP width or LayerNorm eps the block cannot give")
    return Mapped(
        {"num_heads": m.attn.num_heads, "mlp_ratio": ratio, "dropout": m.attn.dropout, "causal": m.attn.causal}
    )


def _own_patches(m: Any) -> Mapped | NoBlock:
    why = _has(m, "proj")
    return why or Mapped({"patch_size": m.proj.kernel_size[0], "embed_dim": m.proj.out_channels})


def _own_token_pool(m: Any) -> Mapped | NoBlock:
    return _has(m, "mode") or Mapped({"mode": m.mode})


def _own_plain(*names: str):
    return lambda m: _has(m, *names) or Mapped({})


def _any_recurrent(kind: str):
    def convert(m: Any) -> Mapped | NoBlock:
        rnn = getattr(m, "rnn", m)
        if type(rnn).__name__ != kind:
            return NoBlock(f"is a {type(rnn).__name__}, not a {kind}")
        if rnn is m:
            return _recurrent(m)
        why = _has(m, "last", "hidden_size", "bidirectional")
        mapped = why or _recurrent(rnn)
        if isinstance(mapped, NoBlock):
            return mapped
        return Mapped({**mapped.params, "output": "last" if m.last else "sequence"})

    return convert


def _tokens(x: Any) -> tuple[Any, ...]:
    return (x.reshape(-1, x.shape[-1]),)


def _members(count: int, attribute: str, inputs: Any = None) -> MemberModules:
    paths = tuple(f"{attribute}.{i}" for i in range(count))
    return MemberModules(paths, tuple(p + "." for p in paths), inputs)


def _own_moe(m: Any) -> Mapped | NoBlock:
    why = _has(m, "experts", "router", "gate", "k", "capacity_factor")
    if why:
        return why
    params = {
        "experts": [],
        "num_experts": len(m.experts),
        "gate": m.gate,
        "k": m.k,
        "capacity_factor": m.capacity_factor,
        "dispatch": getattr(m, "dispatch", "sorted"),
    }
    for name in ("load_balance_weight", "z_loss_weight", "importance_weight"):
        if hasattr(m, name):
            params[name] = getattr(m, name)
    return Mapped(params, members={"experts": _members(len(m.experts), "experts", _tokens)})


def _own_ensemble(m: Any) -> Mapped | NoBlock:
    why = _has(m, "members", "combine")
    if why:
        return why
    return Mapped(
        {"members": [], "count": len(m.members), "combine": m.combine},
        members={"members": _members(len(m.members), "members")},
    )


def _own_cooperative(m: Any) -> Mapped | NoBlock:
    why = _has(m, "members", "splits", "combiner")
    if why:
        return why
    count, splits = len(m.members), list(m.splits)

    def views(x: Any) -> list[tuple[Any, ...]]:  # each member sees its slice of the features, or all of them
        return [(part,) for part in x.split(splits, dim=-1)] if splits else [(x,)] * count

    params = {"members": [], "splits": splits, "out_features": m.combiner.out_features}
    return Mapped(params, members={"members": _members(count, "members", views)})


def _own_tree(m: Any) -> Mapped | NoBlock:
    why = _has(m, "trunk", "branches", "class_position")
    if why:
        return why
    count = len(m.branches)

    def branch_of_class(x: Any) -> dict[str, Any]:
        """Branch b scores the classes at its columns of the concatenated scores (class_position)."""
        features = m.trunk(x)
        owner = [b for b, branch in enumerate(m.branches) for _ in range(branch(features).shape[-1])]
        return {"branch_of_class": [owner[int(p)] for p in m.class_position]}

    return Mapped(
        {"trunk": "", "branches": []},
        members={
            "trunk": MemberModules(("trunk",), ("trunk.",)),
            "branches": _members(count, "branches", lambda x: (m.trunk(x),)),
        },
        sampled=branch_of_class,
    )


def _own_hierarchical(m: Any) -> Mapped | NoBlock:
    why = _has(m, "experts", "primary", "secondary", "groups", "k_groups", "k")
    if why:
        return why
    params = {"experts": [], "num_experts": len(m.experts), "groups": m.groups, "k_groups": m.k_groups, "k": m.k}
    for name in ("load_balance_weight", "z_loss_weight"):
        if hasattr(m, name):
            params[name] = getattr(m, name)
    return Mapped(params, members={"experts": _members(len(m.experts), "experts", _tokens)})


def _own_hard_gate(m: Any) -> Mapped | NoBlock:
    why = _has(m, "branches", "router", "allow_skip", "temperature")
    if why:
        return why
    params = {"branches": [], "allow_skip": m.allow_skip, "temperature": m.temperature}
    if hasattr(m, "balance_weight"):
        params["balance_weight"] = m.balance_weight
    return Mapped(params, members={"branches": _members(len(m.branches), "branches")})


def _rule(classes: str | tuple[str, ...], convert, **more: Any) -> LayerImporter:
    return LayerImporter(classes if isinstance(classes, tuple) else (classes,), convert, **more)


RULES: dict[str, LayerImporter] = {
    "linear": _rule("torch.nn.Linear", lambda m: Mapped({"out_features": m.out_features, "bias": m.bias is not None})),
    "conv1d": _rule("torch.nn.Conv1d", _conv),
    "conv2d": _rule("torch.nn.Conv2d", _conv),
    "group_conv2d": _rule("torch.nn.Conv2d", _group_conv),
    "conv_transpose2d": _rule("torch.nn.ConvTranspose2d", _conv_transpose),
    "max_pool2d": _rule("torch.nn.MaxPool2d", _max_pool),
    "avg_pool2d": _rule("torch.nn.AvgPool2d", _avg_pool),
    "adaptive_avg_pool2d": _rule("torch.nn.AdaptiveAvgPool2d", _adaptive_avg_pool),
    "batch_norm1d": _rule("torch.nn.BatchNorm1d", _batch_norm),
    "batch_norm2d": _rule("torch.nn.BatchNorm2d", _batch_norm),
    "layer_norm": _rule("torch.nn.LayerNorm", _layer_norm),
    "group_norm": _rule(
        "torch.nn.GroupNorm", lambda m: Mapped({"num_groups": m.num_groups, "eps": m.eps, "affine": m.affine})
    ),
    "dropout": _rule("torch.nn.Dropout", lambda m: Mapped({"p": m.p})),
    "relu": _rule("torch.nn.ReLU", _plain),
    "gelu": _rule("torch.nn.GELU", _gelu),
    "silu": _rule("torch.nn.SiLU", _plain),
    "tanh": _rule("torch.nn.Tanh", _plain),
    "sigmoid": _rule("torch.nn.Sigmoid", _plain),
    "softmax": _rule("torch.nn.Softmax", _softmax),
    "flatten": _rule("torch.nn.Flatten", _flatten),
    "embedding": _rule("torch.nn.Embedding", _embedding),
    "rnn": _rule(("torch.nn.RNN", "*.Recurrent"), _any_recurrent("RNN"), returns=0),
    "gru": _rule(("torch.nn.GRU", "*.Recurrent"), _any_recurrent("GRU"), returns=0),
    "lstm": _rule(("torch.nn.LSTM", "*.Recurrent"), _any_recurrent("LSTM"), returns=0),
    "multi_head_attention": _rule(
        ("torch.nn.MultiheadAttention", "*.MultiHeadAttention"),
        _any_attention,
        returns=0,
        ignored_keywords=("need_weights",),
    ),
    "self_attention": _rule("*.SelfAttention", _own_self_attention),
    "transformer_encoder_block": _rule("*.TransformerEncoderBlock", _own_encoder),
    "patch_embedding": _rule("*.PatchEmbedding", _own_patches),
    "positional_embedding": _rule("*.PositionalEmbedding", _own_plain("pos")),
    "class_token": _rule("*.ClassToken", _own_plain("token")),
    "token_pool": _rule("*.TokenPool", _own_token_pool),
    "moe": _rule("*.MixtureOfExperts", _own_moe),
    "ensemble": _rule("*.Ensemble", _own_ensemble),
    "hierarchical_moe": _rule("*.HierarchicalMoE", _own_hierarchical),
    "hard_gate": _rule("*.HardGate", _own_hard_gate),
    "cooperative": _rule("*.Cooperative", _own_cooperative),
    "tree": _rule("*.ClassTree", _own_tree),
}


def importer_of(spec: BlockSpec) -> LayerImporter | None:
    """The spec's own importer, else the built-in rule registered here for its id."""
    return spec.importer if spec.importer is not None else RULES.get(spec.id)
