"""Convolutions: weight-shared filters that slide over sequences and images.

The sliding-window helpers here (``slide``, ``require_images``...) are shared with the
pooling and locally connected blocks.
"""

from __future__ import annotations

import math
from typing import Any

from modstudio.graph.schema import ParamSpec

from .costs import bias, conv_flops
from .importing import Mapped, NoBlock, rule, square, squares
from .spec import BlockSpec, Inputs, Layer, Params, require_float, single
from .tensors import ShapeError, TensorInfo

IMAGES = "images [N, channels, height, width]"
SEQUENCES = "sequences [N, channels, length]"


def require_images(x: TensorInfo, sequence_block: str = "") -> None:
    """Raise a readable ShapeError unless ``x`` is a batch of real-valued images."""
    require_float(x)
    if x.rank == 4:
        return
    if x.rank == 2:
        side = math.isqrt(x.shape[0])
        example = (
            f", e.g. to [1, {side}, {side}] for one-channel {side}x{side} images" if side * side == x.shape[0] else ""
        )
        hint = f"add a Reshape to [channels, height, width] before it{example}"
    elif x.rank == 3:
        other = f"use a {sequence_block} for sequences, or " if sequence_block else ""
        hint = f"{other}add a Reshape to [1, {x.shape[0]}, {x.shape[1]}] to treat it as a one-channel image"
    else:
        hint = "add a Reshape to [channels, height, width] before it"
    raise ShapeError(f"expects {IMAGES} but receives {x}; {hint}")


def require_sequences(x: TensorInfo) -> None:
    """Raise a readable ShapeError unless ``x`` is a batch of real-valued channel-first sequences."""
    require_float(x)
    if x.rank == 3:
        return
    if x.rank == 2:
        hint = f"add a Reshape to [1, {x.shape[0]}] before it to make one channel"
    elif x.rank == 4:
        hint = "use a Conv2d for images"
    else:
        hint = "add a Reshape to [channels, length] before it"
    raise ShapeError(f"expects {SEQUENCES} but receives {x}; {hint}")


def same_padding(params: Params) -> int:
    """The padding to use: the ``padding`` param, or when unset, half the kernel's reach ("same")."""
    padding = params["padding"]
    if padding is None:
        return params.get("dilation", 1) * (params["kernel_size"] - 1) // 2
    return padding


def _describe(sizes: tuple[int, ...]) -> str:
    return f"an input of length {sizes[0]}" if len(sizes) == 1 else f"a {'x'.join(map(str, sizes))} input"


