"""Grouping nodes into a module and ungrouping a module use: the wiring, the names, the
parameters passed through, exact undo, and a network that computes the same thing."""

from __future__ import annotations

import ast

import torch

from modstudio.compile.graphnet import GraphNet
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.expressions import evaluate, parse
from modstudio.graph.io import project_to_json
from modstudio.graph.model import Edge, Project
from modstudio.graph.ops import AddNode, Batch, Disconnect, GroupIntoModule, RenameNode, SetParam, Ungroup

from .test_ops import Session


def test_group_makes_a_module_with_boundary_ports():
    s = Session()
    fc1, relu1, x, block1, sum_ = (s.id(n) for n in ("fc1", "relu1", "x", "block1", "sum"))
    group = GroupIntoModule("main", [relu1, fc1], "Stem")
    s.do(group)
    assert s.history.undo_text == "Group 2 nodes into Stem"
    stem = s.project.modules["Stem"]
    assert [(n.name, n.block) for n in stem.nodes] == [
        ("x", "input"),
        ("fc1", "linear"),
        ("relu1", "relu"),
        ("out", "output"),
    ]
    assert [n.id for n in stem.nodes[1:3]] == [fc1, relu1]  # the grouped nodes keep their ids
    inner_x, out = stem.nodes[0].id, stem.nodes[3].id
    assert stem.edges == [Edge(inner_x, "out", fc1, "in"), Edge(fc1, "out", relu1, "in"), Edge(relu1, "out", out, "in")]
    assert stem.params == {"hidden": 16}  # fc1 uses "=hidden": passed through
    main = s.project.main_module
    ref = main.nodes[1]  # where fc1 was
    assert (ref.id, ref.name, ref.module, ref.params) == (group.node_id, "stem", "Stem", {"hidden": "=hidden"})
    assert main.edges_into(ref.id) == [Edge(x, "out", ref.id, "x")]
    assert Edge(ref.id, "out", block1, "x") in main.edges
    assert [e.src for e in main.edges_into(sum_)] == [ref.id, block1]  # Add keeps its input order
    positions = s.project.ui.positions
    assert positions["main"][ref.id] == [150.0, 0.0]  # between fc1 (100) and relu1 (200)
    assert positions["Stem"][fc1] == [100.0, 0.0] and positions["Stem"][inner_x][0] < 100.0
    assert s.kinds()[0] == "module_added" and {"node_removed", "node_added", "edge_added"} <= set(s.kinds())
    s.undo_all_restores()


def test_one_input_per_outside_source_and_one_output_per_inside_source():
    pb = ProjectBuilder("fan")
    m = pb.module("main")
    x = m.input("x", [4])
    a, b = m.add("relu", "a", x), m.add("tanh", "b", x)
    cat = m.add("concat", "cat", a, b, x)  # x feeds both a grouped node and cat
    m.output("y1", cat)
    m.output("y2", a)
    m.output("y3", b)
    s = Session(pb.project("fan"))
    s.do(GroupIntoModule("main", [s.id("a"), s.id("b"), s.id("cat")], "Fan", node_name="fan"))
    inner = s.project.modules["Fan"]
    assert [n.name for n in inner.input_nodes] == ["x"]
    assert [n.name for n in inner.output_nodes] == ["cat_out", "a_out", "b_out"]
    main = s.project.main_module
    ref = main.node_named("fan")
    assert [e.dst_port for e in main.edges_into(ref.id)] == ["x"]
    assert [(e.src_port, main.node(e.dst).name) for e in main.edges_from(ref.id)] == [
        ("cat_out", "y1"),
        ("a_out", "y2"),
        ("b_out", "y3"),
    ]
    assert [inner.node(e.src).name for e in inner.edges_into(inner.node_named("cat").id)] == ["a", "b", "x"]
    s.undo_all_restores()


def test_group_refusals():
    s = Session()
    fc1, relu1, block1, x, y = (s.id(n) for n in ("fc1", "relu1", "block1", "x", "y"))
    s.refused(GroupIntoModule("main", [x, fc1], "Stem"), "'x': the Input and Output nodes of module 'main'")
    s.refused(GroupIntoModule("main", [fc1, block1], "Stem"), "'relu1' lies between grouped nodes")
    s.refused(GroupIntoModule("main", [], "Stem"), "select at least one node")
    s.refused(GroupIntoModule("main", [fc1], "Block"), "already a module named 'Block'")
    s.refused(GroupIntoModule("main", [fc1], "not ok"), "not a valid module name")
    s.refused(GroupIntoModule("main", [fc1], "Stem", node_name="head"), "already has a node named 'head'")
    s.refused(GroupIntoModule("main", [fc1, s.id("fc", "Block")], "Stem"), "'fc' is in module 'Block'")
    s.do(Batch([Disconnect("main", e) for e in s.project.main_module.edges_from(relu1)]))
    s.refused(GroupIntoModule("main", [fc1, relu1], "Stem"), "would have no output")
    assert y  # the main Output exists and was never touched


