"""Element-wise non-linearities (and Softmax over a chosen dimension)."""

from __future__ import annotations

from typing import Any

from modstudio.graph.schema import ParamSpec

from .costs import per_element
from .importing import Convert, Mapped, NoBlock, no_params, rule
from .spec import BlockSpec, Inputs, Layer, Params, require_float, single
from .tensors import ShapeError, TensorInfo


def _same_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_float(x)
    return (x,)


def _no_arguments(params: Params, inputs: Inputs) -> dict:
    return {}


def _activation(
    block_id: str,
    title: str,
    torch_name: str,
    doc: str,
    convert: Convert = no_params,
    number: ParamSpec | None = None,
    flops: int = 1,
) -> BlockSpec:
    """An element-wise activation block of one torch layer; ``number``: its one setting (LeakyReLU's
    ``negative_slope``, ELU's ``alpha``), passed to the layer and read back from it on import."""
    arguments = _no_arguments
    if number is not None:
        name = number.name

        def arguments(params: Params, inputs: Inputs) -> dict:
            return {name: params[name]}

        def convert(m: Any) -> Mapped | NoBlock:
            return Mapped({name: float(getattr(m, name))})

    return BlockSpec(
        id=block_id,
        title=title,
        category="Activation",
        doc=doc,
        params=(number,) if number is not None else (),
        shape=_same_shape,
        layer=Layer(f"torch.nn.{torch_name}", arguments),
        flops=per_element(flops),
        flops_exact=False,
        importer=rule(f"torch.nn.{torch_name}", convert),
    )


def _import_gelu(m: Any) -> Mapped | NoBlock:
    if m.approximate != "none":
        return NoBlock(f"approximate='{m.approximate}' (the block is the exact GELU)")
    return Mapped({})


def _softmax_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_float(x)
    dim = params["dim"]
    if not -x.rank <= dim < x.rank or dim in (0, -x.rank):
        raise ShapeError(f"cannot take a softmax over dimension {dim} of {x} (0 is the batch)")
    return (x,)


def _softmax_arguments(params: Params, inputs: Inputs) -> dict:
    return {"dim": params["dim"]}


def _import_softmax(m: Any) -> Mapped | NoBlock:
    if m.dim is None:
        return NoBlock("no dim (give Softmax a dim)")
    return Mapped({"dim": m.dim})


SPECS = (
    _activation(
        "relu",
        "ReLU",
        "ReLU",
        "Rectified linear unit, max(0, x). The default non-linearity between layers: cheap, and gradients do not vanish for positive inputs.",
    ),
    _activation(
        "relu6",
        "ReLU6",
        "ReLU6",
        "ReLU capped at 6, min(max(0, x), 6). MobileNet's activation: the cap keeps values in a range that low-precision arithmetic on phones represents well.",
    ),
    _activation(
        "leaky_relu",
        "Leaky ReLU",
        "LeakyReLU",
        "ReLU with a small slope for negative inputs, max(0, x) + slope·min(0, x). Units never go fully silent, so none dies; the usual choice in GAN discriminators and YOLO-style detectors.",
        number=ParamSpec("negative_slope", "float", 0.01, "slope for negative inputs (0 is ReLU)", min=0.0, max=1.0),
    ),
    _activation(
        "elu",
        "ELU",
        "ELU",
        "Exponential linear unit, x for x > 0 and alpha·(exp(x) − 1) below. Smooth, with negative outputs that push mean activations towards zero (Clevert et al. 2016).",
        number=ParamSpec("alpha", "float", 1.0, "the value negative inputs approach", min=0.0, max=10.0),
        flops=2,
    ),
    _activation(
        "gelu",
        "GELU",
        "GELU",
        "Gaussian error linear unit, x·Φ(x). A smooth ReLU, the usual choice inside transformer blocks.",
        _import_gelu,
    ),
    _activation(
        "silu",
        "SiLU",
        "SiLU",
        "Sigmoid linear unit (swish), x·σ(x). Smooth and non-monotonic; used in modern CNNs and gated MLPs.",
    ),
    _activation(
        "hardswish",
        "Hardswish",
        "Hardswish",
        "Hard swish, x·ReLU6(x + 3)/6. A swish made of straight pieces, cheap on CPUs and phones; MobileNetV3's activation.",
    ),
    _activation(
        "tanh", "Tanh", "Tanh", "Hyperbolic tangent, squashing to (-1, 1). The classic recurrent-network non-linearity."
    ),
    _activation(
        "sigmoid",
        "Sigmoid",
        "Sigmoid",
        "Logistic function, squashing to (0, 1). Use it for gates and for independent yes/no outputs.",
    ),
    BlockSpec(
        id="softmax",
        title="Softmax",
        category="Activation",
        doc="Turns scores into probabilities that sum to one along a dimension. Do not put it before a classification Output: the loss already applies it to the logits.",
        params=(
            ParamSpec("dim", "int", -1, "dimension to normalise over (negative counts from the end)", min=-6, max=6),
        ),
        shape=_softmax_shape,
        layer=Layer("torch.nn.Softmax", _softmax_arguments),
        importer=rule("torch.nn.Softmax", _import_softmax),
        flops=per_element(3),
        flops_exact=False,
    ),
)
