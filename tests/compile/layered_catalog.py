"""The built-in catalog with a ``Layer`` for each block ResNet-18 uses: what every built-in block
will declare (blocks/**), written here so that the code generator's Layer path is tested on a
real network before then. Each ``arguments`` is the block's own ``build`` with keywords."""

from __future__ import annotations

from dataclasses import replace

from modstudio.blocks import default_catalog
from modstudio.blocks.catalog import Catalog
from modstudio.blocks.conv import same_padding
from modstudio.blocks.spec import Layer, single


def _conv2d(params, inputs) -> dict:
    return {
        "in_channels": single(inputs).shape[0],
        "out_channels": params["out_channels"],
        "kernel_size": params["kernel_size"],
        "stride": params["stride"],
        "padding": same_padding(params),
        "dilation": params["dilation"],
        "bias": params["bias"],
    }


def _batch_norm2d(params, inputs) -> dict:
    x = single(inputs)
    return {
        "num_features": x.shape[0],
        "eps": params["eps"],
        "momentum": params["momentum"],
        "affine": params["affine"],
    }


def _max_pool2d(params, inputs) -> dict:
    stride = params["stride"] or params["kernel_size"]
    return {"kernel_size": params["kernel_size"], "stride": stride, "padding": params["padding"]}


LAYERS = {
    "conv2d": Layer("torch.nn.Conv2d", _conv2d),
    "batch_norm2d": Layer("torch.nn.BatchNorm2d", _batch_norm2d),
    "relu": Layer("torch.nn.ReLU", lambda params, inputs: {}),
    "max_pool2d": Layer("torch.nn.MaxPool2d", _max_pool2d),
    "add": Layer("modstudio.blocks.layers.basic.Add", lambda params, inputs: {}),
}


def layered_catalog() -> Catalog:
    """The default catalog, with Layers for ResNet-18's blocks (those that lack one)."""
    return Catalog(
        replace(s, layer=LAYERS[s.id]) if s.layer is None and s.id in LAYERS else s for s in default_catalog()
    )
