"""Locally connected layers: sliding windows without (or with little) weight sharing."""

from __future__ import annotations

from modstudio.graph.schema import ParamSpec

from .conv import conv_block_flops, require_images, same_padding, slide, window_params
from .costs import bias, conv_flops, numel
from .spec import BlockSpec, Inputs, Layer, Params, single
from .tensors import TensorInfo


def _local_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_images(x)
    sizes = slide(x.shape[1:], params["kernel_size"], params["stride"], same_padding(params))
    return (TensorInfo((params["out_channels"], *sizes)),)


def _layer_args(params: Params, inputs: Inputs) -> dict:
    x = single(inputs)
    return {
        "in_channels": x.shape[0],
        "out_channels": params["out_channels"],
        "input_size": (x.shape[1], x.shape[2]),
        "kernel_size": params["kernel_size"],
        "stride": params["stride"],
        "padding": same_padding(params),
        "bias": params["bias"],
    }


def _low_rank_args(params: Params, inputs: Inputs) -> dict:
    return {**_layer_args(params, inputs), "rank": params["rank"]}


def _low_rank_flops(params: Params, inputs: Inputs, outputs) -> int:
    x, y = single(inputs), outputs["out"]
    positions = numel(y) // y.shape[0]
    bases = conv_flops(x.shape[0], params["rank"] * y.shape[0], params["kernel_size"], y.shape[1:])
    mixing = 2 * params["rank"] * numel(y) + 4 * params["rank"] * positions  # weighted sum; softmax of the weights
    return bases + mixing + 2 * bias(params, y)


_WINDOW = window_params(dilation=False)
_FIXED_SIZE = (
    "Its weights are tied to positions, so the image height and width are fixed once it is connected. "
    "Padding left unset means 'same' (half the kernel on each side)."
)

SPECS = (
    BlockSpec(
        id="locally_connected2d",
        title="Locally Connected 2d",
        category="Convolution",
        doc=(
            "Like a Conv2d, each output looks at a small kernel_size window, but every position has its own "
            "untied filters: the survey's locally connected layer, a module per location instead of one "
            "shared module. Use it when what matters differs by position (aligned faces, fixed sensor "
            "layouts); it has out_h·out_w times the weights of a Conv2d, so keep images small. " + _FIXED_SIZE
        ),
        params=_WINDOW,
        shape=_local_shape,
        layer=Layer("modstudio.blocks.layers.local.LocallyConnected2d", _layer_args),
        flops=conv_block_flops,
    ),
    BlockSpec(
        id="low_rank_locally_connected2d",
        title="Low-Rank Locally Connected 2d",
        category="Convolution",
        doc=(
            "Between a Conv2d and a locally connected layer (Elsayed et al. 2020): it learns `rank` shared "
            "kernels, and at every position mixes them with its own combining weights (a softmax over the "
            "kernels of a row score plus a column score), so the output is sum_r w_r(position)·conv_r(x) "
            "plus a per-channel and per-position bias. rank 1 is a plain Conv2d; a higher rank relaxes "
            "spatial invariance at a small cost in weights. " + _FIXED_SIZE
        ),
        params=(
            *_WINDOW[:-1],
            ParamSpec("rank", "int", 4, "number of shared kernels mixed at each position", min=1, max=256),
            _WINDOW[-1],
        ),
        shape=_local_shape,
        layer=Layer("modstudio.blocks.layers.local.LowRankLocallyConnected2d", _low_rank_args),
        flops=_low_rank_flops,
    ),
)
