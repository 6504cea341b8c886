"""Static compositions (the survey's ensembles, trees and cooperative modules).

Members are ModuleDefs of the project named in the params; they may differ in architecture.
Sequential and DAG compositions need no block: they are plain edges with Add/Concat/Multiply.
"""

from __future__ import annotations

from typing import Any

from modstudio.graph.schema import ParamSpec

from .costs import linear_flops, numel
from .importing import Mapped, MemberModules, NoBlock, lacks, member_list, rule
from .spec import BlockSpec, Inputs, Layer, Member, MemberCosts, Members, Params, require_float, single
from .tensors import ShapeError, TensorInfo


def _outputs(members: Members, names: list[str], x: TensorInfo, what: str = "member") -> dict[str, TensorInfo]:
    found: dict[str, TensorInfo] = {}
    for name in dict.fromkeys(names):
        outs = members.infer(name, [x])
        if len(outs) != 1:
            raise ShapeError(f"needs each {what} to have one output, but '{name}' has {len(outs)}")
        found[name] = outs[0]
    return found


def _repeat(names: list[str], count: int | None, what: str) -> list[str]:
    if count is None or count == len(names):
        return names
    if len(names) == 1:
        return names * count
    raise ShapeError(
        f"lists {len(names)} {what}s but count is {count}; list one module to repeat it, or leave count unset"
    )


def _differ(found: dict[str, TensorInfo]) -> str:
    return ", ".join(f"'{n}' gives {s}" for n, s in found.items())


MEMBERS = ParamSpec(
    "members", "modules", ["MemberA", "MemberB"], "the member modules (they may differ)", min_length=1, max_length=64
)

# ------------------------------------------------------------------ ensemble


def _ensemble_shape(params: Params, inputs: Inputs, members: Members) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    names = _repeat(list(params["members"]), params["count"], "member")
    found = _outputs(members, names, x)
    shapes = list(found.values())
    if params["combine"] == "concat":
        if len({s.shape[:-1] for s in shapes}) > 1:
            raise ShapeError(f"(concat) needs members that differ only in the last dimension, but {_differ(found)}")
        width = sum(found[name].shape[-1] for name in names)
        return (TensorInfo((*shapes[0].shape[:-1], width)),)
    if len(set(shapes)) > 1:
        raise ShapeError(f"({params['combine']}) needs members that give the same shape, but {_differ(found)}")
    if params["combine"] == "vote" and shapes[0].rank != 2:
        raise ShapeError(f"(vote) needs class scores [N, classes] from each member, but they give {shapes[0]}")
    return (shapes[0],)


def _ensemble_names(params: Params) -> list[str]:
    return _repeat(list(params["members"]), params["count"], "member")


def _ensemble_arguments(params: Params, inputs: Inputs, members: Members) -> dict:
    x = single(inputs)
    return {"members": [Member(name, (x,)) for name in _ensemble_names(params)], "combine": params["combine"]}


def _combined_flops(names: list[str], outputs, members: MemberCosts) -> int:
    """Every member runs; combining costs one FLOP per output element per member."""
    return sum(members.flops(name) for name in names) + len(names) * numel(outputs["out"])


def _ensemble_flops(params: Params, inputs: Inputs, outputs, members: MemberCosts) -> int:
    return _combined_flops(_ensemble_names(params), outputs, members)


def _import_ensemble(m: Any) -> Mapped | NoBlock:
    why = lacks(m, "members", "combine")
    if why:
        return why
    return Mapped(
        {"members": [], "count": len(m.members), "combine": m.combine},
        members={"members": member_list(len(m.members), "members")},
    )


ENSEMBLE = BlockSpec(
    id="ensemble",
    title="Ensemble",
    category="Composition",
    doc=(
        "An ensemble: several member modules see the same input and their outputs are combined — by the mean, "
        "by learned weights, by majority vote (at inference; averaged while training) or by concatenation. "
        "Members may differ in architecture, which is where ensembles gain most: their errors disagree. The "
        "survey's simplest static composition of modules."
    ),
    params=(
        MEMBERS,
        ParamSpec(
            "count",
            "int",
            None,
            "repeat a single listed member this many times",
            min=1,
            max=64,
            optional=True,
            unset_label="as listed",
        ),
        ParamSpec(
            "combine",
            "choice",
            "mean",
            "how member outputs are combined",
            choices=("mean", "weighted", "vote", "concat"),
        ),
    ),
    shape=_ensemble_shape,
    layer=Layer("modstudio.blocks.layers.compositions.Ensemble", _ensemble_arguments),
    importer=rule("*.Ensemble", _import_ensemble),
    flops=_ensemble_flops,
    flops_exact=False,
    uses_members=True,
)


# ---------------------------------------------------------------------- tree


