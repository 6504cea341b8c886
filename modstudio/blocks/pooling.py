"""Pooling: summarise image windows by their maximum or mean."""

from __future__ import annotations

from typing import Any

from modstudio.graph.schema import ParamSpec

from .conv import require_images, slide
from .costs import numel, per_input_element
from .importing import Mapped, NoBlock, rule, squares
from .spec import BlockSpec, Inputs, Layer, Params, single
from .tensors import ShapeError, TensorInfo

_WINDOW = (
    ParamSpec("kernel_size", "int", 2, "width (and height) of each pooling window", min=1, max=64),
    ParamSpec(
        "stride",
        "int",
        None,
        "step between windows; unset = kernel_size (windows do not overlap)",
        min=1,
        max=64,
        optional=True,
        unset_label="= kernel_size",
    ),
    ParamSpec("padding", "int", 0, "border added on each side, at most half the kernel_size", min=0, max=32),
)


def _stride(params: Params) -> int:
    return params["stride"] or params["kernel_size"]


_CEIL_MODE = ParamSpec(
    "ceil_mode",
    "bool",
    False,
    "round the output size up: a last window that runs past the edge also counts (torchvision's SqueezeNet)",
)


def _pool_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_images(x)
    kernel, padding = params["kernel_size"], params["padding"]
    if 2 * padding > kernel:
        raise ShapeError(
            f"has padding {padding}, more than half its window of {kernel}; use padding 0 to {kernel // 2}"
        )
    if params.get("ceil_mode"):
        sizes = tuple(_rounded_up(size, kernel, _stride(params), padding) for size in x.shape[1:])
        if min(sizes) >= 1:
            return (TensorInfo((x.shape[0], *sizes)),)
    fix = "use a smaller kernel_size, or downsample less before it"
    sizes = slide(x.shape[1:], kernel, _stride(params), padding, window="window", fix=fix)  # raises if none fits
    return (TensorInfo((x.shape[0], *sizes)),)


def _rounded_up(size: int, kernel: int, stride: int, padding: int) -> int:
    """torch's ceil_mode output size: windows start while they start inside the input or its left padding."""
    count = -(-(size + 2 * padding - kernel) // stride) + 1
    return count - 1 if (count - 1) * stride >= size + padding else count


def _pool_arguments(params: Params, inputs: Inputs) -> dict:
    # torch's own default: stride None = kernel_size
    arguments = {"kernel_size": params["kernel_size"], "stride": params["stride"], "padding": params["padding"]}
    if params.get("ceil_mode"):  # only where set: exported code keeps torch's default silent
        arguments["ceil_mode"] = True
    return arguments


def _window_flops(params: Params, inputs: Inputs, outputs) -> int:
    """One FLOP per window element of every output element."""
    return params["kernel_size"] ** 2 * numel(outputs["out"])


def _adaptive_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_images(x)
    return (TensorInfo((x.shape[0], params["height"], params["width"])),)


def _adaptive_arguments(params: Params, inputs: Inputs) -> dict:
    return {"output_size": (params["height"], params["width"])}


def _global_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_images(x)
    return (TensorInfo((x.shape[0],)),)


def _no_arguments(params: Params, inputs: Inputs) -> dict:
    return {}


def _import_max_pool(m: Any) -> Mapped | NoBlock:
    if m.return_indices:
        return NoBlock("return_indices (the block gives the pooled values alone)")
    sizes = squares(m, ("kernel_size", "stride", "padding", "dilation"))
    if isinstance(sizes, NoBlock):
        return sizes
    if sizes.pop("dilation") != 1:
        return NoBlock("dilation (the block's windows are contiguous)")
    return Mapped({**sizes, "ceil_mode": bool(m.ceil_mode)})


def _import_avg_pool(m: Any) -> Mapped | NoBlock:
    if m.ceil_mode or not m.count_include_pad or m.divisor_override is not None:
        return NoBlock("ceil_mode, count_include_pad=False or divisor_override")
    sizes = squares(m, ("kernel_size", "stride", "padding"))
    return sizes if isinstance(sizes, NoBlock) else Mapped(sizes)


def _import_adaptive(m: Any) -> Mapped | NoBlock:
    size = m.output_size
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if height is None or width is None:
        return NoBlock("an output size of None (keep the input's size)")
    return Mapped({"height": height, "width": width})


SPECS = (
    BlockSpec(
        id="max_pool2d",
        title="MaxPool2d",
        category="Pooling",
        doc=(
            "Keeps the largest value of each kernel_size x kernel_size window of every channel, shrinking "
            "images (by 2 with the defaults) and making features tolerant to small shifts. The classic "
            "downsampling step between convolution stages; it has no weights."
        ),
        params=(*_WINDOW, _CEIL_MODE),
        shape=_pool_shape,
        layer=Layer("torch.nn.MaxPool2d", _pool_arguments),
        importer=rule("torch.nn.MaxPool2d", _import_max_pool),
        flops=_window_flops,
        flops_exact=False,
    ),
    BlockSpec(
        id="avg_pool2d",
        title="AvgPool2d",
        category="Pooling",
        doc=(
            "Replaces each kernel_size x kernel_size window of every channel by its mean, shrinking images "
            "(by 2 with the defaults) while smoothing them. A gentler downsampling than max pooling; it "
            "has no weights."
        ),
        params=_WINDOW,
        shape=_pool_shape,
        layer=Layer("torch.nn.AvgPool2d", _pool_arguments),
        importer=rule("torch.nn.AvgPool2d", _import_avg_pool),
        flops=_window_flops,
        flops_exact=False,
    ),
    BlockSpec(
        id="adaptive_avg_pool2d",
        title="Adaptive AvgPool2d",
        category="Pooling",
        doc=(
            "Averages each channel down to a fixed height x width whatever the input size, choosing the "
            "windows itself. Put it before a Flatten and Linear head so the head's size no longer depends "
            "on the image size."
        ),
        params=(
            ParamSpec("height", "int", 7, "output height", min=1, max=4096),
            ParamSpec("width", "int", 7, "output width", min=1, max=4096),
        ),
        shape=_adaptive_shape,
        layer=Layer("torch.nn.AdaptiveAvgPool2d", _adaptive_arguments),
        importer=rule("torch.nn.AdaptiveAvgPool2d", _import_adaptive),
        flops=per_input_element(1),
        flops_exact=False,
    ),
    BlockSpec(
        id="global_avg_pool",
        title="Global Avg Pool",
        category="Pooling",
        doc=(
            "Averages each channel over the whole image, [N, C, H, W] -> [N, C]: one number per feature map. "
            "The standard bridge from convolutional features to a Linear classifier (ResNet, MobileNet); "
            "it needs no Flatten and works for any image size."
        ),
        shape=_global_shape,
        layer=Layer("modstudio.blocks.layers.basic.GlobalAvgPool2d", _no_arguments),
        flops=per_input_element(1),
        flops_exact=False,
    ),
)
