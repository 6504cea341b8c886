"""FLOPs per sample, per node and per module, from the inferred shapes (no torch, no compute).

Conventions: one multiply-add counts as 2 FLOPs; a bias add as 1 per output element. Counts
are exact for the multiply-adds of Linear, Conv1d/2d (groups included), depthwise-separable
and transposed convolutions, locally connected layers, attention (projections, scores and
the weighted sum) and RNN/GRU/LSTM gates; element-wise work is approximate: activations 1
FLOP per element, softmax 3 per element, batch norm 2, layer/group norm 5, pooling one per
window element; reshapes, concatenation, dropout and embedding lookups count 0. A mixture
of experts counts its router plus the *active* experts: k per token for top-k gates, one
for Switch (an upper bound: dropped tokens skip the expert), ``capacity_factor`` for expert
choice. A hard gate counts one branch per sample; ensembles, trees and cooperative
modules count every member.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modstudio.blocks.catalog import Catalog, default_catalog
from modstudio.blocks.conditional import expert_list
from modstudio.blocks.tensors import TensorInfo
from modstudio.graph.model import Project
from modstudio.graph.references import member_params
from modstudio.graph.schema import INPUT_BLOCK, OUTPUT_BLOCK

from .shapes import ModuleShapes, ShapeInference

Received = Mapping[str, "TensorInfo | list[TensorInfo]"]


@dataclass(frozen=True)
class NodeCost:
    """One node's FLOPs per sample; ``path`` is its submodule path in GraphNet (``block.fc1``)."""

    path: str
    name: str
    kind: str
    module: str  # the ModuleDef that holds the node
    depth: int
    flops: int
    exact: bool  # False where element-wise work is approximated


@dataclass
class FlopCount:
    nodes: list[NodeCost] = field(default_factory=list)
    total: int = 0
    by_module: dict[str, float] = field(default_factory=dict)  # per sample, all uses, nested included

    def share(self, flops: float) -> float:
        return flops / self.total if self.total else 0.0


def numel(info: TensorInfo) -> int:
    return math.prod(info.shape)


def _one(received: Received, port: str = "in") -> TensorInfo:
    value = received[port]
    return value[0] if isinstance(value, list) else value


def _bias(params: Mapping[str, Any], out: TensorInfo) -> int:
    return numel(out) if params.get("bias", True) else 0


def linear_flops(in_features: int, out_features: int, tokens: int = 1, bias: bool = True) -> int:
    return tokens * (2 * in_features * out_features + (out_features if bias else 0))


