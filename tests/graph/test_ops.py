"""Edit operations: each does what it says, is refused with a reason (leaving the project as it
was), sends change events, and its inverse restores the exact document."""

from __future__ import annotations

import pytest

from modstudio.blocks import default_catalog
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.io import project_to_dict, project_to_json
from modstudio.graph.model import Edge, ModuleDef, Node, Project
from modstudio.graph.ops import (
    AddModule,
    AddNode,
    Batch,
    Change,
    Connect,
    Disconnect,
    Document,
    History,
    MoveNode,
    Operation,
    OperationError,
    RemoveModule,
    RemoveNode,
    RenameModule,
    RenameNode,
    SetModuleParam,
    SetParam,
)
from modstudio.graph.validate import check_project


def sample_project() -> Project:
    """main: x -> fc1 -> relu1 -> block1 (module Block) and Add(relu1, block1) -> head -> y."""
    pb = ProjectBuilder("ops")
    blk = pb.module("Block", width=8)
    blk.output("y", blk.add("relu", "act", blk.add("linear", "fc", blk.input("x"), out_features="=width")))
    m = pb.module("main", hidden=16)
    r1 = m.add("relu", "relu1", m.add("linear", "fc1", m.input("x", [4]), out_features="=hidden"))
    b = m.use("Block", "block1", r1, width="=hidden")
    m.output("y", m.add("linear", "head", m.add("add", "sum", r1, b), out_features=3), task="classification")
    project = pb.project("ops")
    project.ui.positions["main"] = {n.id: [i * 100.0, 0.0] for i, n in enumerate(project.main_module.nodes)}
    return project


class Session:
    """A document with a history and a record of the events it sent."""

    def __init__(self, project: Project | None = None) -> None:
        self.project = project or sample_project()
        self.doc = Document(self.project, default_catalog())
        self.history = History(self.doc)
        self.events: list[Change] = []
        self.doc.subscribe(self.events.append)
        self.original = project_to_json(self.project)

    def id(self, name: str, module: str = "main") -> str:
        node = self.project.modules[module].node_named(name)
        assert node is not None, name
        return node.id

    def do(self, op: Operation) -> None:
        self.events.clear()
        self.history.do(op)
        assert check_project(self.project, self.doc.catalog) == []

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def refused(self, op: Operation, match: str) -> None:
        before = project_to_dict(self.project)
        self.events.clear()
        with pytest.raises(OperationError, match=match):
            self.doc.apply(op)
        assert project_to_dict(self.project) == before
        assert self.events == []

    def undo_all_restores(self) -> None:
        """Undo everything: the exact original file; redo all and undo again: the same."""
        while self.history.redo() is not None:
            pass
        after = project_to_json(self.project)
        while self.history.undo() is not None:
            pass
        assert project_to_json(self.project) == self.original
        while self.history.redo() is not None:
            pass
        assert project_to_json(self.project) == after
        while self.history.undo() is not None:
            pass
        assert project_to_json(self.project) == self.original


def test_add_node_names_it_uniquely_and_places_it():
    s = Session()
    s.do(AddNode("main", block="relu", name="relu1", position=(5, 6)))
    node = s.project.main_module.nodes[-1]
    assert (node.name, node.block) == ("relu1_2", "relu")
    assert s.project.ui.positions["main"][node.id] == [5.0, 6.0]
    assert s.kinds() == ["node_added", "node_moved"]
    assert s.history.undo_text == "Add ReLU 'relu1_2'"
    s.do(AddNode("Block", module_ref=None, block="linear", params={"out_features": "=width * 2"}))
    assert s.project.modules["Block"].nodes[-1].name == "linear"
    s.do(AddNode("main", module_ref="Block", params={"width": 4}))
    assert s.project.main_module.nodes[-1].name == "block"
    s.undo_all_restores()


