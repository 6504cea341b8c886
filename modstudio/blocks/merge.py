"""Merges: how several branches of a DAG come back together."""

from __future__ import annotations

from modstudio.graph.schema import ParamSpec, PortSpec

from .costs import numel, zero
from .spec import BlockSpec, Inputs, Layer, Params, many, require_float
from .tensors import ShapeError, TensorInfo

MULTI_IN = (PortSpec("in", "connect two or more inputs", multi=True),)


def _elementwise_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    xs = many(inputs)
    if len(xs) < 2:
        raise ShapeError(f"needs at least two inputs but has {len(xs)}")
    for x in xs:
        require_float(x)
    if len({x.shape for x in xs}) > 1:
        shapes = ", ".join(map(str, xs))
        raise ShapeError(f"needs inputs of the same shape but receives {shapes}")
    return (xs[0],)


def _no_arguments(params: Params, inputs: Inputs) -> dict:
    return {}


def _merge_flops(params: Params, inputs: Inputs, outputs) -> int:
    """One FLOP per output element for each input after the first."""
    return max(len(many(inputs)) - 1, 0) * numel(outputs["out"])


def _concat_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    xs = many(inputs)
    if len(xs) < 2:
        raise ShapeError(f"needs at least two inputs but has {len(xs)}")
    rank = xs[0].rank
    dim = params["dim"]
    axis = dim if dim >= 0 else rank + dim
    if not 1 <= axis < rank:
        raise ShapeError(f"cannot concatenate {xs[0]} along dimension {dim} (0 is the batch)")
    for x in xs[1:]:
        same = x.rank == rank and all(a == b for i, (a, b) in enumerate(zip(x.shape, xs[0].shape)) if i != axis - 1)
        if not same or x.dtype != xs[0].dtype:
            shapes = ", ".join(map(str, xs))
            raise ShapeError(f"needs inputs that differ only in dimension {axis} but receives {shapes}")
    shape = list(xs[0].shape)
    shape[axis - 1] = sum(x.shape[axis - 1] for x in xs)
    return (TensorInfo(tuple(shape), xs[0].dtype),)


def _concat_arguments(params: Params, inputs: Inputs) -> dict:
    return {"dim": params["dim"]}


SPECS = (
    BlockSpec(
        id="add",
        title="Add",
        category="Merge",
        doc="Sums its inputs element by element. This is the residual (skip) connection of ResNets and transformers: y = F(x) + x. All inputs must have the same shape.",
        inputs=MULTI_IN,
        shape=_elementwise_shape,
        layer=Layer("modstudio.blocks.layers.basic.Add", _no_arguments),
        flops=_merge_flops,
    ),
    BlockSpec(
        id="multiply",
        title="Multiply",
        category="Merge",
        doc="Multiplies its inputs element by element, e.g. a feature map by a sigmoid gate (gated units, squeeze-and-excitation). All inputs must have the same shape.",
        inputs=MULTI_IN,
        shape=_elementwise_shape,
        layer=Layer("modstudio.blocks.layers.basic.Multiply", _no_arguments),
        flops=_merge_flops,
    ),
    BlockSpec(
        id="concat",
        title="Concat",
        category="Merge",
        doc="Joins its inputs along one dimension (1 = channels or features), in the order the edges were connected. Inception modules and DenseNets merge their branches this way.",
        params=(
            ParamSpec(
                "dim",
                "int",
                1,
                "dimension to join along (1 = channels/features; negative counts from the end)",
                min=-6,
                max=6,
            ),
        ),
        inputs=MULTI_IN,
        shape=_concat_shape,
        layer=Layer("modstudio.blocks.layers.basic.Concat", _concat_arguments),
        flops=zero,
    ),
)
