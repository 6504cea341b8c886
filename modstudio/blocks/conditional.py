"""Conditional computation: mixtures of experts and learned hard gates.

Members are ModuleDefs named in the params; they may differ in architecture.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from modstudio.graph.schema import ParamSpec

from .costs import linear_flops, numel
from .importing import Mapped, NoBlock, lacks, member_list, rule
from .spec import BlockSpec, Inputs, Layer, Member, MemberCosts, Members, Params, require_float, single
from .tensors import ShapeError, TensorInfo

_GATE_DOC = (
    "topk: softmax over the k best experts (Mixtral); noisy_topk: Shazeer's noisy top-k (noise only "
    "while training); switch: top-1 with a capacity, overflow passes through unchanged; "
    "expert_choice: each expert picks its top tokens (see unpicked for the tokens none picks)"
)
_UNPICKED_DOC = (
    "expert choice: what a token no expert picks comes out as. zero: a vector of zeros; pass_through: "
    "the token's input unchanged (a residual), which needs experts that keep the width"
)


_TOP_K = ("topk", "noisy_topk")  # the gates that route each token to its k best experts
_WITH_CAPACITY = ("switch", "expert_choice")  # the gates with a capacity per expert


def expert_list(params: Params, key: str = "experts", count_key: str = "num_experts") -> list[str]:
    """The member names, with a single listed module repeated ``num_experts`` times."""
    names = list(params[key])
    count = params.get(count_key)
    if count is None or count == len(names):
        return names
    if len(names) == 1:
        return names * count
    raise ShapeError(
        f"lists {len(names)} experts but {count_key} is {count}; list one module to repeat it, or leave {count_key} unset"
    )


def expert_outputs(members: Members, names: list[str], x: TensorInfo, what: str = "expert") -> TensorInfo:
    """Infer every distinct member on one token [D]; they must agree on one output shape [D_out]."""
    token = TensorInfo((x.shape[-1],))
    found: dict[str, TensorInfo] = {}
    for name in dict.fromkeys(names):
        outs = members.infer(name, [token])
        if len(outs) != 1 or outs[0].rank != 2:
            shapes = ", ".join(map(str, outs))
            raise ShapeError(
                f"needs each {what} to turn a token [N, {x.shape[-1]}] into one vector, but '{name}' gives {shapes}"
            )
        found[name] = outs[0]
    if len(set(found.values())) > 1:
        detail = ", ".join(f"'{n}' gives {s}" for n, s in found.items())
        raise ShapeError(f"needs all {what}s to give the same shape, but {detail}")
    return next(iter(found.values()))


def _check_tokens(x: TensorInfo) -> None:
    require_float(x)
    if x.rank < 2:
        raise ShapeError(f"expects features [N, ..., D] but receives {x}")


def _moe_shape(params: Params, inputs: Inputs, members: Members) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    _check_tokens(x)
    names = expert_list(params)
    out = expert_outputs(members, names, x)
    gate, k = params["gate"], params["k"]
    if gate in ("topk", "noisy_topk") and k > len(names):
        raise ShapeError(f"cannot pick k = {k} of {len(names)} experts; lower k or add experts")
    if gate in ("topk", "noisy_topk") and k == 1 and len(names) > 1:
        raise ShapeError(
            "with k = 1 gives each token the weight 1, so the gate would never learn from the task; "
            "use k = 2 or more, or the switch gate for top-1 routing"
        )
    if gate == "noisy_topk" and params["importance_weight"] > 0 and k >= len(names):
        raise ShapeError(f"needs k below the number of experts ({len(names)}) for the importance/load loss")
    if gate == "switch" and out.shape[0] != x.shape[-1]:
        raise ShapeError(
            f"(switch gate) passes dropped tokens through unchanged, so experts must keep the width "
            f"{x.shape[-1]}, but they give {out}"
        )
    if gate == "expert_choice" and params["unpicked"] == "pass_through" and out.shape[0] != x.shape[-1]:
        raise ShapeError(
            f"(expert choice, unpicked = pass_through) passes the tokens no expert picks through unchanged, so "
            f"experts must keep the width {x.shape[-1]}, but they give {out}; use unpicked = zero or such experts"
        )
    return (TensorInfo((*x.shape[:-1], out.shape[0])),)


def _experts(params: Params, inputs: Inputs, members: Members) -> tuple[list[Member], int]:
    """The experts (each sees one token [D]) and their output width."""
    token = TensorInfo((single(inputs).shape[-1],))
    names = expert_list(params)
    return [Member(name, (token,)) for name in names], members.infer(names[0], [token])[0].shape[0]


def _moe_arguments(params: Params, inputs: Inputs, members: Members) -> dict:
    experts, out_dim = _experts(params, inputs, members)
    return {
        "dim": single(inputs).shape[-1],
        "experts": experts,
        "gate": params["gate"],
        "k": params["k"],
        "capacity_factor": params["capacity_factor"],
        "load_balance_weight": params["load_balance_weight"],
        "z_loss_weight": params["z_loss_weight"],
        "importance_weight": params["importance_weight"],
        "dispatch": params["dispatch"],
        "out_dim": out_dim,
        "unpicked": params["unpicked"],
    }


def mixture_flops(inputs: Inputs, outputs, members: MemberCosts, names: list[str], active: float, router: int) -> int:
    """The router (plus a softmax over the experts) and the *active* experts per token, each
    weighted by its output: an average expert's FLOPs times ``active``."""
    x, y = single(inputs), outputs["out"]
    tokens, experts = numel(x) // x.shape[-1], len(names)
    router += 3 * experts
    expert_flops = sum(members.flops(name, tokens * active / experts) for name in names) / experts
    return round(tokens * (router + active * expert_flops + 2 * active * y.shape[-1]))


