"""Weight-graph modularity: how much a trained network splits into separate groups of neurons.

The dense and convolution layers of the network become one undirected graph: its nodes are
neurons (a Linear's input and output features, a convolution's channels), its edges carry
|w| (a convolution kernel summed over space, so one edge per pair of channels). Layers are
chained along the wiring of the document: a layer's input neurons are the output neurons of
the nearest layer upstream, through activations, norms, pooling and reshapes (a Linear after
a Flatten sees each channel as one neuron: its weights are summed over the positions of the
channel); an Add, and the experts and members of a mixture or an ensemble whose outputs are
summed, share their output neurons. Attention, recurrent and locally connected layers break
the chain (the next layer starts from fresh input neurons).

Communities are found with Louvain (networkx, fixed seed) and scored with Newman's
modularity Q. Q alone says little (every sparse graph has some), so the same network is
scored again with the weights of each layer shuffled among that layer's connections
(several shuffles, mean ± std): trained Q well above shuffled Q means training made the
weights modular; the architecture's own modularity (experts are separate blocks) survives
the shuffle and shows in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from modstudio.blocks.layers.conv import DepthwiseSeparableConv2d
from modstudio.compile.graphnet import GraphNet
from modstudio.compile.shapes import edges_into, topological_order
from modstudio.graph.model import Project
from modstudio.graph.schema import INPUT_BLOCK, OUTPUT_BLOCK

MAX_CONNECTIONS = 2_000_000  # beyond this the neuron graph is too large to analyse here
CONCATENATING = {"one_vs_rest", "tree", "cooperative"}


class InputUnits:
    """The neurons of a network input, named when the first layer that reads it says how many."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.units: list[str] | None = None

    def resolve(self, width: int) -> list[str] | None:
        if self.units is None:
            self.units = [f"{self.name}:{j}" for j in range(width)]
        return self.units if len(self.units) == width else None


Units = list[str] | InputUnits | None


def _known(x: Units) -> list[str] | None:
    return x.units if isinstance(x, InputUnits) else x


@dataclass
class WeightLayer:
    """One layer's connections: |w| as [outputs, inputs], between named neurons."""

    path: str
    inputs: list[str]
    outputs: list[str]
    weights: np.ndarray


@dataclass
class NeuronLayers:
    """The layers of a network, and which neurons are the same (outputs that are summed)."""

    layers: list[WeightLayer] = field(default_factory=list)
    same: dict[str, str] = field(default_factory=dict)  # neuron -> a neuron it is merged with

    def find(self, unit: str) -> str:
        while unit in self.same:
            unit = self.same[unit]
        return unit

    def merge(self, a: list[str], b: list[str]) -> None:
        for x, y in zip(a, b):
            rx, ry = self.find(x), self.find(y)
            if rx != ry:
                self.same[ry] = rx

    @property
    def connections(self) -> int:
        return sum(layer.weights.size for layer in self.layers)


def neuron_graph(net: NeuronLayers, weights: list[np.ndarray] | None = None) -> Any:
    """The undirected neuron graph (networkx); ``weights`` replaces each layer's |w| (shuffles).

    Connections between the same two neurons (from different layers) add up; a neuron is
    never connected to itself.
    """
    import networkx as nx

    index: dict[str, int] = {}
    names: list[str] = []

    def ids(units: list[str]) -> np.ndarray:
        out = np.empty(len(units), dtype=np.int64)
        for i, unit in enumerate(units):
            root = net.find(unit)
            if root not in index:
                index[root] = len(names)
                names.append(root)
            out[i] = index[root]
        return out

    sources, targets, values = [], [], []
    for layer, matrix in zip(net.layers, weights or [layer.weights for layer in net.layers]):
        ins, outs = ids(layer.inputs), ids(layer.outputs)
        rows, cols = np.nonzero(matrix)
        a, b = outs[rows], ins[cols]
        keep = a != b
        sources.append(np.minimum(a, b)[keep])
        targets.append(np.maximum(a, b)[keep])
        values.append(matrix[rows, cols][keep].astype(np.float64))
    graph = nx.Graph()
    graph.add_nodes_from(names)
    if sources:
        a, b, w = np.concatenate(sources), np.concatenate(targets), np.concatenate(values)
        pairs, where = np.unique(a * len(names) + b, return_inverse=True)
        summed = np.bincount(where.ravel(), weights=w, minlength=len(pairs))
        first, second = np.divmod(pairs, len(names))
        graph.add_weighted_edges_from(
            (names[i], names[j], float(v)) for i, j, v in zip(first.tolist(), second.tolist(), summed.tolist())
        )
    return graph


def communities(graph: Any, seed: int = 0) -> list[set[str]]:
    import networkx as nx

    if graph.number_of_edges() == 0:
        return [set(graph.nodes)] if graph.number_of_nodes() else []
    found = nx.community.louvain_communities(graph, weight="weight", seed=seed)
    return sorted(found, key=len, reverse=True)


