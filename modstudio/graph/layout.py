"""Layered auto-layout of a module's nodes, left to right (Qt-free, via networkx).

Each node goes in the column of its longest path from a source (networkx's topological
generations); within a column nodes are ordered by the mean row of their predecessors (one
barycentre sweep), which keeps chains straight and branches apart. Used for templates that carry no positions; an imported network,
often one long chain, gets its columns wrapped into bands that fit a window (``wrapped_positions``).
"""

from __future__ import annotations

from .model import ModuleDef

COLUMN_GAP = 240.0
WIDE_COLUMN_GAP = 270.0  # room for a four-number shape on the wire between two nodes
ROW_GAP = 120.0
BAND_GAP = 80.0  # between the bands of a wrapped layout (room for the wire back to the left)
NODE_WIDTH = 150.0  # as the editor draws a node
NODE_HEIGHT = 100.0  # about as tall as the editor draws a node with a few ports
# What the canvas of a small editor window (about 650 x 700 pixels) shows at the zoom where node
# titles are readable, less the margin Frame All keeps: a wrapped layout is made to fit it.
SMALL_VIEW = (800.0, 880.0)


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
    # a node's generation is the length of its longest path from a source
    layer = {node_id: col for col, ids in enumerate(nx.topological_generations(graph)) for node_id in ids}
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
    view: tuple[float, float] = SMALL_VIEW,
    column_gap: float = COLUMN_GAP,
    row_gap: float = ROW_GAP,
) -> dict[str, list[float]]:
    """The layered layout, its columns wrapped into bands stacked top to bottom (as lines of text)
    when it is wider than ``view`` (width, height in scene units): a long chain, such as an imported
    network, then shows whole at a readable zoom instead of as one row too long to read. The bands
    are as wide as fits the view and still lets them all fit in its height; when nothing fits, the
    width that needs the least zooming out."""
    columns = _columns(module)

    def width(count: int) -> float:
        return (count - 1) * column_gap + NODE_WIDTH

    if width(len(columns)) <= view[0]:
        return layered_positions(module, column_gap, row_gap)

    def bands(count: int) -> list[list[list[tuple[str, float]]]]:
        return [columns[i : i + count] for i in range(0, len(columns), count)]

    def spans(band: list[list[tuple[str, float]]]) -> tuple[float, float]:
        rows = [r for column in band for _, r in column]
        return min(rows), max(rows)

    def height(count: int) -> float:
        return sum((hi - lo) * row_gap + NODE_HEIGHT for lo, hi in map(spans, bands(count))) + BAND_GAP * (
            len(bands(count)) - 1
        )

    widest = max(2, int((view[0] - NODE_WIDTH) // column_gap) + 1)
    counts = range(2, widest + 1)
    fitting = [count for count in counts if height(count) <= view[1]]
    count = max(fitting) if fitting else max(counts, key=lambda c: (min(view[0] / width(c), view[1] / height(c)), c))
    positions: dict[str, list[float]] = {}
    top = 0.0
    for band in bands(count):
        lo, hi = spans(band)
        for col, column in enumerate(band):
            for node_id, r in column:
                positions[node_id] = [col * column_gap, top + (r - lo) * row_gap]
        top += (hi - lo) * row_gap + NODE_HEIGHT + BAND_GAP
    return positions


def readable_layout(modules: dict[str, ModuleDef]) -> dict[str, dict[str, list[float]]]:
    """Positions for every module of a project that comes without any (an imported one); its columns
    leave room for the long shapes of real inputs on the wires ("[N, 64, 112, 112]")."""
    return {name: wrapped_positions(module, column_gap=WIDE_COLUMN_GAP) for name, module in modules.items()}


def missing_positions(positions: dict[str, list[float]] | None, module: ModuleDef) -> bool:
    """True when some node of ``module`` has no stored position."""
    have = positions or {}
    return any(node.id not in have for node in module.nodes)
