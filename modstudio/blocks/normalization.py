"""Normalization layers, and Dropout (regularization)."""

from __future__ import annotations

from typing import Any

from modstudio.graph.schema import ParamSpec

from .conv import require_images
from .costs import per_element, zero
from .importing import Mapped, NoBlock, rule
from .spec import BlockSpec, Inputs, Layer, Params, require_float, require_rank, single
from .tensors import ShapeError, TensorInfo

_EPS = ParamSpec("eps", "float", 1e-5, "small number added to the variance to avoid dividing by zero", min=0, max=1)
_MOMENTUM = ParamSpec("momentum", "float", 0.1, "how fast the running statistics follow each batch", min=0, max=1)
_AFFINE = ParamSpec("affine", "bool", True, "learn a scale and shift per channel after normalising")


def _batch_norm1d_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_float(x)
    hint = "use a BatchNorm2d for images" if x.rank == 4 else "add a Flatten before it"
    require_rank(x, (2, 3), "features [N, features] or sequences [N, channels, length]", hint)
    return (x,)


def _batch_norm2d_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    if x.rank in (2, 3) and x.dtype == "float":
        raise ShapeError(f"expects images [N, channels, height, width] but receives {x}; use a BatchNorm1d instead")
    require_images(x)
    return (x,)


def _batch_norm_arguments(params: Params, inputs: Inputs) -> dict:
    return {
        "num_features": single(inputs).shape[0],
        "eps": params["eps"],
        "momentum": params["momentum"],
        "affine": params["affine"],
    }


def _layer_norm_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_float(x)
    if x.rank < 2:
        raise ShapeError(f"needs at least one feature dimension to normalise but receives {x}")
    return (x,)


def _layer_norm_arguments(params: Params, inputs: Inputs) -> dict:
    return {
        "normalized_shape": single(inputs).shape[-1],
        "eps": params["eps"],
        "elementwise_affine": params["elementwise_affine"],
    }


def _group_norm_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_float(x)
    if x.rank < 2:
        raise ShapeError(f"expects channels [N, channels, ...] but receives {x}")
    channels, groups = x.shape[0], params["num_groups"]
    if channels % groups:
        fits = [g for g in range(1, channels + 1) if channels % g == 0]
        raise ShapeError(
            f"splits its {channels} channels into num_groups = {groups}, but {channels} is not divisible by "
            f"{groups}; use num_groups {', '.join(map(str, fits))}"
        )
    return (x,)


def _group_norm_arguments(params: Params, inputs: Inputs) -> dict:
    return {
        "num_groups": params["num_groups"],
        "num_channels": single(inputs).shape[0],
        "eps": params["eps"],
        "affine": params["affine"],
    }


def _dropout_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_float(x)
    return (x,)


def _dropout_arguments(params: Params, inputs: Inputs) -> dict:
    return {"p": params["p"]}


_BATCH_STATS = (
    "It learns running statistics during training and uses them at evaluation; it needs batches of "
    "more than one sample to train."
)


def _import_batch_norm(m: Any) -> Mapped | NoBlock:
    if not m.track_running_stats or m.momentum is None:
        return NoBlock("track_running_stats=False or momentum=None (the block keeps running statistics)")
    return Mapped({"eps": m.eps, "momentum": m.momentum, "affine": m.affine})


def _import_layer_norm(m: Any) -> Mapped | NoBlock:
    if len(m.normalized_shape) != 1:
        return NoBlock(f"normalized_shape {tuple(m.normalized_shape)} (the block normalises the last dimension)")
    if m.elementwise_affine and getattr(m, "bias", True) is None:
        return NoBlock("bias=False (the block's affine step has a bias)")
    return Mapped({"eps": m.eps, "elementwise_affine": m.elementwise_affine})


def _import_rms_norm(m: Any) -> Mapped | NoBlock:
    if len(m.normalized_shape) != 1 or m.eps is None:
        return NoBlock("a normalized_shape of several dimensions, or eps=None (the block normalises the last one)")
    return Mapped({"eps": m.eps, "elementwise_affine": m.elementwise_affine})


def _import_group_norm(m: Any) -> Mapped | NoBlock:
    return Mapped({"num_groups": m.num_groups, "eps": m.eps, "affine": m.affine})


def _import_dropout(m: Any) -> Mapped | NoBlock:
    return Mapped({"p": m.p})