def test_add_node_refusals():
    s = Session()
    s.refused(AddNode("main", block="nonsense"), "there is no block type 'nonsense'")
    s.refused(AddNode("main"), "exactly one")
    s.refused(AddNode("nowhere", block="relu"), "there is no module 'nowhere'")
    s.refused(AddNode("main", block="linear", params={"out_features": 0}), "out_features.*must be >= 1, not 0")
    s.refused(AddNode("main", block="linear", params={"size": 3}), r"Linear has no parameter 'size' \(parameters")
    s.refused(AddNode("main", block="linear", params={"out_features": "=depth"}), "no parameter 'depth'")
    s.refused(AddNode("Block", module_ref="main"), "'main' contains 'Block'")
    s.refused(AddNode("Block", module_ref="Block"), "'Block' contains 'Block'")
    s.refused(AddNode("main", module_ref="Block", params={"depth": 2}), "module 'Block' has no parameter 'depth'")
    s.refused(AddNode("main", block="relu", position=(1, "a")), "a position is two numbers")
    s.refused(AddNode("main", block="relu", node_id=s.id("fc1")), "already used")


def test_remove_node_takes_its_edges_and_undo_puts_everything_back_in_order():
    s = Session()
    relu1 = s.id("relu1")
    s.do(RemoveNode("main", relu1))
    main = s.project.main_module
    assert main.find(relu1) is None
    assert all(relu1 not in (e.src, e.dst) for e in main.edges)
    assert relu1 not in s.project.ui.positions["main"]
    assert s.kinds() == ["edge_removed"] * 3 + ["node_removed"]
    assert s.history.undo_text == "Delete ReLU 'relu1'"
    s.history.undo()
    assert [e.src for e in main.edges_into(s.id("sum"))] == [relu1, s.id("block1")]  # Add's input order
    s.undo_all_restores()


def test_removing_an_input_of_a_module_removes_the_edges_into_its_uses():
    s = Session()
    s.do(RemoveNode("Block", s.id("x", "Block")))
    assert s.project.main_module.edges_into(s.id("block1")) == []
    assert Change("ports_changed", "main", (s.id("block1"),)) in s.events
    s.undo_all_restores()


def test_connect_and_disconnect():
    s = Session()
    fc1, head, sum_ = s.id("fc1"), s.id("head"), s.id("sum")
    s.do(Connect("main", Edge(fc1, "out", sum_, "in")))
    assert s.project.main_module.edges[-1] == Edge(fc1, "out", sum_, "in")
    assert s.kinds() == ["edge_added"] and s.events[0].node_ids == (fc1, sum_)
    assert s.history.undo_text == "Connect fc1 -> sum"
    first = s.project.main_module.edges_into(sum_)[0]
    s.do(Disconnect("main", first))
    assert s.kinds() == ["edge_removed"]
    assert s.history.undo_text == "Disconnect relu1 -> sum"
    s.history.undo()
    assert s.project.main_module.edges_into(sum_)[0] == first
    s.refused(Disconnect("main", Edge(head, "out", fc1, "in")), "there is no connection head -> fc1")
    s.undo_all_restores()


def test_connect_refusals():
    s = Session()
    fc1, relu1, head, x = s.id("fc1"), s.id("relu1"), s.id("head"), s.id("x")
    s.refused(Connect("main", Edge(fc1, "out", fc1, "in")), "cannot connect 'fc1' to itself")
    s.refused(Connect("main", Edge(fc1, "value", head, "in")), r"'fc1' has no output 'value' \(outputs: out\)")
    s.refused(Connect("main", Edge(fc1, "out", head, "other")), r"'head' has no input 'other' \(inputs: in\)")
    s.refused(Connect("main", Edge(fc1, "out", x, "in")), r"'x' has no input 'in' \(inputs: none\)")
    s.refused(Connect("main", Edge(x, "out", head, "in")), "input 'in' of 'head' is already fed by 'sum'")
    s.refused(Connect("main", Edge(head, "out", fc1, "in")), "already fed")
    s.refused(Connect("main", Edge(fc1, "out", relu1, "in")), "already connected")
    s.refused(Connect("main", Edge(s.id("sum"), "out", s.id("block1"), "x")), "already fed")
    s.refused(Connect("main", Edge(s.id("fc", "Block"), "out", head, "in")), "'fc' is in module 'Block', not 'main'")
    s.do(Disconnect("main", Edge(fc1, "out", relu1, "in")))
    s.refused(
        Connect("main", Edge(head, "out", relu1, "in")),
        "would make a cycle: 'relu1' already feeds 'head'",
    )


