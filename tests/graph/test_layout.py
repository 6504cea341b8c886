"""Auto-layout: every node gets a distinct place; edges flow left to right."""

from __future__ import annotations

from itertools import pairwise

from modstudio.blocks import default_catalog
from modstudio.graph.layout import (
    COLUMN_GAP,
    NODE_HEIGHT,
    ROW_GAP,
    layered_positions,
    missing_positions,
    wrapped_positions,
)
from modstudio.graph.model import Edge, ModuleDef, Node
from modstudio.library import load_template


def test_every_edge_goes_right_and_no_two_nodes_share_a_place() -> None:
    project = load_template("resnet18", default_catalog())
    for module in project.modules.values():
        pos = layered_positions(module)
        assert set(pos) == {n.id for n in module.nodes}
        assert len({tuple(p) for p in pos.values()}) == len(pos)
        for e in module.edges:
            assert pos[e.src][0] < pos[e.dst][0]


def test_branches_are_stacked_in_one_column() -> None:
    nodes = [Node(i, i, "relu") for i in ("a", "b", "c", "d")]
    edges = [Edge("a", "out", "b", "in"), Edge("a", "out", "c", "in"), Edge("b", "out", "d", "in")]
    pos = layered_positions(ModuleDef(nodes, edges))
    assert pos["b"][0] == pos["c"][0] and pos["b"][1] != pos["c"][1]
    assert pos["d"][0] > pos["b"][0]


def test_a_cycle_still_gets_positions() -> None:
    nodes = [Node(i, i, "relu") for i in ("a", "b")]
    module = ModuleDef(nodes, [Edge("a", "out", "b", "in"), Edge("b", "out", "a", "in")])
    assert set(layered_positions(module)) == {"a", "b"}
    assert missing_positions({"a": [0.0, 0.0]}, module)
    assert not missing_positions(layered_positions(module), module)


def _chain(count: int, branch: bool = False) -> ModuleDef:
    names = [f"n{i}" for i in range(count)]
    edges = [Edge(a, "out", b, "in") for a, b in pairwise(names)]
    nodes = [Node(n, n, "relu") for n in names]
    if branch:  # a skip beside the third node, as a residual block has
        nodes.append(Node("skip", "skip", "relu"))
        edges += [Edge("n1", "out", "skip", "in"), Edge("skip", "out", "n3", "in")]
    return ModuleDef(nodes, edges)


def test_a_long_chain_is_wrapped_into_bands_that_read_like_lines_of_text() -> None:
    module = _chain(14, branch=True)
    pos = wrapped_positions(module, view=(800.0, 1000.0))
    assert set(pos) == {n.id for n in module.nodes}
    xs = sorted({p[0] for p in pos.values()})
    assert len(xs) == 3  # as many columns as fit 800 wide: (3 - 1) * 240 + a node 150 wide
    assert max(p[1] for p in pos.values()) + NODE_HEIGHT <= 1000  # and the bands fit the height
    # no two nodes closer than the layout's gaps (a node is 150 wide and under 120 high)
    for a in pos.values():
        for b in pos.values():
            if a is not b:
                assert abs(a[0] - b[0]) >= COLUMN_GAP or abs(a[1] - b[1]) >= ROW_GAP
    # within a band the chain runs left to right; the next band starts below, at the left
    assert pos["n0"][1] == pos["n1"][1] and pos["n1"][0] < pos["n2"][0]
    first_of_next_band = min((n for n in pos if pos[n][1] > pos["n0"][1] + ROW_GAP), key=lambda n: pos[n][1])
    assert pos[first_of_next_band][0] == 0.0


def test_a_chain_that_fits_the_view_is_not_wrapped() -> None:
    module = _chain(4)  # 3 * 240 + 150 = 870 wide
    assert wrapped_positions(module, view=(900.0, 500.0)) == layered_positions(module)
    assert wrapped_positions(module, view=(800.0, 500.0)) != layered_positions(module)
