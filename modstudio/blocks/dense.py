"""Fully connected layers."""

from __future__ import annotations

from typing import Any

from modstudio.graph.schema import ParamSpec

from .costs import linear_flops, numel
from .importing import Mapped, NoBlock, rule
from .spec import BlockSpec, Inputs, Layer, Params, require_float, require_rank, single
from .tensors import TensorInfo


def _linear_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_float(x)
    require_rank(x, (2, 3), "a flat vector [N, features] or tokens [N, T, features]", "add a Flatten before it")
    return (TensorInfo((*x.shape[:-1], params["out_features"])),)


def _linear_arguments(params: Params, inputs: Inputs) -> dict:
    return {"in_features": single(inputs).shape[-1], "out_features": params["out_features"], "bias": params["bias"]}


def _linear_flops(params: Params, inputs: Inputs, outputs) -> int:
    x = single(inputs)  # per sample: the batch is not in x.shape; every token runs the layer
    return linear_flops(x.shape[-1], params["out_features"], numel(x) // x.shape[-1], params["bias"])


def _import_linear(m: Any) -> Mapped | NoBlock:
    return Mapped({"out_features": m.out_features, "bias": m.bias is not None})


LINEAR = BlockSpec(
    id="linear",
    title="Linear",
    category="Dense",
    doc=(
        "A fully connected layer, y = xW^T + b: every output feature sees every input feature. "
        "The survey's most basic module. Use it for tabular data, as the classifier head after "
        "a Flatten or global pooling, or per token on sequences [N, T, features]. The input "
        "size is taken from what is connected; set only out_features."
    ),
    params=(
        ParamSpec("out_features", "int", 64, "number of output features", min=1, max=1_000_000),
        ParamSpec("bias", "bool", True, "learn an additive bias"),
    ),
    shape=_linear_shape,
    layer=Layer("torch.nn.Linear", _linear_arguments),
    flops=_linear_flops,
    importer=rule("torch.nn.Linear", _import_linear),
)

SPECS = (LINEAR,)
