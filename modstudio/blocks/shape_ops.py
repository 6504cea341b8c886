"""Shape operations: Flatten, Reshape, Permute."""

from __future__ import annotations

import math
from typing import Any

from modstudio.graph.schema import ParamSpec

from .costs import zero
from .importing import Mapped, NoBlock, rule
from .spec import BlockSpec, Inputs, Layer, Params, single
from .tensors import ShapeError, TensorInfo


def _flatten_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    return (TensorInfo((math.prod(x.shape),), x.dtype),)


def _no_arguments(params: Params, inputs: Inputs) -> dict:
    return {}


def _reshape_target(params: Params, x: TensorInfo) -> tuple[int, ...]:
    target = list(params["shape"])
    total = math.prod(x.shape)
    if target.count(-1) > 1:
        raise ShapeError("can infer at most one dimension (-1) of the new shape")
    if any(d == 0 or d < -1 for d in target):
        raise ShapeError(f"has an invalid target shape {target}")
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        if total % known:
            raise ShapeError(f"cannot reshape {x} ({total} values) to {target}")
        target[target.index(-1)] = total // known
    elif known != total:
        raise ShapeError(f"cannot reshape {x} ({total} values per sample) to {target} ({known} values)")
    return tuple(target)


def _reshape_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    return (TensorInfo(_reshape_target(params, x), x.dtype),)


def _reshape_arguments(params: Params, inputs: Inputs) -> dict:
    return {"shape": tuple(params["shape"])}  # a -1 is resolved by reshape itself, as the shape rule does


def _permute_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    dims = list(params["dims"])
    if sorted(dims) != list(range(1, len(x.shape) + 1)):
        raise ShapeError(f"needs dims to be an ordering of 1..{len(x.shape)} for {x} (0 is the batch), not {dims}")
    return (TensorInfo(tuple(x.shape[d - 1] for d in dims), x.dtype),)


def _permute_arguments(params: Params, inputs: Inputs) -> dict:
    return {"dims": tuple(params["dims"])}


def _import_flatten(m: Any) -> Mapped | NoBlock:
    if (m.start_dim, m.end_dim) != (1, -1):
        return NoBlock(f"start_dim={m.start_dim}, end_dim={m.end_dim} (the block flattens all but the batch)")
    return Mapped({})


SPECS = (
    BlockSpec(
        id="flatten",
        title="Flatten",
        category="Shape",
        doc="Flattens each sample into one vector, [N, C, H, W] -> [N, C·H·W]. Put it between convolutional feature maps and a Linear classifier.",
        shape=_flatten_shape,
        layer=Layer("torch.nn.Flatten", _no_arguments),
        importer=rule("torch.nn.Flatten", _import_flatten),
        flops=zero,
    ),
    BlockSpec(
        id="reshape",
        title="Reshape",
        category="Shape",
        doc="Gives each sample a new shape with the same number of values; one dimension may be -1 and is inferred. The batch dimension is kept.",
        params=(ParamSpec("shape", "ints", [-1], "new shape of one sample", min=-1, min_length=1, max_length=6),),
        shape=_reshape_shape,
        layer=Layer("modstudio.blocks.layers.basic.Reshape", _reshape_arguments),
        flops=zero,
    ),
    BlockSpec(
        id="permute",
        title="Permute",
        category="Shape",
        doc="Reorders the dimensions of each sample, e.g. [2, 1] turns tokens [N, T, D] into [N, D, T] for a Conv1d. Dimensions count from 1; the batch stays first.",
        params=(
            ParamSpec(
                "dims",
                "ints",
                [2, 1],
                "new order of the sample dimensions, counted from 1",
                min=1,
                min_length=1,
                max_length=6,
            ),
        ),
        shape=_permute_shape,
        layer=Layer("modstudio.blocks.layers.basic.Permute", _permute_arguments),
        flops=zero,
    ),
)