def slide(
    sizes: tuple[int, ...],
    kernel: int,
    stride: int,
    padding: int,
    dilation: int = 1,
    window: str = "kernel",
    fix: str = "use a smaller kernel_size or more padding, or downsample less before it",
) -> tuple[int, ...]:
    """Output sizes of a sliding window, exactly as torch computes them (floor division)."""
    span = dilation * (kernel - 1) + 1
    if any(size + 2 * padding < span for size in sizes):
        reach = f" at dilation {dilation} (spanning {span})" if dilation > 1 else ""
        padded = f" padded by {padding}" if padding else ""
        raise ShapeError(f"with {window} {kernel}{reach} cannot slide over {_describe(sizes)}{padded}; {fix}")
    return tuple((size + 2 * padding - span) // stride + 1 for size in sizes)


def window_params(kernel_size: int = 3, dilation: bool = True) -> tuple[ParamSpec, ...]:
    """out_channels, kernel_size, stride, padding (unset = "same"), [dilation,] bias."""
    params = [
        ParamSpec("out_channels", "int", 32, "number of output channels (filters)", min=1, max=65536),
        ParamSpec("kernel_size", "int", kernel_size, "width (and height) of each filter", min=1, max=64),
        ParamSpec("stride", "int", 1, "step between windows; 2 halves the size", min=1, max=64),
        ParamSpec(
            "padding",
            "int",
            None,
            "zeros added on each side; unset = 'same' (half the kernel: keeps the size at stride 1 "
            "for odd kernels), 0 = 'valid'",
            min=0,
            max=64,
            optional=True,
            unset_label="same",
        ),
    ]
    if dilation:
        params.append(ParamSpec("dilation", "int", 1, "spacing between filter taps (atrous)", min=1, max=64))
    params.append(ParamSpec("bias", "bool", True, "learn an additive bias per output channel"))
    return tuple(params)


def _conv_sizes(params: Params, x: TensorInfo) -> tuple[int, ...]:
    return slide(x.shape[1:], params["kernel_size"], params["stride"], same_padding(params), params["dilation"])


def _conv1d_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_sequences(x)
    return (TensorInfo((params["out_channels"], *_conv_sizes(params, x))),)


def _conv2d_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_images(x, "Conv1d")
    return (TensorInfo((params["out_channels"], *_conv_sizes(params, x))),)


def _conv_arguments(params: Params, inputs: Inputs) -> dict:
    arguments = {
        "in_channels": single(inputs).shape[0],
        "out_channels": params["out_channels"],
        "kernel_size": params["kernel_size"],
        "stride": params["stride"],
        "padding": same_padding(params),
        "dilation": params["dilation"],
        "bias": params["bias"],
    }
    if "groups" in params:
        arguments["groups"] = params["groups"]
    return arguments


def conv_block_flops(params: Params, inputs: Inputs, outputs) -> int:
    """Multiply-adds of every output element, plus the bias (also the locally connected layer's:
    untied filters do the same products)."""
    x, y = single(inputs), outputs["out"]
    return conv_flops(x.shape[0], y.shape[0], params["kernel_size"], y.shape[1:], params.get("groups", 1)) + bias(
        params, y
    )


def _group_conv2d_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_images(x)
    groups, in_channels, out_channels = params["groups"], x.shape[0], params["out_channels"]
    if in_channels % groups or out_channels % groups:
        fits = [g for g in range(1, min(in_channels, out_channels) + 1) if in_channels % g == out_channels % g == 0]
        raise ShapeError(
            f"splits channels into {groups} groups, so its {in_channels} input channels and "
            f"{out_channels} out_channels must both be divisible by {groups}; "
            f"use groups {', '.join(map(str, fits))} or change out_channels"
        )
    return _conv2d_shape(params, inputs)


def _separable_flops(params: Params, inputs: Inputs, outputs) -> int:
    x, y = single(inputs), outputs["out"]
    depthwise = conv_flops(x.shape[0], x.shape[0], params["kernel_size"], y.shape[1:], groups=x.shape[0])
    return depthwise + conv_flops(x.shape[0], y.shape[0], 1, y.shape[1:]) + bias(params, y)


def _transpose_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_images(x)
    k, s, p, op, d = (params[n] for n in ("kernel_size", "stride", "padding", "output_padding", "dilation"))
    if op >= s and op >= d:
        raise ShapeError(
            f"has output_padding {op}, which must be smaller than its stride ({s}) or dilation ({d}); "
            f"use output_padding 0 to {max(s, d) - 1}"
        )
    sizes = tuple((size - 1) * s - 2 * p + d * (k - 1) + op + 1 for size in x.shape[1:])
    if any(size < 1 for size in sizes):
        raise ShapeError(
            f"with padding {p} would shrink {_describe(x.shape[1:])} to nothing ({'x'.join(map(str, sizes))}); "
            "use less padding or a larger kernel_size"
        )
    return (TensorInfo((params["out_channels"], *sizes)),)


def _transpose_arguments(params: Params, inputs: Inputs) -> dict:
    return {
        "in_channels": single(inputs).shape[0],
        "out_channels": params["out_channels"],
        "kernel_size": params["kernel_size"],
        "stride": params["stride"],
        "padding": params["padding"],
        "output_padding": params["output_padding"],
        "dilation": params["dilation"],
        "bias": params["bias"],
    }


def _transpose_flops(params: Params, inputs: Inputs, outputs) -> int:
    x, y = single(inputs), outputs["out"]  # every input pixel scatters Cout x k x k products
    return conv_flops(x.shape[0], y.shape[0], params["kernel_size"], x.shape[1:]) + bias(params, y)


def _conv_params(m: Any, grouped: bool) -> Mapped | NoBlock:
    if m.padding_mode != "zeros":
        return NoBlock(f"padding_mode '{m.padding_mode}' (the block pads with zeros)")
    if isinstance(m.padding, str):
        if m.padding != "valid":
            return NoBlock(f"padding '{m.padding}' (give the padding as a number)")
        padding: int | NoBlock = 0
    else:
        padding = square(m.padding, "padding")
    sizes = squares(m, ("kernel_size", "stride", "dilation"))
    for value in (padding, sizes):
        if isinstance(value, NoBlock):
            return value
    params: dict[str, Any] = {"out_channels": m.out_channels, **sizes, "padding": padding, "bias": m.bias is not None}
    if grouped != (m.groups > 1):
        return NoBlock(f"groups={m.groups}")
    if grouped:
        params["groups"] = m.groups
    return Mapped(params)


def _import_conv(m: Any) -> Mapped | NoBlock:
    return _conv_params(m, grouped=False)


def _import_group_conv(m: Any) -> Mapped | NoBlock:
    return _conv_params(m, grouped=True)


def _import_transpose(m: Any) -> Mapped | NoBlock:
    if m.padding_mode != "zeros" or m.groups != 1:
        return NoBlock(f"groups={m.groups}, padding_mode '{m.padding_mode}'")
    sizes = squares(m, ("kernel_size", "stride", "padding", "output_padding", "dilation"))
    if isinstance(sizes, NoBlock):
        return sizes
    return Mapped({"out_channels": m.out_channels, **sizes, "bias": m.bias is not None})


_WINDOW = window_params()
_SAME_NOTE = (
    "Padding left unset means 'same': half the kernel on each side, so at stride 1 an odd kernel keeps "
    "the size; set 0 for 'valid'. Input channels come from what is connected."
)

SPECS = (
    BlockSpec(
        id="conv1d",
        title="Conv1d",
        category="Convolution",
        doc=(
            "A 1-D convolution: the same small filters slide along a sequence [N, channels, length], so a "
            "pattern is recognised wherever it occurs (weight sharing, translation equivariance). Use it for "
            "audio, sensor signals or token features; tokens [N, T, features] need a Permute [2, 1] first. "
            + _SAME_NOTE
        ),
        params=_WINDOW,
        shape=_conv1d_shape,
        layer=Layer("torch.nn.Conv1d", _conv_arguments),
        importer=rule("torch.nn.Conv1d", _import_conv),
        flops=conv_block_flops,
    ),
    BlockSpec(
        id="conv2d",
        title="Conv2d",
        category="Convolution",
        doc=(
            "A 2-D convolution, the building block of CNNs: out_channels filters of kernel_size x kernel_size "
            "slide over images [N, channels, height, width], sharing their weights across positions. "
            "Stack them with pooling or stride 2 to build a feature hierarchy. " + _SAME_NOTE
        ),
        params=_WINDOW,
        shape=_conv2d_shape,
        layer=Layer("torch.nn.Conv2d", _conv_arguments),
        importer=rule("torch.nn.Conv2d", _import_conv),
        flops=conv_block_flops,
    ),
    BlockSpec(
        id="group_conv2d",
        title="Group Conv2d",
        category="Convolution",
        doc=(
            "A grouped 2-D convolution: channels are split into groups that are convolved independently, "
            "like parallel modules side by side (ResNeXt's cardinality, AlexNet's two towers). It costs "
            "1/groups of a Conv2d. Input channels and out_channels must both be divisible by groups. " + _SAME_NOTE
        ),
        params=(*_WINDOW[:-1], ParamSpec("groups", "int", 2, "number of channel groups", min=1, max=4096), _WINDOW[-1]),
        shape=_group_conv2d_shape,
        layer=Layer("torch.nn.Conv2d", _conv_arguments),
        importer=rule("torch.nn.Conv2d", _import_group_conv),
        flops=conv_block_flops,
    ),
    BlockSpec(
        id="depthwise_separable_conv2d",
        title="Depthwise Separable Conv2d",
        category="Convolution",
        doc=(
            "A convolution factored into two modules: a depthwise kernel_size x kernel_size filter per input "
            "channel (spatial mixing), then a pointwise 1x1 convolution to out_channels (channel mixing). "
            "Nearly as expressive as a Conv2d at a fraction of the weights and compute; the core of "
            "MobileNet and Xception. " + _SAME_NOTE
        ),
        params=_WINDOW,
        shape=_conv2d_shape,
        layer=Layer("modstudio.blocks.layers.conv.DepthwiseSeparableConv2d", _conv_arguments),
        flops=_separable_flops,
    ),
    BlockSpec(
        id="conv_transpose2d",
        title="ConvTranspose2d",
        category="Convolution",
        doc=(
            "A transposed (fractionally strided) 2-D convolution that upsamples images: with the defaults, "
            "kernel_size 2 and stride 2, height and width double. Use it in decoders, autoencoders and "
            "U-Nets. The output size is (size - 1)·stride - 2·padding + dilation·(kernel_size - 1) + "
            "output_padding + 1."
        ),
        params=(
            ParamSpec("out_channels", "int", 32, "number of output channels (filters)", min=1, max=65536),
            ParamSpec("kernel_size", "int", 2, "width (and height) of each filter", min=1, max=64),
            ParamSpec("stride", "int", 2, "upsampling factor", min=1, max=64),
            ParamSpec("padding", "int", 0, "rows and columns removed from each border of the output", min=0, max=64),
            ParamSpec("output_padding", "int", 0, "extra rows and columns added on one side", min=0, max=63),
            ParamSpec("dilation", "int", 1, "spacing between filter taps", min=1, max=64),
            ParamSpec("bias", "bool", True, "learn an additive bias per output channel"),
        ),
        shape=_transpose_shape,
        layer=Layer("torch.nn.ConvTranspose2d", _transpose_arguments),
        importer=rule("torch.nn.ConvTranspose2d", _import_transpose),
        flops=_transpose_flops,
    ),
)
