"""Which rule maps a traced op to blocks: a tensor method's, a function's, or an aten op's (what
torch.export gives); ops.py holds the method and function rules, ops_aten.py the aten ones."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import fx

from .ops import FUNCTIONS, METHODS, Call, Const, Refused, Result, _constant, _getitem, _touches_tensor
from .ops_aten import ATEN


def rule_of(node: fx.Node) -> Callable[[Call], Result] | None:
    """The rule for a traced op: a tensor method, a function, or an aten op (from torch.export)."""
    if node.op == "call_method":
        return METHODS.get(str(node.target))
    if isinstance(node.target, torch._ops.OpOverload):
        return ATEN.get(node.target._overloadpacket.__name__)
    return FUNCTIONS.get(node.target)


def has_rule(node: fx.Node) -> bool:
    return rule_of(node) is not None


def map_op(call: Call) -> Result:
    node = call.node
    rule = rule_of(node)
    if rule is _getitem:
        return _getitem(call)
    tensor_out = isinstance(call.out, torch.Tensor)
    if not tensor_out and (rule is _constant or not _touches_tensor([*call.refs, *call.kwargs.values()])):
        return Const(call.out)  # a size, or arithmetic on sizes
    if rule is None:
        return Refused("has no block")
    if not tensor_out:
        return Refused("gives no tensor: no block does that")
    return rule(call)
