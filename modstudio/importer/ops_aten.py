"""The aten ops of a torch.export graph (the fallback where torch.fx cannot trace a forward) mapped
with the same rules as the functions and tensor methods they come from; aten's argument orders are
those of the methods."""

from __future__ import annotations

from collections.abc import Callable

from .ops import FUNCTIONS, METHODS, Alias, Block, Call, Const, Refused, Result, Wire, _pool

# aten name -> the method (or function) whose rule applies
_SAME_AS_METHOD = {
    "add": "add",
    "mul": "mul",
    "view": "view",
    "reshape": "reshape",
    "_unsafe_view": "view",
    "flatten": "flatten",
    "permute": "permute",
    "transpose": "transpose",
    "mean": "mean",
    "relu": "relu",
    "relu_": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "_softmax": "softmax",
    "expand": "expand",
    "sym_size": "size",
}


def _function(name: str) -> Callable[[Call], Result]:
    import torch
    import torch.nn.functional as F

    functions = {"cat": torch.cat, "gelu": F.gelu, "silu": F.silu, "dropout": F.dropout}
    return FUNCTIONS[{**functions, "leaky_relu": F.leaky_relu, "elu": F.elu}[name]]


def _aten_pool(block: str) -> Callable[[Call], Result]:
    rule = _pool(block)

    def convert(call: Call) -> Result:  # aten.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)
        extra = dict(zip(("dilation", "ceil_mode"), call.values[4:6]))
        dilation = extra.get("dilation", [1])
        call.kwvalues = {**call.kwvalues, "ceil_mode": extra.get("ceil_mode", False)}
        call.kwvalues["dilation"] = (
            1 if all(d == 1 for d in (dilation if isinstance(dilation, list) else [dilation])) else 2
        )
        return rule(call)

    return convert


def _identity(call: Call) -> Result:
    return Alias(call.refs[0])


def _slice(call: Call) -> Result:
    """``x[:, ...]``: a slice over the whole of a dimension is no op."""
    x, out = call.values[0], call.out
    if tuple(out.shape) == tuple(x.shape):
        return Alias(call.refs[0])
    return Refused("takes part of a dimension: no block does that")


def _select(call: Call) -> Result:
    """``x[:, 0]`` / ``x[:, -1]`` of tokens [N, T, D]."""
    x, dim, index = call.values[0], call.values[1], call.values[2]
    if isinstance(call.refs[0], Wire) and x.dim() == 3 and dim == 1 and index in (0, -1, x.shape[1] - 1):
        return Block("token_pool", {"mode": "first" if index == 0 else "last"}, [("in", [call.refs[0]])])
    return Refused(f"picking index {index} of dimension {dim} has no block (tokens [:, 0] and [:, -1] have)")


def _constant(call: Call) -> Result:
    return Const(call.out)


ATEN: dict[str, Callable[[Call], Result]] = {
    **{aten: METHODS[method] for aten, method in _SAME_AS_METHOD.items()},
    **{name: _function(name) for name in ("cat", "gelu", "silu", "dropout", "leaky_relu", "elu")},
    "adaptive_avg_pool2d": FUNCTIONS[__import__("torch").nn.functional.adaptive_avg_pool2d],
    "max_pool2d": _aten_pool("max_pool2d"),
    "avg_pool2d": _aten_pool("avg_pool2d"),
    "clone": _identity,
    "contiguous": _identity,
    "alias": _identity,
    "slice": _slice,
    "select": _select,
    "_assert_scalar": _constant,
    "_assert_tensor_metadata": _constant,
}