SPECS = (
    BlockSpec(
        id="batch_norm1d",
        title="BatchNorm1d",
        category="Normalization",
        doc=(
            "Batch normalization for features [N, features] or sequences [N, channels, length]: each channel "
            "is shifted and scaled to zero mean and unit variance over the batch, then a learned scale and "
            "shift are applied. Put it after a Linear or Conv1d to make deep stacks train faster and more "
            "stably. " + _BATCH_STATS
        ),
        params=(_EPS, _MOMENTUM, _AFFINE),
        shape=_batch_norm1d_shape,
        layer=Layer("torch.nn.BatchNorm1d", _batch_norm_arguments),
        importer=rule("torch.nn.BatchNorm1d", _import_batch_norm),
        flops=per_element(2),
        flops_exact=False,
    ),
    BlockSpec(
        id="batch_norm2d",
        title="BatchNorm2d",
        category="Normalization",
        doc=(
            "Batch normalization for images [N, channels, height, width]: each channel is normalised over the "
            "batch and all positions, then scaled and shifted by learned weights. The usual companion of "
            "Conv2d (conv -> batch norm -> ReLU). " + _BATCH_STATS
        ),
        params=(_EPS, _MOMENTUM, _AFFINE),
        shape=_batch_norm2d_shape,
        layer=Layer("torch.nn.BatchNorm2d", _batch_norm_arguments),
        importer=rule("torch.nn.BatchNorm2d", _import_batch_norm),
        flops=per_element(2),
        flops_exact=False,
    ),
    BlockSpec(
        id="layer_norm",
        title="LayerNorm",
        category="Normalization",
        doc=(
            "Layer normalization: normalises the last dimension of every sample (e.g. each token's features) "
            "to zero mean and unit variance, then applies a learned scale and shift. It does not depend on "
            "the batch, so it is the normalization of transformers and recurrent networks."
        ),
        params=(_EPS, ParamSpec("elementwise_affine", "bool", True, "learn a scale and shift per feature")),
        shape=_layer_norm_shape,
        layer=Layer("torch.nn.LayerNorm", _layer_norm_arguments),
        importer=rule("torch.nn.LayerNorm", _import_layer_norm),
        flops=per_element(5),
        flops_exact=False,
    ),
    BlockSpec(
        id="rms_norm",
        title="RMSNorm",
        category="Normalization",
        doc=(
            "Root-mean-square normalization (Zhang & Sennrich 2019): divides the last dimension of every "
            "sample by its root mean square, then applies a learned scale. LayerNorm without the mean and the "
            "shift: cheaper, and the normalization of LLaMA-style transformers."
        ),
        params=(_EPS, ParamSpec("elementwise_affine", "bool", True, "learn a scale per feature")),
        shape=_layer_norm_shape,
        layer=Layer("torch.nn.RMSNorm", _layer_norm_arguments),  # the same arguments as LayerNorm's
        importer=rule("torch.nn.RMSNorm", _import_rms_norm),
        flops=per_element(4),  # square, mean, divide, scale
        flops_exact=False,
    ),
    BlockSpec(
        id="group_norm",
        title="GroupNorm",
        category="Normalization",
        doc=(
            "Group normalization: splits the channels of each sample into num_groups groups and normalises "
            "each group on its own, then scales and shifts per channel. Independent of the batch size, so it "
            "replaces BatchNorm when batches are small. The channel count must be divisible by num_groups."
        ),
        params=(ParamSpec("num_groups", "int", 8, "number of channel groups", min=1, max=4096), _EPS, _AFFINE),
        shape=_group_norm_shape,
        layer=Layer("torch.nn.GroupNorm", _group_norm_arguments),
        importer=rule("torch.nn.GroupNorm", _import_group_norm),
        flops=per_element(5),
        flops_exact=False,
    ),
    BlockSpec(
        id="dropout",
        title="Dropout",
        category="Regularization",
        doc=(
            "During training, zeroes each value with probability p and scales the rest by 1/(1-p); at "
            "evaluation it passes values through unchanged. A regularizer against overfitting that trains "
            "an implicit ensemble of thinned sub-networks; put it before large Linear layers."
        ),
        params=(
            ParamSpec(
                "p", "float", 0.5, "probability of zeroing each value (below 1)", min=0, max=1, max_exclusive=True
            ),
        ),
        shape=_dropout_shape,
        layer=Layer("torch.nn.Dropout", _dropout_arguments),
        importer=rule("torch.nn.Dropout", _import_dropout),
        flops=zero,
    ),
)