def test_set_param_and_reset_restore_the_exact_previous_state():
    s = Session()
    head, block1 = s.id("head"), s.id("block1")
    s.do(SetParam("main", head, "bias", False))
    assert s.project.main_module.node(head).params == {"out_features": 3, "bias": False}
    assert s.kinds() == ["param_changed"] and s.events[0].param == "bias"
    s.do(SetParam("main", head, "out_features", None))  # back to the block's default
    assert s.project.main_module.node(head).params == {"bias": False}
    s.history.undo()
    assert list(s.project.main_module.node(head).params) == ["out_features", "bias"]  # same key order
    s.do(SetParam("main", block1, "width", "=hidden * 2"))
    s.do(SetParam("main", block1, "width", 7))
    s.undo_all_restores()


def test_set_param_refusals():
    s = Session()
    head, block1 = s.id("head"), s.id("block1")
    s.refused(SetParam("main", head, "out_features", 0), "cannot set out_features of 'head': must be >= 1, not 0")
    s.refused(SetParam("main", head, "out_features", 2.5), "must be a whole number")
    s.refused(SetParam("main", head, "bias", "=hidden"), "a bool parameter cannot be an expression")
    s.refused(SetParam("main", head, "out_features", "=depth"), "module 'main' has no parameter 'depth'")
    s.refused(SetParam("main", head, "out_features", "=hidden +"), "cannot parse")
    s.refused(SetParam("main", head, "colour", 1), "Linear has no parameter 'colour'")
    s.refused(SetParam("main", block1, "depth", 1), "module 'Block' has no parameter 'depth'")
    s.refused(SetParam("main", block1, "width", True), "must be a number or an expression")
    s.refused(SetParam("main", "no-such-id", "width", 1), "module 'main' has no node with id 'no-such-id'")


def test_rename_node_and_its_refusals():
    s = Session()
    fc1 = s.id("fc1")
    s.do(RenameNode("main", fc1, "stem"))
    assert s.project.main_module.node(fc1).name == "stem"
    assert s.events == [Change("node_renamed", "main", (fc1,), old_name="fc1", new_name="stem")]
    s.refused(RenameNode("main", fc1, "relu1"), "already has a node named 'relu1'")
    s.refused(RenameNode("main", fc1, "2fast"), "not a valid name")
    s.refused(RenameNode("main", fc1, "class"), "Python keyword")
    s.refused(RenameNode("main", fc1, "forward"), "reserved")
    s.undo_all_restores()


def test_renaming_an_input_or_output_renames_the_port_everywhere_it_is_used():
    s = Session()
    block1 = s.id("block1")
    s.do(RenameNode("Block", s.id("x", "Block"), "features"))
    s.do(RenameNode("Block", s.id("y", "Block"), "result"))
    main = s.project.main_module
    assert [e.dst_port for e in main.edges_into(block1)] == ["features"]
    assert [e.src_port for e in main.edges_from(block1)] == ["result"]
    assert Change("ports_changed", "main", (block1,)) in s.events
    s.undo_all_restores()


def test_move_node():
    s = Session()
    fc = s.id("fc", "Block")
    s.do(MoveNode("Block", fc, (10, -3.5)))
    assert s.project.ui.positions["Block"] == {fc: [10.0, -3.5]}
    assert s.events == [Change("node_moved", "Block", (fc,))]
    assert s.history.undo_text == "Move 'fc'"
    s.do(MoveNode("main", s.id("fc1"), None))
    s.refused(MoveNode("main", s.id("fc1"), (1.0, float("nan"))), "a position is two numbers")
    s.undo_all_restores()
    assert "Block" not in s.project.ui.positions


def test_the_order_of_position_tables_comes_back_too():
    s = Session()
    s.do(MoveNode("Block", s.id("fc", "Block"), (1, 2)))
    s.do(Batch([MoveNode("main", n.id, None) for n in s.project.main_module.nodes[:-1]]))
    s.do(RemoveNode("main", s.project.main_module.nodes[-1].id))
    assert list(s.project.ui.positions) == ["Block"]
    s.history.undo()
    s.history.undo()
    assert list(s.project.ui.positions) == ["main", "Block"]
    s.undo_all_restores()


