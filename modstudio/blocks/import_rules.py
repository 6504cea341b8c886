"""Importers of the built-in blocks: which torch layer each one is, read from the layer's attributes.

Registered by block id until each moves onto its BlockSpec (``BlockSpec.importer``);
:func:`importer_of` gives a spec's own importer first. Torch-free at import time: the rules only
read attributes of the modules they are given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .importing import LayerImporter, Mapped, NoBlock
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


def _group_norm(m: Any) -> Mapped | NoBlock:
    return Mapped({"num_groups": m.num_groups, "eps": m.eps, "affine": m.affine})


def _dropout(m: Any) -> Mapped | NoBlock:
    return Mapped({"p": m.p})


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
    "group_norm": _rule("torch.nn.GroupNorm", _group_norm),
    "dropout": _rule("torch.nn.Dropout", _dropout),
    "relu": _rule("torch.nn.ReLU", _plain),
    "gelu": _rule("torch.nn.GELU", _gelu),
    "silu": _rule("torch.nn.SiLU", _plain),
    "tanh": _rule("torch.nn.Tanh", _plain),
    "sigmoid": _rule("torch.nn.Sigmoid", _plain),
    "softmax": _rule("torch.nn.Softmax", _softmax),
    "flatten": _rule("torch.nn.Flatten", _flatten),
    "embedding": _rule("torch.nn.Embedding", _embedding),
    "rnn": _rule("torch.nn.RNN", _recurrent, returns=0),
    "gru": _rule("torch.nn.GRU", _recurrent, returns=0),
    "lstm": _rule("torch.nn.LSTM", _recurrent, returns=0),
    "multi_head_attention": _rule(
        "torch.nn.MultiheadAttention", _attention, returns=0, ignored_keywords=("need_weights",)
    ),
}


def importer_of(spec: BlockSpec) -> LayerImporter | None:
    """The spec's own importer, else the built-in rule registered here for its id."""
    return spec.importer if spec.importer is not None else RULES.get(spec.id)
