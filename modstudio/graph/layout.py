"""Layered auto-layout of a module's nodes, left to right (Qt-free, via networkx).

Each node goes in the column of its longest path from a source; within a column nodes are
ordered by the mean row of their predecessors (one barycentre sweep), which keeps chains
straight and branches apart. Used for templates that carry no positions; an imported network,
often one long chain, gets its columns wrapped into bands that fit a window (``wrapped_positions``).
"""

from __future__ import annotations

from .model import ModuleDef

COLUMN_GAP = 240.0
WIDE_COLUMN_GAP = 290.0  # room for a four-number shape on the wire between two nodes
ROW_GAP = 120.0
BAND_GAP = 80.0  # between the bands of a wrapped layout
MAX_COLUMNS = 5  # what a small canvas shows at a readable zoom
ASPECT = 1.2  # width:height of the canvas a wrapped layout is made for


def _columns(module: ModuleDef) -> list[list[tuple[str, float]]]:
    """The nodes of ``module`` in columns (each node in the column of its longest path from a source),
    each column ordered by one barycentre sweep: (node id, row) with rows centred on 0."""
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
    placed: list[list[tuple[str, float]]] = []
    for col in sorted(columns):
        ids = columns[col]

        def barycentre(node_id: str) -> tuple[float, int]:
            preds = [row[p] for p in graph.predecessors(node_id) if p in row]
            return (sum(preds) / len(preds) if preds else float(order[node_id]), order[node_id])

        ids.sort(key=barycentre)
        for i, node_id in enumerate(ids):
            row[node_id] = i - (len(ids) - 1) / 2
        placed.append([(node_id, row[node_id]) for node_id in ids])
    return placed


def layered_positions(
    module: ModuleDef, column_gap: float = COLUMN_GAP, row_gap: float = ROW_GAP
) -> dict[str, list[float]]:
    """Node id -> [x, y] for every node of ``module``; deterministic for a given module."""
    return {
        node_id: [col * column_gap, r * row_gap] for col, column in enumerate(_columns(module)) for node_id, r in column
    }


def wrapped_positions(
    module: ModuleDef,
    max_columns: int = MAX_COLUMNS,
    aspect: float = ASPECT,
    column_gap: float = COLUMN_GAP,
    row_gap: float = ROW_GAP,
) -> dict[str, list[float]]:
    """The layered layout, its columns wrapped into bands stacked top to bottom (as lines of text)
    when there are more than ``max_columns``: a long chain, such as an imported network, then fits
    a window of width:height ``aspect`` at a readable zoom instead of one row too long to read.
    The band width is the one that needs the least zooming out to show everything."""
    columns = _columns(module)
    if len(columns) <= max_columns:
        return layered_positions(module, column_gap, row_gap)

    def bands(width: int) -> list[list[list[tuple[str, float]]]]:
        return [columns[i : i + width] for i in range(0, len(columns), width)]

    def spans(band: list[list[tuple[str, float]]]) -> tuple[float, float]:
        rows = [r for column in band for _, r in column]
        return min(rows), max(rows)

    def height(width: int) -> float:
        return sum((hi - lo + 1) * row_gap + BAND_GAP for lo, hi in map(spans, bands(width)))

    def fit(width: int) -> tuple[float, int]:  # how far everything must be zoomed out to show; wider on ties
        return (min(aspect / (width * column_gap), 1 / height(width)), width)

    width = max(range(2, max_columns + 1), key=fit)
    positions: dict[str, list[float]] = {}
    top = 0.0
    for band in bands(width):
        lo, hi = spans(band)
        for col, column in enumerate(band):
            for node_id, r in column:
                positions[node_id] = [col * column_gap, top + (r - lo) * row_gap]
        top += (hi - lo + 1) * row_gap + BAND_GAP
    return positions


def readable_layout(modules: dict[str, ModuleDef]) -> dict[str, dict[str, list[float]]]:
    """Positions for every module of a project that comes without any (an imported one); its columns
    leave room for the long shapes of real inputs on the wires ("[N, 64, 112, 112]")."""
    return {name: wrapped_positions(module, column_gap=WIDE_COLUMN_GAP) for name, module in modules.items()}


def missing_positions(positions: dict[str, list[float]] | None, module: ModuleDef) -> bool:
    """True when some node of ``module`` has no stored position."""
    have = positions or {}
    return any(node.id not in have for node in module.nodes)
