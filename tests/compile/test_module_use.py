"""Inside a module the canvas shows the shapes of its first use, and says which use; a module used
nowhere shows no false errors about its unfed inputs."""

from __future__ import annotations

from modstudio.blocks import default_catalog
from modstudio.compile.module_use import first_use, module_view
from modstudio.compile.shapes import infer_shapes
from modstudio.graph.builder import ProjectBuilder
from modstudio.library import load_template
from modstudio.ui.checking import check_module

CATALOG = default_catalog()


def _block(hidden: int = 8) -> ProjectBuilder:
    """main: x [4] -> module Block 'b1' -> module Block 'b2' -> y; Block: Linear(hidden) -> ReLU -> Linear(4)."""
    pb = ProjectBuilder("t")
    block = pb.module("Block")
    h = block.add("linear", "fc", block.input("x"), out_features=hidden)
    block.output("y", block.add("linear", "back", block.add("relu", "act", h), out_features=4))
    main = pb.module("main")
    b1 = main.use("Block", "b1", main.input("x", [4]))
    main.output("y", main.use("Block", "b2", b1), task="regression")
    return pb


def test_the_experts_of_the_default_project_show_their_shapes_as_used_by_the_moe() -> None:
    project = load_template("moe_2d", CATALOG)
    result = check_module(project, CATALOG, "Expert")
    assert result.problems == [] and result.node_errors == {}
    assert result.note == "shapes as used by 'moe' in main"
    expert = project.modules["Expert"]
    assert result.edge_labels[(expert.node_named("x").id, "out")] == "[N, 2]"
    assert result.edge_labels[(expert.node_named("fc1").id, "out")] == "[N, 16]"
    assert result.countable and result.shapes_known


def test_the_first_use_in_order_gives_the_shapes_and_is_named() -> None:
    project = _block().project("t")
    main = infer_shapes(project, CATALOG)
    use = first_use(project, CATALOG, main, "Block")
    assert use is not None and str(use) == "'b1' in main"
    assert check_module(project, CATALOG, "Block").note == "shapes as used by 'b1' in main"


def test_a_module_used_inside_a_used_module_is_found_through_it() -> None:
    pb = _block()
    outer = pb.module("Outer")
    outer.output("y", outer.use("Block", "inner", outer.input("x")))
    project = pb.project("t")
    main = project.main_module
    main.node_named("b2").module = "Outer"
    result = check_module(project, CATALOG, "Block")
    assert result.note == "shapes as used by 'b1' in main"
    main.node_named("b1").module = "Outer"  # now Block is used only inside Outer
    result = check_module(project, CATALOG, "Block")
    assert result.note == "shapes as used by 'inner' in Outer" and not result.problems
    fc = project.modules["Block"].node_named("fc")
    assert result.edge_labels[(fc.id, "out")] == "[N, 8]"


def test_a_module_used_nowhere_shows_a_calm_note_and_no_false_error() -> None:
    pb = _block()
    spare = pb.module("Spare")
    spare.output("y", spare.add("linear", "fc", spare.input("x"), out_features=3))
    project = pb.project("t")
    result = check_module(project, CATALOG, "Spare")
    assert result.problems == [] and result.node_errors == {} and result.edge_labels == {}
    assert result.note == "not used yet: shapes appear once it is used"
    assert not result.shapes_known and not result.countable


def test_a_module_used_nowhere_with_declared_input_shapes_shows_them() -> None:
    pb = _block()
    spare = pb.module("Spare")
    spare.output("y", spare.add("linear", "fc", spare.input("x", [5]), out_features=3))
    project = pb.project("t")
    result = check_module(project, CATALOG, "Spare")
    assert result.note == "not used yet: shapes from its own Input nodes"
    assert result.edge_labels[(project.modules["Spare"].node_named("fc").id, "out")] == "[N, 3]"
    assert result.countable


def test_a_real_problem_at_the_use_shows_on_the_right_node_inside() -> None:
    project = _block().project("t")
    block = project.modules["Block"]
    block.node_named("back").params["out_features"] = 5  # b2 then receives [N, 5]: fine; y gives [N, 5]
    block.node_named("fc").block = "conv2d"  # needs images: fails on the [N, 4] that 'b1' gives
    result = check_module(project, CATALOG, "Block")
    fc = block.node_named("fc")
    assert list(result.node_errors) == [fc.id]
    assert "Conv2d 'fc'" in result.node_errors[fc.id] and "[N, 4]" in result.node_errors[fc.id]
    assert result.note == "shapes as used by 'b1' in main"
    assert not result.countable and result.shapes_known


def test_a_problem_at_or_before_the_use_is_shown_where_it_is() -> None:
    project = _block().project("t")
    main = project.main_module
    main.node_named("x").params["dtype"] = "long"  # integer indices into 'b1': a real problem, in main
    view = module_view(project, CATALOG, "Block")
    assert view.use is not None and view.shapes is not None  # b1 itself fails inside: its shapes are known
    result = check_module(project, CATALOG, "Block")
    fc = project.modules["Block"].node_named("fc")
    assert "Linear 'fc' expects real-valued features but receives [N, 4] long" in result.node_errors[fc.id]
    main.edges = [e for e in main.edges if e.dst != main.node_named("b1").id]  # b1 unfed: b2 gets nothing
    result = check_module(project, CATALOG, "Block")
    assert result.node_errors == {} and not result.shapes_known
    assert result.note.startswith("shapes unknown: its first use, 'b1' in main, gets none")