def test_module_operations():
    s = Session()
    s.do(AddModule("Head"))
    assert list(s.project.modules) == ["main", "Block", "Head"]
    assert s.kinds() == ["module_added"]
    s.do(RemoveModule("Head"))
    assert s.kinds() == ["module_removed"]
    s.do(RenameModule("Block", "ResBlock"))
    assert list(s.project.modules) == ["main", "ResBlock"]
    assert s.project.main_module.node(s.id("block1")).module == "ResBlock"
    assert s.kinds() == ["module_renamed", "node_changed"]
    s.do(RenameModule("main", "Net"))
    assert s.project.main == "Net"
    s.history.undo()
    s.do(SetModuleParam("ResBlock", "depth", 2))
    s.do(SetModuleParam("ResBlock", "width", 32))
    assert s.project.modules["ResBlock"].params == {"width": 32, "depth": 2}
    s.do(SetModuleParam("ResBlock", "depth", None))
    assert s.kinds() == ["module_param_changed"]
    s.undo_all_restores()


def test_removing_a_module_brings_back_its_positions_and_place():
    s = Session()
    s.do(Disconnect("main", s.project.main_module.edges_into(s.id("block1"))[0]))
    s.do(RemoveNode("main", s.id("block1")))
    s.do(MoveNode("Block", s.id("fc", "Block"), (1, 2)))
    s.do(RemoveModule("Block"))
    assert "Block" not in s.project.modules and "Block" not in s.project.ui.positions
    s.undo_all_restores()


def test_module_operation_refusals():
    s = Session()
    s.refused(RemoveModule("Block"), r"module 'Block' is still used by 'block1' in main")
    s.refused(RemoveModule("main"), "main module and cannot be removed")
    s.refused(RenameModule("Block", "main"), "already a module named 'main'")
    s.refused(RenameModule("Block", "my block"), "not a valid module name")
    s.refused(AddModule("Block"), "already a module named 'Block'")
    s.refused(AddModule("lambda"), "Python keyword")
    s.refused(AddModule("Copy", s.project.modules["Block"]), "already used: give the new module fresh ids")
    s.refused(AddModule("Bad", ModuleDef(nodes=[Node("n1", "a", module="Nope")])), "uses module 'Nope'")
    s.refused(SetModuleParam("main", "hidden", None), "parameter 'hidden' is still used by 'fc1'")
    s.refused(SetModuleParam("Block", "width", None), "parameter 'width' is still used by 'fc', 'block1' in main")
    s.refused(SetModuleParam("Block", "depth", None), "module 'Block' has no parameter 'depth'")
    s.refused(SetModuleParam("Block", "depth", True), "a module parameter is a number")
    s.refused(SetModuleParam("Block", "for", 1), "Python keyword")


def test_batch_is_one_step_and_rolls_back_when_a_part_is_refused():
    s = Session()
    add = AddNode("main", block="relu", name="extra")
    ops: list[Operation] = [add, SetParam("main", add.node_id, "size", 1)]
    s.refused(Batch(ops), "ReLU has no parameter 'size'")
    s.do(Batch([AddNode("main", block="relu", name="a"), AddNode("main", block="relu", name="b")], "Add two"))
    assert s.history.undo_text == "Add two"
    assert s.history.undo() == "Add two"
    assert s.history.redo_text == "Add two"
    s.undo_all_restores()


def test_history_and_subscriptions():
    s = Session()
    assert s.history.undo() is None and s.history.redo() is None
    s.do(AddNode("main", block="relu"))
    s.history.undo()
    assert s.history.redo_text == "Add ReLU 'relu'"
    s.do(AddNode("main", block="gelu"))
    assert s.history.redo_text is None  # a new edit drops what could be redone
    unsubscribe = s.doc.subscribe(lambda change: 1 / 0)  # a broken view does not break the edit
    s.do(AddNode("main", block="tanh"))
    unsubscribe()
    assert s.kinds() == ["node_added"]
    with pytest.raises(RuntimeError, match="has not been applied"):
        AddNode("main", block="relu").inverse()