def test_ungroup_inlines_with_fresh_names_ids_and_rewritten_expressions():
    s = Session()
    block1, relu1, sum_ = s.id("block1"), s.id("relu1"), s.id("sum")
    s.do(SetParam("main", block1, "width", "=hidden * 2"))
    s.do(Ungroup("main", block1))
    assert s.history.undo_text == "Ungroup 'block1'"
    main = s.project.main_module
    fc, act = main.nodes[3], main.nodes[4]  # where block1 was
    assert (fc.name, act.name) == ("fc", "act")
    assert {fc.id, act.id}.isdisjoint(n.id for n in s.project.modules["Block"].nodes)
    assert fc.params == {"out_features": "=hidden * 2"}
    assert main.edges_into(fc.id) == [Edge(relu1, "out", fc.id, "in")]
    assert [e.src for e in main.edges_into(sum_)] == [relu1, act.id]
    assert "Block" in s.project.modules  # ungroup only inlines
    s.undo_all_restores()


def test_ungroup_folds_constant_parameters_and_avoids_taken_names():
    s = Session()
    block1 = s.id("block1")
    s.do(SetParam("main", block1, "width", 6))
    s.do(RenameNode("main", s.id("head"), "fc"))
    s.do(Ungroup("main", block1))
    inlined = s.project.main_module.nodes[3]
    assert (inlined.name, inlined.params) == ("fc_2", {"out_features": 6})
    s.undo_all_restores()


def test_ungroup_refuses_a_block():
    s = Session()
    s.refused(Ungroup("main", s.id("fc1")), "'fc1' is a block, not a use of a module")


def mlp(depth: int = 3) -> Project:
    pb = ProjectBuilder("mlp")
    m = pb.module("main", width=32)
    h = m.input("x", [8])
    for i in range(depth):
        h = m.add("relu", f"act{i}", m.add("linear", f"fc{i}", h, out_features="=width"))
    m.output("y", m.add("linear", "head", h, out_features=5), task="classification")
    return pb.project("mlp")


def _count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_grouped_network_computes_the_same_function():
    s = Session(mlp())
    before = GraphNet(s.project)
    chain = [s.id(n) for n in ("fc1", "act1", "fc2", "act2")]
    s.do(GroupIntoModule("main", chain, "Trunk"))
    after = GraphNet(s.project)
    assert _count(after) == _count(before)
    # Same weights under the new names (trunk.fc1.weight <- fc1.weight), then the same outputs.
    old = before.state_dict()
    after.load_state_dict({k: old[".".join(k.split(".")[-2:])] for k in after.state_dict()})
    x = torch.randn(7, 8)
    with torch.no_grad():
        assert after(x).shape == before(x).shape == (7, 5)
        assert torch.allclose(after(x), before(x))
    s.do(Ungroup("main", s.project.main_module.node_named("trunk").id))
    assert _count(GraphNet(s.project)) == _count(before)
    s.undo_all_restores()
    assert project_to_json(s.project) == s.original


def test_applying_the_same_operation_again_after_its_undo_gives_the_same_document():
    """What a Qt undo command does on redo: apply the same operation object again."""
    s = Session()
    ops = [
        AddNode("main", block="relu", position=(1, 2)),
        GroupIntoModule("main", [s.id("fc1"), s.id("relu1")], "Stem"),
        Ungroup("main", s.id("block1")),
    ]
    for op in ops:
        inverse = s.doc.apply(op)
        after = project_to_json(s.project)
        s.doc.apply(inverse)
        s.doc.apply(op)
        assert project_to_json(s.project) == after


def test_ungrouping_leaves_the_expressions_it_rewrites_as_they_were() -> None:
    """Parsed expressions are shared between calls: inlining rewrites a copy, never the shared tree."""
    s = Session()
    block1 = s.id("block1")
    fc = s.project.modules["Block"].node_named("fc")
    s.do(SetParam("Block", fc.id, "out_features", "=width * 2 + 1"))
    s.do(SetParam("main", block1, "width", "=hidden"))
    before = ast.dump(parse("=width * 2 + 1"))
    s.do(Ungroup("main", block1))
    assert s.project.main_module.nodes[3].params == {"out_features": "=hidden * 2 + 1"}
    assert ast.dump(parse("=width * 2 + 1")) == before
    assert evaluate("=width * 2 + 1", {"width": 4}) == 9
    s.undo_all_restores()