def modularity_q(graph: Any, groups: list[set[str]]) -> float:
    import networkx as nx

    if graph.number_of_edges() == 0:
        return 0.0
    return float(nx.community.modularity(graph, groups, weight="weight"))


def shuffled(net: NeuronLayers, rng: np.random.Generator) -> list[np.ndarray]:
    """Each layer's weights permuted among that layer's connections."""
    return [rng.permutation(layer.weights.ravel()).reshape(layer.weights.shape) for layer in net.layers]


def layer_of(unit: str) -> str:
    return unit.rsplit(":", 1)[0]


def modularity_report(net: NeuronLayers, shuffles: int = 5, seed: int = 0) -> dict[str, Any]:
    """Q of the trained weights, Q of ``shuffles`` shuffled twins (mean ± std), the communities."""
    if not net.layers:
        return {"note": "no dense or convolution layers to analyse"}
    if net.connections > MAX_CONNECTIONS:
        return {"note": f"{net.connections:,} connections: too many to analyse (limit {MAX_CONNECTIONS:,})"}
    graph = neuron_graph(net)
    groups = communities(graph, seed)
    q = modularity_q(graph, groups)
    rng = np.random.default_rng(seed)
    twins = []
    for i in range(shuffles):
        twin = neuron_graph(net, shuffled(net, rng))
        twins.append(modularity_q(twin, communities(twin, seed + i)))
    listed = []
    for group in groups:
        layers: dict[str, int] = {}
        for unit in sorted(group):
            layers[layer_of(unit)] = layers.get(layer_of(unit), 0) + 1
        listed.append({"size": len(group), "layers": layers})
    return {
        "q": q,
        "shuffled_q": twins,
        "shuffled_q_mean": float(np.mean(twins)) if twins else None,
        "shuffled_q_std": float(np.std(twins)) if twins else None,
        "neurons": graph.number_of_nodes(),
        "connections": graph.number_of_edges(),
        "layers": [{"path": la.path, "inputs": len(la.inputs), "outputs": len(la.outputs)} for la in net.layers],
        "communities": listed,
        "method": f"Louvain (networkx, seed {seed}); Newman's Q weighted by |w|; {shuffles} shuffles within each layer",
    }