def _moe_flops(params: Params, inputs: Inputs, outputs, members: MemberCosts) -> int:
    """k experts per token for top-k gates, one for Switch (an upper bound: dropped tokens skip the
    expert), ``capacity_factor`` for expert choice."""
    names, gate, dim = expert_list(params), params["gate"], single(inputs).shape[-1]
    active = {"switch": 1, "expert_choice": min(params["capacity_factor"], len(names))}.get(gate, params["k"])
    router = linear_flops(dim, len(names), bias=False) * (2 if gate == "noisy_topk" else 1)
    return mixture_flops(inputs, outputs, members, names, active, router)


EXPERTS = ParamSpec(
    "experts", "modules", ["Expert"], "the expert modules (they may differ)", min_length=1, max_length=512
)
NUM_EXPERTS = ParamSpec(
    "num_experts",
    "int",
    None,
    "repeat a single listed expert this many times",
    min=1,
    max=512,
    optional=True,
    unset_label="as listed",
)
LOSS_WEIGHTS = (
    ParamSpec(
        "load_balance_weight",
        "float",
        0.01,
        "weight of the Switch/GShard load-balancing loss E·Σ f_i·P_i",
        min=0.0,
        max=10.0,
    ),
    ParamSpec(
        "z_loss_weight", "float", 0.001, "weight of the router z-loss mean(logsumexp(logits)²)", min=0.0, max=10.0
    ),
    ParamSpec(
        "importance_weight",
        "float",
        0.0,
        "weight of Shazeer's importance + load CV² loss (noisy gates)",
        min=0.0,
        max=10.0,
    ),
)


def _tokens(x: Any) -> tuple[Any, ...]:
    """An expert's sample input when imported: a token per row."""
    return (x.reshape(-1, x.shape[-1]),)


def _import_moe(m: Any) -> Mapped | NoBlock:
    why = lacks(m, "experts", "router", "gate", "k", "capacity_factor")
    if why:
        return why
    params = {
        "experts": [],
        "num_experts": len(m.experts),
        "gate": m.gate,
        "k": m.k,
        "capacity_factor": m.capacity_factor,
        "dispatch": getattr(m, "dispatch", "sorted"),
    }
    for name in ("load_balance_weight", "z_loss_weight", "importance_weight", "unpicked"):
        if hasattr(m, name):
            params[name] = getattr(m, name)
    return Mapped(params, members={"experts": member_list(len(m.experts), "experts", _tokens)})


MOE = BlockSpec(
    id="moe",
    title="Mixture of Experts",
    category="Conditional",
    doc=(
        "A mixture of experts (Jacobs et al. 1991; Shazeer et al. 2017): a learned gate sends each token — "
        "each vector along the last dimension, for tabular batches and token sequences alike — to a few of "
        "several expert modules and mixes their outputs by the gate's weights. Conditional computation: "
        "capacity grows with the number of experts while the cost per token grows only with k. Experts are "
        "modules of this project and may differ. Auxiliary losses keep the load balanced; watch the routing "
        "while training to see experts specialize or collapse. With the expert_choice gate some tokens may be "
        "picked by no expert: they come out as zeros or as their input (the unpicked param), and its pt2 and "
        "ONNX exports are for a fixed batch (its capacity depends on the token count)."
    ),
    params=(
        EXPERTS,
        NUM_EXPERTS,
        ParamSpec("gate", "choice", "topk", _GATE_DOC, choices=("topk", "noisy_topk", "switch", "expert_choice")),
        ParamSpec("k", "int", 2, "experts per token (top-k gates)", min=1, max=64, visible_when=("gate", _TOP_K)),
        ParamSpec(
            "capacity_factor",
            "float",
            1.25,
            "switch/expert choice: slots per expert = factor · tokens / experts",
            min=0.01,
            max=64.0,
            visible_when=("gate", _WITH_CAPACITY),
        ),
        ParamSpec(
            "unpicked",
            "choice",
            "zero",
            _UNPICKED_DOC,
            choices=("zero", "pass_through"),
            visible_when=("gate", ("expert_choice",)),
        ),
        # expert choice is balanced by construction: it adds no load-balancing loss (layers/moe.py)
        replace(LOSS_WEIGHTS[0], visible_when=("gate", (*_TOP_K, "switch"))),
        LOSS_WEIGHTS[1],
        replace(LOSS_WEIGHTS[2], visible_when=("gate", ("noisy_topk",))),
        ParamSpec(
            "dispatch",
            "choice",
            "sorted",
            "sorted: fast, cost grows with k; static: every expert on every token, exportable",
            choices=("sorted", "static"),
        ),
    ),
    shape=_moe_shape,
    layer=Layer(
        "modstudio.blocks.layers.moe.MixtureOfExperts",
        _moe_arguments,
        export="modstudio.blocks.layers.static_routing.MixtureOfExperts",
    ),
    importer=rule("*.MixtureOfExperts", _import_moe),
    flops=_moe_flops,
    flops_exact=False,
    uses_members=True,
)