def _tree_plan(params: Params, inputs: Inputs, members: Members) -> tuple[TensorInfo, list[str]]:
    x = single(inputs)
    trunk = members.infer(params["trunk"], [x])
    if len(trunk) != 1:
        raise ShapeError(f"needs a trunk with one output, but '{params['trunk']}' has {len(trunk)}")
    branches = list(params["branches"])
    owners = list(params["branch_of_class"])
    if not owners:
        raise ShapeError("needs branch_of_class: for each class, the index of the branch that scores it")
    bad = [o for o in owners if not 0 <= o < len(branches)]
    if bad:
        raise ShapeError(f"has branch_of_class entries {bad} but only branches 0..{len(branches) - 1}")
    for b, name in enumerate(branches):
        classes = [c for c, o in enumerate(owners) if o == b]
        outs = members.infer(name, trunk)
        want = TensorInfo((len(classes),))
        if len(outs) != 1 or outs[0] != want:
            got = ", ".join(map(str, outs))
            raise ShapeError(f"needs branch {b} '{name}' to give {want} for classes {classes}, but it gives {got}")
    return trunk[0], branches


def _tree_shape(params: Params, inputs: Inputs, members: Members) -> tuple[TensorInfo, ...]:
    _tree_plan(params, inputs, members)
    return (TensorInfo((len(params["branch_of_class"]),)),)


def _tree_arguments(params: Params, inputs: Inputs, members: Members) -> dict:
    features, branches = _tree_plan(params, inputs, members)
    return {
        "trunk": Member(params["trunk"], (single(inputs),)),
        "branches": [Member(name, (features,)) for name in branches],
        "branch_of_class": list(params["branch_of_class"]),
    }


def _tree_flops(params: Params, inputs: Inputs, outputs, members: MemberCosts) -> int:
    return _combined_flops([params["trunk"], *params["branches"]], outputs, members)


def _import_tree(m: Any) -> Mapped | NoBlock:
    why = lacks(m, "trunk", "branches", "class_position")
    if why:
        return why
    count = len(m.branches)

    def branch_of_class(x: Any) -> dict[str, Any]:
        """Branch b scores the classes at its columns of the concatenated scores (class_position)."""
        features = m.trunk(x)
        owner = [b for b, branch in enumerate(m.branches) for _ in range(branch(features).shape[-1])]
        return {"branch_of_class": [owner[int(p)] for p in m.class_position]}

    return Mapped(
        {"trunk": "", "branches": []},
        members={
            "trunk": MemberModules(("trunk",), ("trunk.",)),
            "branches": member_list(count, "branches", lambda x: (m.trunk(x),)),
        },
        sampled=branch_of_class,
    )


TREE = BlockSpec(
    id="tree",
    title="Class Tree",
    category="Composition",
    doc=(
        "Tree decomposition of a classification task: a shared trunk module extracts features and feeds "
        "branch modules that each score only their own subset of the classes; the branch scores are put back "
        "in class order as full logits. branch_of_class lists, for each class, which branch scores it. Each "
        "branch becomes a specialist that can be inspected, replaced or reused on its own."
    ),
    params=(
        ParamSpec("trunk", "module", "Trunk", "the shared module every branch builds on"),
        ParamSpec(
            "branches",
            "modules",
            ["BranchA", "BranchB"],
            "the branch modules, in index order",
            min_length=1,
            max_length=64,
        ),
        ParamSpec(
            "branch_of_class",
            "ints",
            [0, 0, 1, 1],
            "for each class, the index of its branch",
            min=0,
            min_length=1,
            max_length=10_000,
        ),
    ),
    shape=_tree_shape,
    layer=Layer("modstudio.blocks.layers.compositions.ClassTree", _tree_arguments),
    importer=rule("*.ClassTree", _import_tree),
    flops=_tree_flops,
    flops_exact=False,
    uses_members=True,
)


# --------------------------------------------------------------- one-vs-rest


def _ovr_names(params: Params) -> list[str]:
    return _repeat(list(params["members"]), params["classes"], "member")


def _ovr_shape(params: Params, inputs: Inputs, members: Members) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    names = _ovr_names(params)
    for name, out in _outputs(members, names, x).items():
        if out != TensorInfo((1,)):
            raise ShapeError(f"needs binary members that give one score [N, 1], but '{name}' gives {out}")
    if len(names) < 2:
        raise ShapeError("needs at least two classes (members)")
    return (TensorInfo((len(names),)),)


def _ovr_arguments(params: Params, inputs: Inputs, members: Members) -> dict:
    x = single(inputs)
    return {"members": [Member(name, (x,)) for name in _ovr_names(params)]}


def _ovr_flops(params: Params, inputs: Inputs, outputs, members: MemberCosts) -> int:
    return _combined_flops(_ovr_names(params), outputs, members)


