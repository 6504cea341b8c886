"""The hard gate: a learned router that sends each sample down one branch (conditional computation).

Its branches are ModuleDefs named in the params; they may differ in architecture but give one shape.
"""

from __future__ import annotations

from typing import Any

from modstudio.graph.schema import ParamSpec

from .costs import linear_flops, numel, product
from .importing import Mapped, NoBlock, lacks, member_list, rule
from .spec import BlockSpec, Inputs, Layer, Member, MemberCosts, Members, Params, require_float, single
from .tensors import ShapeError, TensorInfo


def _branch_outputs(params: Params, x: TensorInfo, members: Members) -> TensorInfo:
    names = list(params["branches"])
    found: dict[str, TensorInfo] = {}
    for name in dict.fromkeys(names):
        outs = members.infer(name, [x])
        if len(outs) != 1:
            raise ShapeError(f"needs branches with one output, but '{name}' has {len(outs)}")
        found[name] = outs[0]
    if params["allow_skip"]:
        found["(skip)"] = x
    if len(set(found.values())) > 1:
        detail = ", ".join(f"'{n}' gives {s}" for n, s in found.items())
        raise ShapeError(
            f"needs every branch{' and the skip' if params['allow_skip'] else ''} to give the same shape, but {detail}"
        )
    return next(iter(found.values()))


def _gate_shape(params: Params, inputs: Inputs, members: Members) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_float(x)
    return (_branch_outputs(params, x, members),)


def _gate_arguments(params: Params, inputs: Inputs, members: Members) -> dict:
    x = single(inputs)
    return {
        "features": product(x.shape),
        "branches": [Member(name, (x,)) for name in params["branches"]],
        "out_shape": list(_branch_outputs(params, x, members).shape),
        "allow_skip": params["allow_skip"],
        "temperature": params["temperature"],
        "balance_weight": params["balance_weight"],
    }


def _gate_flops(params: Params, inputs: Inputs, outputs, members: MemberCosts) -> int:
    """The router, and one branch per sample: the branches' average."""
    names = list(params["branches"])
    choices = len(names) + int(params["allow_skip"])
    branch = sum(members.flops(name, 1 / choices) for name in names) / choices
    return round(linear_flops(numel(single(inputs)), choices) + branch)


def _import_hard_gate(m: Any) -> Mapped | NoBlock:
    why = lacks(m, "branches", "router", "allow_skip", "temperature")
    if why:
        return why
    params = {"branches": [], "allow_skip": m.allow_skip, "temperature": m.temperature}
    if hasattr(m, "balance_weight"):
        params["balance_weight"] = m.balance_weight
    return Mapped(params, members={"branches": member_list(len(m.branches), "branches")})


HARD_GATE = BlockSpec(
    id="hard_gate",
    title="Hard Gate",
    category="Conditional",
    doc=(
        "Conditional computation with a learned hard decision: each sample runs through exactly one of several "
        "branch modules (which may differ), or skips them all when skipping is allowed, so only the chosen "
        "module costs compute. The router learns through a straight-through Gumbel-softmax while training and "
        "takes the argmax at inference; module usage shows which branch serves which inputs."
    ),
    params=(
        ParamSpec(
            "branches",
            "modules",
            ["BranchA", "BranchB"],
            "the branch modules (they may differ)",
            min_length=1,
            max_length=64,
        ),
        ParamSpec("allow_skip", "bool", False, "add a choice that passes the sample through unchanged"),
        ParamSpec("temperature", "float", 1.0, "Gumbel-softmax temperature while training", min=0.01, max=100.0),
        ParamSpec(
            "balance_weight", "float", 0.01, "weight of the load-balancing loss over branches", min=0.0, max=10.0
        ),
    ),
    shape=_gate_shape,
    layer=Layer(
        "modstudio.blocks.layers.hierarchy.HardGate",
        _gate_arguments,
        export="modstudio.blocks.layers.static_routing.HardGate",
    ),
    importer=rule("*.HardGate", _import_hard_gate),
    flops=_gate_flops,
    flops_exact=False,
    uses_members=True,
)


SPECS = (HARD_GATE,)
