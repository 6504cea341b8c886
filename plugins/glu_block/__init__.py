"""Gated linear units: a GLU layer (sigmoid, SwiGLU, GEGLU, ReGLU or bilinear gate) and the
SwiGLU feed-forward of modern transformers (Dauphin et al., 2017; Shazeer, 2020).

A ModStudio plugin. This module declares the blocks and imports no torch; the layers are in
``glu_block.layer``, imported when a network is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modstudio.blocks.plugins import (
    BlockSpec,
    Inputs,
    Params,
    ParamSpec,
    TensorInfo,
    require_float,
    require_rank,
    single,
)

if TYPE_CHECKING:
    from .layer import GatedFeedForward, GatedLinearUnit

GATES = ("sigmoid", "silu", "gelu", "relu", "linear")


def _features(inputs: Inputs) -> TensorInfo:
    x = single(inputs)
    require_float(x)
    require_rank(x, (2, 3), "a flat vector [N, features] or tokens [N, T, features]", "add a Flatten before it")
    return x


def _glu_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = _features(inputs)
    return (TensorInfo((*x.shape[:-1], params["out_features"])),)


def _glu_build(params: Params, inputs: Inputs) -> GatedLinearUnit:
    from .layer import GatedLinearUnit

    in_features = single(inputs).shape[-1]
    return GatedLinearUnit(in_features, params["out_features"], gate=params["gate"], bias=params["bias"])


def _ffn_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    return (_features(inputs),)


def _ffn_build(params: Params, inputs: Inputs) -> GatedFeedForward:
    from .layer import GatedFeedForward

    features = single(inputs).shape[-1]
    return GatedFeedForward(features, params["hidden"], gate=params["gate"], dropout=params["dropout"])


GATE = ParamSpec(
    "gate",
    "choice",
    "sigmoid",
    "what the gate half goes through: sigmoid (GLU), silu (SwiGLU), gelu (GEGLU), relu (ReGLU) or linear (bilinear)",
    choices=GATES,
)

BLOCKS = (
    BlockSpec(
        id="gated_linear",
        title="Gated Linear Unit",
        category="Dense",
        doc=(
            "A gated linear unit: a Linear to 2 x out_features values split into a and b, then "
            "a * gate(b), so half of the layer decides, feature by feature, how much of the other half "
            "passes. With a sigmoid gate it is the GLU of gated convolutional language models; with "
            "silu it is SwiGLU and with gelu GEGLU, which train better than a Linear plus ReLU in "
            "transformer feed-forwards. Works on vectors [N, features] and per token on [N, T, features]."
        ),
        params=(
            ParamSpec("out_features", "int", 64, "number of output features", min=1, max=1_000_000),
            GATE,
            ParamSpec("bias", "bool", True, "learn an additive bias in the projection"),
        ),
        shape=_glu_shape,
        build=_glu_build,
    ),
    BlockSpec(
        id="gated_feed_forward",
        title="Gated Feed-Forward",
        category="Dense",
        doc=(
            "The feed-forward of LLaMA- and PaLM-style transformers: a gated linear unit to a wider "
            "hidden size, dropout, and a Linear back to the input size (no biases), so it can sit "
            "inside a residual connection. The default silu gate makes it a SwiGLU feed-forward; use a "
            "hidden size of about 8/3 of the features to match the parameters of a 4x ReLU MLP. Works "
            "on vectors [N, features] and per token on [N, T, features]; the output has the input's shape."
        ),
        params=(
            ParamSpec("hidden", "int", 256, "width of the gated hidden layer", min=1, max=1_000_000),
            ParamSpec(
                "gate",
                "choice",
                "silu",
                "the gate's non-linearity: silu (SwiGLU), gelu (GEGLU), sigmoid (GLU), relu (ReGLU), linear",
                choices=GATES,
            ),
            ParamSpec(
                "dropout",
                "float",
                0.0,
                "dropout on the hidden layer while training",
                min=0.0,
                max=1.0,
                max_exclusive=True,
            ),
        ),
        shape=_ffn_shape,
        build=_ffn_build,
    ),
)
