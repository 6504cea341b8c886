"""Input and Output: the boundary of every module, and the task head of the main one."""

from __future__ import annotations

import math

from modstudio.graph.schema import INPUT_BLOCK, OUTPUT_BLOCK, ParamSpec

from .spec import IN, OUT, BlockSpec, Inputs, Params, single
from .tensors import ShapeError, TensorInfo

MAX_SHAPE_ENTRY = 65_536  # each entry of an Input's sample shape
MAX_SAMPLE_ELEMENTS = 2**24  # values in one sample (a 4096 x 4096 image); nothing larger is allocated


def _input_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    shape = params.get("shape")
    if shape is None:
        raise ShapeError("has no shape; set the shape of one sample, e.g. [2] or [1, 8, 8]")
    if math.prod(shape) > MAX_SAMPLE_ELEMENTS:
        raise ShapeError(
            f"declares a sample of shape {list(shape)}, {math.prod(shape):,} values; "
            f"one sample holds at most {MAX_SAMPLE_ELEMENTS:,}"
        )
    return (TensorInfo(tuple(shape), params.get("dtype", "float")),)


def _output_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    task = params.get("task", "none")
    if task == "classification":
        if x.dtype != "float" or x.rank != 2:
            raise ShapeError(
                f"(classification) expects logits [N, classes] but receives {x}; "
                "end the network with a Linear whose out_features is the number of classes"
            )
        if x.shape[0] < 2:
            raise ShapeError(f"(classification) needs at least 2 classes but receives {x}")
    elif task == "regression" and (x.dtype != "float" or x.rank != 2):
        raise ShapeError(
            f"(regression) expects targets [N, outputs] but receives {x}; add a Flatten or a Linear before it"
        )
    return ()


def _no_module(params: Params, inputs: Inputs):
    raise TypeError("Input and Output nodes are not built into modules")


INPUT = BlockSpec(
    id=INPUT_BLOCK,
    title="Input",
    category="Input/Output",
    doc=(
        "Where data enters a module. In the main module it declares the shape of one sample "
        "(the batch dimension is implied) and its type: real-valued features, or integer "
        "indices for an Embedding. Inside a reusable module the shape comes from whatever "
        "feeds the module, so it can be left unset. Each Input becomes an input port of the "
        "module when it is used elsewhere."
    ),
    params=(
        ParamSpec(
            "shape",
            "ints",
            None,
            f"shape of one sample, batch left out (each entry at most {MAX_SHAPE_ENTRY}, "
            f"{MAX_SAMPLE_ELEMENTS:,} values in all)",
            min=1,
            max=MAX_SHAPE_ENTRY,
            min_length=1,
            max_length=6,
            optional=True,
        ),
        ParamSpec("dtype", "choice", "float", "real-valued features or integer indices", choices=("float", "long")),
    ),
    inputs=(),
    outputs=OUT,
    shape=_input_shape,
    build=_no_module,
)

OUTPUT = BlockSpec(
    id=OUTPUT_BLOCK,
    title="Output",
    category="Input/Output",
    doc=(
        "Where results leave a module. In the main module it declares the task: "
        "classification (the input is logits, one per class, trained with cross-entropy) or "
        "regression (trained with mean squared error). Inside a reusable module each Output "
        "becomes an output port of the module."
    ),
    params=(
        ParamSpec(
            "task",
            "choice",
            "none",
            "what the network is trained to do",
            choices=("none", "classification", "regression"),
        ),
    ),
    inputs=IN,
    outputs=(),
    shape=_output_shape,
    build=_no_module,
)

SPECS = (INPUT, OUTPUT)
