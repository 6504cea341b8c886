"""Auto-layout: every node gets a distinct place; edges flow left to right."""

from __future__ import annotations

from modstudio.blocks import default_catalog
from modstudio.graph.layout import layered_positions, missing_positions
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
