"""Functional ops and tensor methods of a traced forward, as blocks.

Each rule looks at the op's arguments (wires to the nodes made so far, parameters, constants) and
at the values of one sample run, and returns a block, a pass-through, a constant, or why no block
does exactly what the op does.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx


@dataclass(frozen=True)
class Wire:
    """An output port of a node of the ModuleDef being made."""

    node: str
    port: str = "out"


@dataclass(frozen=True)
class Weight:
    """A parameter of the module used directly in its forward (``self.class_token``)."""

    target: str
    value: torch.Tensor = field(compare=False)
    expanded: bool = False  # ``.expand(n, -1, -1)``-ed to the batch


@dataclass(frozen=True)
class Const:
    """A value that is not a tensor (a size, a dimension)."""

    value: Any


@dataclass(frozen=True)
class Unavailable:
    """A value of a layer that its block does not give (an LSTM's final state): fine while unused."""

    reason: str = "uses a value the layer's block does not give (only its main output)"


@dataclass
class Block:
    block: str
    params: dict[str, Any]
    inputs: list[tuple[str, list[Wire]]]
    weights: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class Alias:
    ref: Any


@dataclass
class Refused:
    reason: str


Result = Block | Alias | Const | Refused
Ref = Any  # Wire | Weight | Const | tuple | None


@dataclass
class Call:
    """One op: its arguments as references and as sample values, and its output's sample value."""

    node: fx.Node
    refs: list[Ref]
    values: list[Any]
    kwargs: dict[str, Ref]
    kwvalues: dict[str, Any]
    out: Any

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        if index < len(self.values):
            return self.values[index]
        return self.kwvalues.get(name, default)

    def tensor(self) -> torch.Tensor:
        return self.values[0]


def _wire(ref: Ref) -> Wire | None:
    return ref if isinstance(ref, Wire) else None


def _activation(block: str) -> Callable[[Call], Result]:
    def rule(call: Call) -> Result:
        source = _wire(call.refs[0])
        if source is None:
            return Refused("has no tensor input")
        return Block(block, {}, [("in", [source])])

    return rule


def _gelu(call: Call) -> Result:
    if call.kwvalues.get("approximate", "none") != "none":
        return Refused("with approximate='tanh' has no block (GELU is the exact one)")
    return _activation("gelu")(call)


def _with_number(block: str, name: str, default: float) -> Callable[[Call], Result]:
    """An activation with one number (``F.leaky_relu(x, negative_slope)``, ``F.elu(x, alpha)``)."""

    def rule(call: Call) -> Result:
        source, value = _wire(call.refs[0]), call.arg(1, name, default)
        if source is None:
            return Refused("has no tensor input")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return Refused(f"with a {name} that is not a number has no block")
        return Block(block, {name: float(value)}, [("in", [source])])

    return rule


def _softmax(call: Call) -> Result:
    dim = call.arg(1, "dim")
    if dim is None:
        return Refused("without a dim has no block")
    return Block("softmax", {"dim": dim}, [("in", [call.refs[0]])])


def _dropout(call: Call) -> Result:
    if not call.arg(2, "training", True):
        return Alias(call.refs[0])  # F.dropout(training=False) does nothing
    return Block("dropout", {"p": call.arg(1, "p", 0.5)}, [("in", [call.refs[0]])])


def _merge(block: str) -> Callable[[Call], Result]:
    def rule(call: Call) -> Result:
        refs = call.refs[:2]
        if len(refs) != 2 or not all(isinstance(r, (Wire, Weight)) for r in refs) or len(call.values) > 2:
            return Refused("with a constant or a scale (alpha) has no block")
        weights = [r for r in refs if isinstance(r, Weight)]
        wires = [r for r in refs if isinstance(r, Wire)]
        if weights and block == "add" and len(wires) == 1:
            return _positional(wires[0], weights[0], call)
        if weights:
            return Refused(f"of a tensor and the parameter '{weights[0].target}' has no block")
        a, b = call.values[:2]
        if a.shape != b.shape:
            return Refused(f"of shapes {list(a.shape)} and {list(b.shape)} (broadcasting) has no block")
        return Block(block, {}, [("in", wires)])

    return rule


def _positional(x: Wire, weight: Weight, call: Call) -> Result:
    value = weight.value
    if value.dim() != 3 or value.shape[0] != 1 or tuple(call.out.shape[1:]) != tuple(value.shape[1:]):
        return Refused(
            f"adds the parameter '{weight.target}' {list(value.shape)}, which is no positional embedding [1, T, D]"
        )
    return Block("positional_embedding", {}, [("in", [x])], {"pos": value})


def _concat(call: Call) -> Result:
    refs = list(call.refs[0]) if isinstance(call.refs[0], (list, tuple)) else []
    dim = call.arg(1, "dim", 0)
    rank = call.out.dim()
    dim = dim + rank if dim < 0 else dim
    tokens = [r for r in refs if isinstance(r, Weight)]
    if tokens:
        token = tokens[0]
        first = len(refs) == 2 and refs[0] is token and token.expanded and dim == 1 and isinstance(refs[1], Wire)
        if first and token.value.dim() == 3 and tuple(token.value.shape[:2]) == (1, 1):
            return Block("class_token", {}, [("in", [refs[1]])], {"token": token.value})
        return Refused(f"with the parameter '{token.target}' has no block (only a class token [1, 1, D] put first)")
    if not refs or not all(isinstance(r, Wire) for r in refs):
        return Refused("of values that are not tensors has no block")
    if dim == 0:
        return Refused("along the batch dimension has no block")
    if len(refs) == 1:
        return Alias(refs[0])
    return Block("concat", {"dim": dim}, [("in", refs)])


def _reshape(call: Call) -> Result:
    """view / reshape / flatten: judged by what they do to the sample, of two samples (one only for a
    flatten with a literal start past the batch, which no batch size changes: samples.py)."""
    x, out = call.tensor(), call.out
    if out.dim() == 0 or out.shape[0] != x.shape[0]:
        return Refused(f"from {list(x.shape)} to {list(out.shape)} mixes samples of the batch: no block does that")
    if tuple(out.shape) == tuple(x.shape):
        return Alias(call.refs[0])
    if out.dim() == 2 and x.dim() > 2:
        return Block("flatten", {}, [("in", [call.refs[0]])])
    return Block("reshape", {"shape": list(out.shape[1:])}, [("in", [call.refs[0]])])


def _dims(call: Call) -> list[int]:
    rest = call.values[1:]
    dims = list(rest[0]) if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else list(rest)
    dims = dims or list(call.kwvalues.get("dims", ()))
    rank = call.tensor().dim()
    return [d + rank if d < 0 else d for d in dims]


def _permute_block(call: Call, dims: list[int]) -> Result:
    if not dims or dims[0] != 0:
        return Refused("moves the batch dimension: no block does that")
    if dims == sorted(dims):
        return Alias(call.refs[0])
    return Block("permute", {"dims": dims[1:]}, [("in", [call.refs[0]])])


def _permute(call: Call) -> Result:
    return _permute_block(call, _dims(call))


def _transpose(call: Call) -> Result:
    rank = call.tensor().dim()
    a, b = (d + rank if d < 0 else d for d in (call.arg(1, "dim0"), call.arg(2, "dim1")))
    dims = list(range(rank))
    dims[a], dims[b] = dims[b], dims[a]
    return _permute_block(call, dims)


def _mean(call: Call) -> Result:
    x = call.tensor()
    dim = call.arg(1, "dim")
    keep = call.arg(2, "keepdim", False)
    dims = {d + x.dim() if d < 0 else d for d in ([dim] if isinstance(dim, int) else list(dim or ()))}
    if x.dim() == 4 and dims == {2, 3}:
        if keep:
            return Block("adaptive_avg_pool2d", {"height": 1, "width": 1}, [("in", [call.refs[0]])])
        return Block("global_avg_pool", {}, [("in", [call.refs[0]])])
    if x.dim() == 3 and dims == {1} and not keep:
        return Block("token_pool", {"mode": "mean"}, [("in", [call.refs[0]])])
    return Refused(
        f"over dimensions {sorted(dims)} of {list(x.shape)} has no block (mean over an image's height and width or over tokens has)"
    )


def _adaptive_avg_pool(call: Call) -> Result:
    size = call.arg(1, "output_size")
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    return Block("adaptive_avg_pool2d", {"height": height, "width": width}, [("in", [call.refs[0]])])


def _pool(block: str) -> Callable[[Call], Result]:
    def rule(call: Call) -> Result:
        names = ("kernel_size", "stride", "padding")
        given = [call.arg(i + 1, name) for i, name in enumerate(names)]
        extra = call.kwvalues.get("ceil_mode", False) or call.kwvalues.get("dilation", 1) != 1
        sizes = [v if v is None or isinstance(v, int) else (v[0] if len(set(v)) == 1 else None) for v in given]
        if extra or sizes[0] is None:
            return Refused("with ceil_mode, dilation or unequal sides has no block")
        params = {"kernel_size": sizes[0], "stride": sizes[1] or sizes[0], "padding": sizes[2] or 0}
        return Block(block, params, [("in", [call.refs[0]])])

    return rule


def _getitem(call: Call) -> Result:
    source, index = call.refs[0], call.values[1]
    if isinstance(source, Const):
        return Const(call.out)
    if isinstance(source, (tuple, list)):
        picked = source[index]
        return Alias(Unavailable() if picked is None else picked)
    tokens = isinstance(source, Wire) and isinstance(index, tuple) and len(index) == 2 and call.tensor().dim() == 3
    if tokens and index[0] == slice(None) and index[1] in (0, -1):
        return Block("token_pool", {"mode": "first" if index[1] == 0 else "last"}, [("in", [source])])
    return Refused(f"indexing [{index}] has no block (tokens [:, 0] and [:, -1] have)")


def _expand(call: Call) -> Result:
    source = call.refs[0]
    if isinstance(source, Weight):
        return Alias(Weight(source.target, source.value, expanded=True))
    return Refused("of a tensor has no block")


def _constant(call: Call) -> Result:
    return Const(call.out)


def _identity(call: Call) -> Result:
    return Alias(call.refs[0])


FUNCTIONS: dict[Any, Callable[[Call], Result]] = {
    operator.add: _merge("add"),
    operator.iadd: _merge("add"),
    torch.add: _merge("add"),
    operator.mul: _merge("multiply"),
    operator.imul: _merge("multiply"),
    torch.mul: _merge("multiply"),
    torch.cat: _concat,
    torch.concat: _concat,
    torch.flatten: _reshape,
    torch.reshape: _reshape,
    torch.permute: _permute,
    torch.transpose: _transpose,
    torch.mean: _mean,
    torch.relu: _activation("relu"),
    F.relu: _activation("relu"),
    torch.sigmoid: _activation("sigmoid"),
    F.sigmoid: _activation("sigmoid"),
    torch.tanh: _activation("tanh"),
    F.tanh: _activation("tanh"),
    F.gelu: _gelu,
    F.silu: _activation("silu"),
    F.leaky_relu: _with_number("leaky_relu", "negative_slope", 0.01),
    F.elu: _with_number("elu", "alpha", 1.0),
    F.softmax: _softmax,
    torch.softmax: _softmax,
    F.dropout: _dropout,
    F.adaptive_avg_pool2d: _adaptive_avg_pool,
    F.max_pool2d: _pool("max_pool2d"),
    F.avg_pool2d: _pool("avg_pool2d"),
    operator.getitem: _getitem,
    getattr: _constant,
    torch._assert: _constant,  # a check on sizes (torchvision's); the project's shapes are checked by inference
}

METHODS: dict[str, Callable[[Call], Result]] = {
    "add": _merge("add"),
    "add_": _merge("add"),
    "mul": _merge("multiply"),
    "mul_": _merge("multiply"),
    "view": _reshape,
    "reshape": _reshape,
    "flatten": _reshape,
    "permute": _permute,
    "transpose": _transpose,
    "mean": _mean,
    "relu": _activation("relu"),
    "relu_": _activation("relu"),
    "sigmoid": _activation("sigmoid"),
    "tanh": _activation("tanh"),
    "softmax": _softmax,
    "size": _constant,
    "dim": _constant,
    "contiguous": _identity,
    "expand": _expand,
}


def op_name(node: fx.Node) -> str:
    """``torch.topk``, ``Tensor.view``, ``operator.add`` as a person reads it in their code."""
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        return f"torch.ops.aten.{target._overloadpacket.__name__}"
    owner = getattr(target, "__self__", None)
    if isinstance(owner, type):  # MyFunction.apply of a custom autograd Function
        return f"{owner.__name__}.{getattr(target, '__name__', '')} (custom autograd op)"
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", str(target))
    if module.startswith("torch.nn.functional") or module == "torch.nn.functional":
        return f"F.{name}"
    if module.startswith("torch") or module == "" or module is None:
        return f"torch.{name}"
    if module == "_operator":
        return f"operator.{name}"
    return f"{module}.{name}"


def _touches_tensor(refs: list[Ref]) -> bool:
    for ref in refs:
        if isinstance(ref, (Wire, Weight)):
            return True
        if isinstance(ref, (list, tuple)) and _touches_tensor(list(ref)):
            return True
    return False
