"""Maxout: a learned piecewise-linear unit (Goodfellow et al., 2013).

A ModStudio plugin. This module declares the block and imports no torch; the layer itself
is ``maxout.layer.Maxout``, imported when a network is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modstudio.blocks.plugins import (
    BlockSpec,
    Inputs,
    LayerImporter,
    Mapped,
    Params,
    ParamSpec,
    TensorInfo,
    require_float,
    require_rank,
    single,
)

if TYPE_CHECKING:
    from .layer import Maxout


def _shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_float(x)
    require_rank(x, (2, 3), "a flat vector [N, features] or tokens [N, T, features]", "add a Flatten before it")
    return (TensorInfo((*x.shape[:-1], params["out_features"])),)


def _build(params: Params, inputs: Inputs) -> Maxout:
    from .layer import Maxout

    return Maxout(single(inputs).shape[-1], params["out_features"], pieces=params["pieces"], bias=params["bias"])


def _imported(layer: Maxout) -> Mapped:
    """`modstudio import`: a Maxout layer in a model (or in code ModStudio exported) is this block."""
    return Mapped({"out_features": layer.out_features, "pieces": layer.pieces, "bias": layer.linear.bias is not None})


MAXOUT = BlockSpec(
    id="maxout",
    title="Maxout",
    category="Dense",
    doc=(
        "A maxout layer: a Linear to out_features x pieces values, then the largest of each group of "
        "pieces, so every output is the maximum of several learned linear functions of the input. "
        "It learns its own convex, piecewise-linear activation (two pieces can express ReLU and "
        "absolute value), so no activation is needed after it; it pairs well with Dropout. Costs "
        "pieces times the parameters of a Linear. Works on vectors [N, features] and per token on "
        "[N, T, features]."
    ),
    params=(
        ParamSpec("out_features", "int", 64, "number of output features", min=1, max=1_000_000),
        ParamSpec("pieces", "int", 2, "linear pieces per output; each output is their maximum", min=2, max=32),
        ParamSpec("bias", "bool", True, "learn an additive bias for every piece"),
    ),
    shape=_shape,
    build=_build,
    importer=LayerImporter(("maxout.layer.Maxout",), _imported),
)

BLOCKS = (MAXOUT,)
TEMPLATES = ("templates/maxout_moons.msproj",)  # listed with the built-in templates