def conv_flops(in_channels: int, out_channels: int, kernel: int, out_sizes: tuple[int, ...], groups: int = 1) -> int:
    """Multiply-adds of a convolution (no bias): every output element sums Cin/groups x k^d products."""
    return 2 * (in_channels // groups) * kernel ** len(out_sizes) * out_channels * math.prod(out_sizes)


def attention_flops(tq: int, tk: int, dim: int, key_dim: int, value_dim: int, heads: int) -> int:
    """Projections (with biases), scores q·k, softmax over the scores, weighted sum, output projection."""
    projections = linear_flops(dim, dim, tq) + linear_flops(key_dim, dim, tk) + linear_flops(value_dim, dim, tk)
    scores = 2 * tq * tk * dim
    softmax = 3 * heads * tq * tk
    mixing = 2 * tq * tk * dim
    return projections + scores + softmax + mixing + linear_flops(dim, dim, tq)


def recurrent_flops(kind: str, steps: int, features: int, hidden: int, layers: int, directions: int) -> int:
    """Per step, per layer and direction: gates W_ih x + W_hh h (two biases), plus the gate arithmetic."""
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[kind]
    pointwise = {"rnn": 1, "gru": 6, "lstm": 9}[kind] * hidden  # non-linearities and state updates
    total = 0
    for layer in range(layers):
        width = features if layer == 0 else hidden * directions
        per_step = 2 * gates * hidden * (width + hidden) + 2 * gates * hidden + pointwise
        total += directions * steps * per_step
    return total


def _tokens(x: TensorInfo) -> tuple[int, int]:
    """(tokens, features): [T, D] -> (T, D), [D] -> (1, D)."""
    return (x.shape[0], x.shape[1]) if len(x.shape) == 2 else (1, x.shape[-1])


Rule = Callable[[Mapping[str, Any], Received, Mapping[str, TensorInfo]], int]


def _linear(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
    x = _one(r)
    return linear_flops(x.shape[-1], p["out_features"], math.prod(x.shape[:-1]), p["bias"])


def _conv(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
    x, y = _one(r), o["out"]
    return conv_flops(x.shape[0], y.shape[0], p["kernel_size"], y.shape[1:], p.get("groups", 1)) + _bias(p, y)


def _separable(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
    x, y = _one(r), o["out"]
    depthwise = conv_flops(x.shape[0], x.shape[0], p["kernel_size"], y.shape[1:], groups=x.shape[0])
    return depthwise + conv_flops(x.shape[0], y.shape[0], 1, y.shape[1:]) + _bias(p, y)


def _transposed(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
    x, y = _one(r), o["out"]  # every input pixel scatters Cout x k x k products
    return conv_flops(x.shape[0], y.shape[0], p["kernel_size"], x.shape[1:]) + _bias(p, y)


def _low_rank_local(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
    x, y = _one(r), o["out"]
    positions = math.prod(y.shape[1:])
    bases = conv_flops(x.shape[0], p["rank"] * y.shape[0], p["kernel_size"], y.shape[1:])
    mixing = 2 * p["rank"] * numel(y) + 4 * p["rank"] * positions  # weighted sum; softmax of the weights
    return bases + mixing + 2 * _bias(p, y)


def _self_attention(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
    t, d = _tokens(_one(r))
    return attention_flops(t, t, d, d, d, p["num_heads"])


def _multi_head(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
    q = _one(r, "query")
    k = _one(r, "key") if "key" in r else q
    v = _one(r, "value") if "value" in r else k
    (tq, d), (tk, dk), (_, dv) = _tokens(q), _tokens(k), _tokens(v)
    return attention_flops(tq, tk, d, dk, dv, p["num_heads"])


def _encoder(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
    t, d = _tokens(_one(r))
    hidden = max(1, round(d * p["mlp_ratio"]))
    norms, residuals = 2 * 5 * t * d, 2 * t * d
    mlp = linear_flops(d, hidden, t) + t * hidden + linear_flops(hidden, d, t)  # GELU: 1 per element
    return norms + attention_flops(t, t, d, d, d, p["num_heads"]) + residuals + mlp


def _patch(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
    x, y = _one(r), o["out"]
    return linear_flops(x.shape[0] * p["patch_size"] ** 2, p["embed_dim"], y.shape[0])


def _recurrent(kind: str) -> Rule:
    def rule(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
        t, d = _tokens(_one(r))
        return recurrent_flops(kind, t, d, p["hidden_size"], p["num_layers"], 2 if p["bidirectional"] else 1)

    return rule


def _per_element(factor: float, port: str = "out") -> Rule:
    def rule(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
        return round(factor * numel(o[port] if port in o else _one(r)))

    return rule


def _per_input_element(factor: float) -> Rule:
    return lambda p, r, o: round(factor * numel(_one(r)))


def _window(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
    return p["kernel_size"] ** 2 * numel(o["out"])


def _merge(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
    count = sum(len(v) if isinstance(v, list) else 1 for v in r.values())
    return max(count - 1, 0) * numel(o["out"])


def _token_pool(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
    return numel(_one(r)) if p["mode"] == "mean" else 0


def _zero(p: Mapping[str, Any], r: Received, o: Mapping[str, TensorInfo]) -> int:
    return 0


# block id -> (rule, exact)
RULES: dict[str, tuple[Rule, bool]] = {
    "linear": (_linear, True),
    "conv1d": (_conv, True),
    "conv2d": (_conv, True),
    "group_conv2d": (_conv, True),
    "locally_connected2d": (_conv, True),  # untied filters: the same products as a convolution
    "depthwise_separable_conv2d": (_separable, True),
    "conv_transpose2d": (_transposed, True),
    "low_rank_locally_connected2d": (_low_rank_local, True),
    "self_attention": (_self_attention, True),
    "multi_head_attention": (_multi_head, True),
    "transformer_encoder_block": (_encoder, False),
    "patch_embedding": (_patch, True),
    "positional_embedding": (_per_element(1), True),
    "rnn": (_recurrent("rnn"), True),
    "gru": (_recurrent("gru"), True),
    "lstm": (_recurrent("lstm"), True),
    "batch_norm1d": (_per_element(2), False),
    "batch_norm2d": (_per_element(2), False),
    "layer_norm": (_per_element(5), False),
    "group_norm": (_per_element(5), False),
    "relu": (_per_element(1), False),
    "gelu": (_per_element(1), False),
    "silu": (_per_element(1), False),
    "tanh": (_per_element(1), False),
    "sigmoid": (_per_element(1), False),
    "softmax": (_per_element(3), False),
    "max_pool2d": (_window, False),
    "avg_pool2d": (_window, False),
    "adaptive_avg_pool2d": (_per_input_element(1), False),
    "global_avg_pool": (_per_input_element(1), False),
    "token_pool": (_token_pool, True),
    "add": (_merge, True),
    "multiply": (_merge, True),
}
ZERO = {"concat", "flatten", "reshape", "permute", "dropout", "embedding", "class_token", INPUT_BLOCK, OUTPUT_BLOCK}


class FlopCounter:
    """Walks the inferred shapes of a project, accumulating per-node rows and per-module totals."""

    def __init__(self, project: Project, catalog: Catalog) -> None:
        self.project, self.catalog = project, catalog
        self.result = FlopCount()

    def module(self, shapes: ModuleShapes, weight: float, prefix: str = "", depth: int = 0, rows: bool = True) -> int:
        """FLOPs of one run of the module; ``weight``: runs per sample (for the per-module totals)."""
        module = self.project.modules[shapes.module]
        by_id = {node.id: node for node in module.nodes}
        total = 0
        for node_id in shapes.order:
            node = by_id[node_id]
            if node.block in (INPUT_BLOCK, OUTPUT_BLOCK) or node_id not in shapes.nodes:
                continue
            path = f"{prefix}{node.name}"
            row_at = len(self.result.nodes)
            if node.module is not None:
                flops = self.module(shapes.children[node_id], weight, f"{path}.", depth + 1, rows)
                kind, exact = node.module, True
            else:
                spec = self.catalog[node.block or ""]
                flops, exact = self._block(shapes, node_id, spec.id, weight)
                kind = spec.title
            if rows:
                cost = NodeCost(path, node.name, kind, shapes.module, depth, flops, exact)
                self.result.nodes.insert(row_at, cost)
            total += flops
        self.result.by_module[shapes.module] = self.result.by_module.get(shapes.module, 0.0) + weight * total
        return total

    def _block(self, shapes: ModuleShapes, node_id: str, block: str, weight: float) -> tuple[int, bool]:
        params, info = shapes.params[node_id], shapes.nodes[node_id]
        if block in RULES:
            rule, exact = RULES[block]
            return rule(params, info.inputs, info.outputs), exact
        if block in ZERO:
            return 0, True
        if block in ("moe", "hierarchical_moe"):
            return self._mixture(shapes, node_id, block, weight), False
        if block == "hard_gate":
            return self._gate(shapes, node_id, weight), False
        return self._all_members(shapes, node_id, weight), False

    def _member(self, shapes: ModuleShapes, node_id: str, name: str, weight: float) -> int:
        """FLOPs of one run of member ``name`` (its first inferred use at this node)."""
        for (owner, member, _), child in shapes.members.items():
            if owner == node_id and member == name:
                return self.module(child, weight, rows=False)
        return 0

    def _mixture(self, shapes: ModuleShapes, node_id: str, block: str, weight: float) -> int:
        params, info = shapes.params[node_id], shapes.nodes[node_id]
        x, y = _one(info.inputs), info.outputs["out"]
        tokens, dim, out_dim = math.prod(x.shape[:-1]), x.shape[-1], y.shape[-1]
        names = expert_list(params)
        experts = len(names)
        if block == "hierarchical_moe":
            active = params["k_groups"] * params["k"]
            router = linear_flops(dim, params["groups"], bias=False) + linear_flops(dim, experts, bias=False)
        else:
            gate = params["gate"]
            active = {"switch": 1, "expert_choice": min(params["capacity_factor"], experts)}.get(gate, params["k"])
            router = linear_flops(dim, experts, bias=False) * (2 if gate == "noisy_topk" else 1)
        router += 3 * experts  # softmax over the experts
        per_run = weight * tokens * active / experts
        expert_flops = sum(self._member(shapes, node_id, name, per_run) for name in names) / experts
        return round(tokens * (router + active * expert_flops + 2 * active * out_dim))

    def _gate(self, shapes: ModuleShapes, node_id: str, weight: float) -> int:
        params, info = shapes.params[node_id], shapes.nodes[node_id]
        x = _one(info.inputs)
        names = [n for p in member_params(_node(self.project, shapes, node_id), self.catalog) for n in params[p]]
        choices = len(names) + int(params.get("allow_skip", False))
        branch = sum(self._member(shapes, node_id, name, weight / choices) for name in names) / max(choices, 1)
        return round(linear_flops(numel(x), choices) + branch)

    def _all_members(self, shapes: ModuleShapes, node_id: str, weight: float) -> int:
        params, info = shapes.params[node_id], shapes.nodes[node_id]
        node = _node(self.project, shapes, node_id)
        names: list[str] = []
        for pname in member_params(node, self.catalog):
            value = params.get(pname)
            names += value if isinstance(value, list) else [value]
        members = sum(self._member(shapes, node_id, name, weight) for name in names if isinstance(name, str))
        out = info.outputs.get("out")
        combine = len(names) * numel(out) if out is not None else 0
        if "out_features" in params and out is not None:  # a learned combiner (cooperative)
            fused = sum(o.shape[-1] for key, m in shapes.members.items() if key[0] == node_id for o in m.outputs if o)
            combine = linear_flops(fused, params["out_features"], math.prod(out.shape[:-1]))
        return members + combine


def _node(project: Project, shapes: ModuleShapes, node_id: str):
    return project.modules[shapes.module].node(node_id)


def count_flops(project: Project, catalog: Catalog | None = None, shapes: ModuleShapes | None = None) -> FlopCount:
    """FLOPs per sample of the main module: a row per node (nested modules included) and per ModuleDef."""
    catalog = catalog or default_catalog()
    shapes = shapes or ShapeInference(project, catalog).run()
    if shapes.errors:
        raise ValueError("; ".join(p.message for p in shapes.errors))
    counter = FlopCounter(project, catalog)
    counter.result.total = counter.module(shapes, 1.0)
    return counter.result