ONE_VS_REST = BlockSpec(
    id="one_vs_rest",
    title="One-vs-Rest",
    category="Composition",
    doc=(
        "Task decomposition into binary modules: one member per class answers 'this class or not?' with a "
        "single score, and the scores side by side are the logits. List one binary module and set classes to "
        "repeat it, or list a different module per class. Each member is small, reusable, and can be retrained "
        "or replaced alone."
    ),
    params=(
        ParamSpec(
            "members",
            "modules",
            ["Binary"],
            "the binary member modules, one per class (or one to repeat)",
            min_length=1,
            max_length=1000,
        ),
        ParamSpec(
            "classes",
            "int",
            None,
            "repeat a single listed member this many times",
            min=2,
            max=1000,
            optional=True,
            unset_label="as listed",
        ),
    ),
    shape=_ovr_shape,
    layer=Layer("modstudio.blocks.layers.compositions.OneVsRest", _ovr_arguments),
    flops=_ovr_flops,
    flops_exact=False,
    uses_members=True,
)


# --------------------------------------------------------------- cooperative


def _coop_plan(params: Params, x: TensorInfo, members: Members) -> tuple[list[TensorInfo], list[int]]:
    require_float(x)
    names = list(params["members"])
    splits = list(params["splits"])
    if splits:
        if len(splits) != len(names):
            raise ShapeError(f"has {len(splits)} splits for {len(names)} members; give one feature count per member")
        if sum(splits) != x.shape[-1]:
            raise ShapeError(f"splits {splits} add up to {sum(splits)}, but the input {x} has {x.shape[-1]} features")
        views = [TensorInfo((*x.shape[:-1], s)) for s in splits]
    else:
        views = [x] * len(names)
    outs = []
    for name, view in zip(names, views):
        got = members.infer(name, [view])
        if len(got) != 1 or got[0].shape[:-1] != x.shape[:-1]:
            shapes = ", ".join(map(str, got))
            raise ShapeError(f"needs members whose output keeps the leading shape of {x}, but '{name}' gives {shapes}")
        outs.append(got[0])
    return views, [o.shape[-1] for o in outs]


def _coop_shape(params: Params, inputs: Inputs, members: Members) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    _coop_plan(params, x, members)
    return (TensorInfo((*x.shape[:-1], params["out_features"])),)


def _coop_arguments(params: Params, inputs: Inputs, members: Members) -> dict:
    x = single(inputs)
    views, widths = _coop_plan(params, x, members)
    return {
        "members": [Member(name, (view,)) for name, view in zip(params["members"], views)],
        "splits": list(params["splits"]),
        "fused_features": sum(widths),
        "out_features": params["out_features"],
    }


def _coop_flops(params: Params, inputs: Inputs, outputs, members: MemberCosts) -> int:
    """Every member runs; the learned combiner is a Linear over their joined outputs."""
    out = outputs["out"]
    fused = sum(members.outputs(name)[0].shape[-1] for name in params["members"])
    tokens = numel(out) // out.shape[-1]
    return sum(members.flops(name) for name in params["members"]) + linear_flops(fused, params["out_features"], tokens)


def _import_cooperative(m: Any) -> Mapped | NoBlock:
    why = lacks(m, "members", "splits", "combiner")
    if why:
        return why
    count, splits = len(m.members), list(m.splits)

    def views(x: Any) -> list[tuple[Any, ...]]:  # each member sees its slice of the features, or all of them
        return [(part,) for part in x.split(splits, dim=-1)] if splits else [(x,)] * count

    params = {"members": [], "splits": splits, "out_features": m.combiner.out_features}
    return Mapped(params, members={"members": member_list(count, "members", views)})


COOPERATIVE = BlockSpec(
    id="cooperative",
    title="Cooperative",
    category="Composition",
    doc=(
        "Cooperative modules: heterogeneous members each look at the input — all of it, or their own slice of "
        "the features (splits) — and a learned linear combiner fuses their outputs. Unlike an ensemble the "
        "members are not alternatives but partners, each contributing what it is good at (e.g. one module per "
        "sensor or per feature group)."
    ),
    params=(
        MEMBERS,
        ParamSpec(
            "splits",
            "ints",
            [],
            "features per member along the last dimension; empty = all see everything",
            min=1,
            max_length=64,
        ),
        ParamSpec("out_features", "int", 16, "width of the fused output", min=1, max=1_000_000),
    ),
    shape=_coop_shape,
    layer=Layer("modstudio.blocks.layers.compositions.Cooperative", _coop_arguments),
    importer=rule("*.Cooperative", _import_cooperative),
    flops=_coop_flops,
    flops_exact=False,
    uses_members=True,
)

SPECS = (ENSEMBLE, TREE, ONE_VS_REST, COOPERATIVE)
