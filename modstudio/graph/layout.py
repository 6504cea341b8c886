"""Layered auto-layout of a module's nodes, left to right (Qt-free, via networkx).

Each node goes in the column of its longest path from a source; within a column nodes are
ordered by the mean row of their predecessors (one barycentre sweep), which keeps chains
straight and branches apart. Used for templates and imported graphs that carry no positions.
"""

from __future__ import annotations

from .model import ModuleDef

COLUMN_GAP = 240.0
ROW_GAP = 120.0


def layered_positions(
    module: ModuleDef, column_gap: float = COLUMN_GAP, row_gap: float = ROW_GAP
) -> dict[str, list[float]]:
    """Node id -> [x, y] for every node of ``module``; deterministic for a given module."""
    import networkx as nx  # imported when needed: it is slow to import (startup time)

    order = {node.id: i for i, node in enumerate(module.nodes)}
    graph = nx.DiGraph()
    graph.add_nodes_from(order)
    graph.add_edges_from((e.src, e.dst) for e in module.edges if e.src in order and e.dst in order)
    if not nx.is_directed_acyclic_graph(graph):
        graph = nx.DiGraph(e for e in nx.dfs_edges(graph))  # a cycle is a user error; lay out a tree of it
        graph.add_nodes_from(order)
    layer: dict[str, int] = {}
    for node_id in nx.lexicographical_topological_sort(graph, key=order.__getitem__):
        layer[node_id] = max((layer[p] + 1 for p in graph.predecessors(node_id)), default=0)
    columns: dict[int, list[str]] = {}
    for node_id in sorted(layer, key=lambda n: (layer[n], order[n])):
        columns.setdefault(layer[node_id], []).append(node_id)
    row: dict[str, float] = {}
    positions: dict[str, list[float]] = {}
    for col in sorted(columns):
        ids = columns[col]

        def barycentre(node_id: str) -> tuple[float, int]:
            preds = [row[p] for p in graph.predecessors(node_id) if p in row]
            return (sum(preds) / len(preds) if preds else float(order[node_id]), order[node_id])

        ids.sort(key=barycentre)
        for i, node_id in enumerate(ids):
            row[node_id] = i - (len(ids) - 1) / 2
            positions[node_id] = [col * column_gap, row[node_id] * row_gap]
    return positions


def missing_positions(positions: dict[str, list[float]] | None, module: ModuleDef) -> bool:
    """True when some node of ``module`` has no stored position."""
    have = positions or {}
    return any(node.id not in have for node in module.nodes)