def _hierarchical_shape(params: Params, inputs: Inputs, members: Members) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    _check_tokens(x)
    names = expert_list(params)
    groups = params["groups"]
    if len(names) % groups:
        raise ShapeError(f"cannot split {len(names)} experts into {groups} equal groups; use a divisor of {len(names)}")
    per_group = len(names) // groups
    if params["k_groups"] > groups or params["k"] > per_group:
        raise ShapeError(
            f"cannot pick {params['k_groups']} of {groups} groups and {params['k']} of {per_group} experts per group"
        )
    out = expert_outputs(members, names, x)
    return (TensorInfo((*x.shape[:-1], out.shape[0])),)


def _hierarchical_arguments(params: Params, inputs: Inputs, members: Members) -> dict:
    experts, out_dim = _experts(params, inputs, members)
    return {
        "dim": single(inputs).shape[-1],
        "experts": experts,
        "groups": params["groups"],
        "k_groups": params["k_groups"],
        "k": params["k"],
        "load_balance_weight": params["load_balance_weight"],
        "z_loss_weight": params["z_loss_weight"],
        "out_dim": out_dim,
    }


def _hierarchical_flops(params: Params, inputs: Inputs, outputs, members: MemberCosts) -> int:
    names, dim = expert_list(params), single(inputs).shape[-1]
    router = linear_flops(dim, params["groups"], bias=False) + linear_flops(dim, len(names), bias=False)
    return mixture_flops(inputs, outputs, members, names, params["k_groups"] * params["k"], router)


def _import_hierarchical(m: Any) -> Mapped | NoBlock:
    why = lacks(m, "experts", "primary", "secondary", "groups", "k_groups", "k")
    if why:
        return why
    params = {"experts": [], "num_experts": len(m.experts), "groups": m.groups, "k_groups": m.k_groups, "k": m.k}
    for name in ("load_balance_weight", "z_loss_weight"):
        if hasattr(m, name):
            params[name] = getattr(m, name)
    return Mapped(params, members={"experts": member_list(len(m.experts), "experts", _tokens)})


HIERARCHICAL_MOE = BlockSpec(
    id="hierarchical_moe",
    title="Hierarchical MoE",
    category="Conditional",
    doc=(
        "A two-level mixture of experts (Shazeer et al. 2017): a primary gate picks groups of experts, a "
        "secondary gate inside each picked group picks experts, y = Σ_i Σ_j G_i(x)·G_ij(x)·E_ij(x). The experts "
        "are split into equal groups in the order listed. Use it for many experts: each gate stays small, and "
        "the load of groups and of experts can be watched level by level."
    ),
    params=(
        EXPERTS,
        NUM_EXPERTS,
        ParamSpec("groups", "int", 2, "number of expert groups (the primary gate chooses among them)", min=1, max=256),
        ParamSpec("k_groups", "int", 1, "groups per token", min=1, max=64),
        ParamSpec("k", "int", 1, "experts per token inside each picked group", min=1, max=64),
        LOSS_WEIGHTS[0],
        LOSS_WEIGHTS[1],
    ),
    shape=_hierarchical_shape,
    layer=Layer(
        "modstudio.blocks.layers.hierarchy.HierarchicalMoE",
        _hierarchical_arguments,
        export="modstudio.blocks.layers.static_routing.HierarchicalMoE",
    ),
    importer=rule("*.HierarchicalMoE", _import_hierarchical),
    flops=_hierarchical_flops,
    flops_exact=False,
    uses_members=True,
)


SPECS = (MOE, HIERARCHICAL_MOE)