class LayerWalk:
    """Follows the wiring of a built GraphNet and collects its dense and convolution layers."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.out = NeuronLayers()

    def fresh(self, path: str, count: int) -> list[str]:
        return [f"{path}:{j}" for j in range(count)]

    def dense(self, path: str, weight: np.ndarray, given: Units) -> list[str]:
        matrix = np.abs(weight)
        inputs = matrix.shape[1]
        x = given.resolve(inputs) if isinstance(given, InputUnits) else given
        if x is not None and len(x) != inputs and inputs % len(x) == 0:  # a Flatten of channels before it
            matrix = matrix.reshape(matrix.shape[0], len(x), -1).sum(-1)
        elif x is None or len(x) != inputs:
            x = self.fresh(f"{path}.in", inputs)
        outputs = self.fresh(path, matrix.shape[0])
        self.out.layers.append(WeightLayer(path, list(x), outputs, matrix))
        return outputs

    def conv(self, path: str, conv: nn.Module, x: Units) -> list[str]:
        weight = conv.weight.detach().abs().float().cpu().numpy()
        if isinstance(conv, nn.ConvTranspose2d):
            weight = weight.swapaxes(0, 1)  # stored [in, out/groups, ...]
        per_group = weight.reshape(weight.shape[0], weight.shape[1], -1).sum(-1)  # [out, in/groups]
        groups = conv.groups
        out_channels, group_in = per_group.shape
        matrix = np.zeros((out_channels, group_in * groups), dtype=per_group.dtype)
        group_out = out_channels // groups
        for g in range(groups):
            rows = slice(g * group_out, (g + 1) * group_out)
            matrix[rows, g * group_in : (g + 1) * group_in] = per_group[rows]
        return self.dense(path, matrix, x)

    def graphnet(self, net: GraphNet, path: str, inputs: list[Units]) -> list[Units]:
        module = self.project.modules[net.module_name]
        by_id = {node.id: node for node in module.nodes}
        into = edges_into(module)
        values: dict[tuple[str, str], Units] = {}
        for i, node in enumerate(module.input_nodes):
            values[(node.id, "out")] = inputs[i] if i < len(inputs) else None
        for node_id in topological_order(module):
            node = by_id[node_id]
            if node.block in (INPUT_BLOCK, OUTPUT_BLOCK) or node_id not in net.node_names:
                continue
            incoming = [
                values.get((e.src, e.src_port)) for (dst, _), edges in into.items() if dst == node_id for e in edges
            ]
            where = f"{path}.{node.name}" if path else node.name
            sub = getattr(net, net.node_names[node_id])
            if node.module is not None:
                target = self.project.modules[node.module]
                ordered = [
                    next((values.get((e.src, e.src_port)) for e in into.get((node_id, n.name), ())), None)
                    for n in target.input_nodes
                ]
                results = self.graphnet(sub, where, ordered)
                for n, units in zip(target.output_nodes, results):
                    values[(node_id, n.name)] = units
            else:
                result = self.block(node.block or "", node.params, sub, where, incoming)
                for key in [(node_id, "out")] + [(node_id, e.src_port) for e in module.edges_from(node_id)]:
                    values[key] = result
        return [
            next((values.get((e.src, e.src_port)) for e in into.get((n.id, "in"), ())), None)
            for n in module.output_nodes
        ]

    def block(self, kind: str, params: dict[str, Any], sub: nn.Module, path: str, incoming: list[Units]) -> Units:
        x = incoming[0] if incoming else None
        if isinstance(sub, nn.Linear):
            return self.dense(path, sub.weight.detach().float().cpu().numpy(), x)
        if isinstance(sub, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            return self.conv(path, sub, x)
        if isinstance(sub, DepthwiseSeparableConv2d):
            return self.conv(f"{path}.pointwise", sub.pointwise, self.conv(f"{path}.depthwise", sub.depthwise, x))
        if kind in ("add", "multiply"):
            known = [u for u in map(_known, incoming) if u is not None]
            for other in known[1:]:
                if len(other) == len(known[0]):
                    self.out.merge(known[0], other)
            return known[0] if known else None
        if kind == "concat":
            parts = [_known(u) for u in incoming]
            return None if any(u is None for u in parts) else [v for u in parts for v in u]  # type: ignore[union-attr]
        members = _members(sub)
        if members:
            return self.composition(kind, params, sub, path, x, members)
        if not any(True for _ in sub.parameters()) or isinstance(
            sub, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)
        ):
            return x  # element-wise, pooling, reshapes: the same neurons go on
        return None  # attention, recurrent, locally connected...: the chain starts again after it

    def composition(
        self,
        kind: str,
        params: dict[str, Any],
        sub: nn.Module,
        path: str,
        x: Units,
        members: list[tuple[str, GraphNet]],
    ) -> Units:
        member_paths = [name for name, _ in members]
        for name, layer in sub.named_modules():
            if isinstance(layer, nn.Linear) and not any(name.startswith(f"{m}.") for m in member_paths):
                width = layer.in_features
                known = x.resolve(width) if isinstance(x, InputUnits) else x
                if name != "combiner" and known is not None and width == len(known):  # routers and gates
                    self.dense(f"{path}.{name}", layer.weight.detach().float().cpu().numpy(), x)
        if hasattr(sub, "trunk") and hasattr(sub, "branches"):
            trunk = self.graphnet(sub.trunk, f"{path}.trunk", [x])[0]
            outs = [self.graphnet(b, f"{path}.branches.{i}", [trunk])[0] for i, b in enumerate(sub.branches)]
        else:
            splits = list(getattr(sub, "splits", []) or [])
            views: list[Units] = [x] * len(members)
            if splits and isinstance(x, InputUnits):
                x.resolve(sum(splits))
            whole = _known(x)
            if splits and whole is not None and sum(splits) == len(whole):
                edges = np.cumsum([0, *splits]).tolist()
                views = [whole[edges[i] : edges[i + 1]] for i in range(len(splits))]
            outs = [self.graphnet(m, f"{path}.{name}", [view])[0] for (name, m), view in zip(members, views)]
        concat = kind in CONCATENATING or params.get("combine") == "concat"
        known = [u for u in map(_known, outs) if u is not None]
        if not concat and known and all(len(u) == len(known[0]) for u in known):
            for other in known[1:]:
                self.out.merge(known[0], other)
            result: Units = known[0] if len(known) == len(outs) else None
        else:
            result = None if len(known) != len(outs) else [v for u in known for v in u]
        combiner = getattr(sub, "combiner", None)
        if isinstance(combiner, nn.Linear):
            result = self.dense(f"{path}.combiner", combiner.weight.detach().float().cpu().numpy(), result)
        return result


def _members(sub: nn.Module) -> list[tuple[str, GraphNet]]:
    """The outermost GraphNets inside a composition (its member modules), by path."""
    found: list[tuple[str, GraphNet]] = []
    for name, module in sub.named_modules():
        if isinstance(module, GraphNet) and not any(name.startswith(f"{m}.") for m, _ in found):
            found.append((name, module))
    return found


def weight_layers(project: Project, net: GraphNet) -> NeuronLayers:
    """The dense and convolution layers of a built network, chained along its wiring."""
    walk = LayerWalk(project)
    walk.graphnet(net, "", [InputUnits(f"input {n.name}") for n in project.main_module.input_nodes])
    return walk.out
