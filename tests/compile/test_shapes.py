"""Shape inference: every edge gets its shape; the first node that cannot accept its input
gets a sentence a person understands."""

from __future__ import annotations

from pathlib import Path

from modstudio.blocks import default_catalog
from modstudio.compile.shapes import infer_shapes
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.io import load_project

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def test_each_edge_gets_its_shape():
    pb = ProjectBuilder("t")
    b = pb.module("main")
    x = b.input("x", [2])
    h = b.add("linear", "fc1", x, out_features=16)
    s = b.add("add", "skip", b.add("relu", "act", h), h)
    c = b.add("concat", "join", s, h, dim=1)
    b.output("y", b.add("linear", "head", c, out_features=3), task="classification")
    project = pb.project("t")
    shapes = infer_shapes(project)
    assert shapes.ok
    module = project.main_module
    by_name = {n.name: n.id for n in module.nodes}
    assert str(shapes.output_of(by_name["fc1"], "out")) == "[N, 16]"
    assert str(shapes.output_of(by_name["join"], "out")) == "[N, 32]"
    for edge in module.edges:
        assert shapes.output_of(edge.src, edge.src_port) is not None
    assert [str(o) for o in shapes.outputs] == ["[N, 3]"]


def test_linear_after_feature_maps_says_to_add_a_flatten():
    pb = ProjectBuilder("t")
    b = pb.module("main")
    h = b.add("relu", "act", b.input("x", [64, 7, 7]))
    h = b.add("linear", "fc2", h, out_features=10)
    b.output("y", b.add("linear", "head", h, out_features=3), task="classification")
    shapes = infer_shapes(pb.project("t"))
    assert len(shapes.errors) == 1  # nothing more is said about what lies downstream
    message = shapes.errors[0].message
    assert message.startswith("Linear 'fc2' expects a flat vector")
    assert "receives [N, 64, 7, 7]; add a Flatten before it" in message


def test_unconnected_input_is_named():
    pb = ProjectBuilder("t")
    b = pb.module("main")
    b.input("x", [4])
    b.output("y", b.add("linear", "head", b.add("relu", "lonely"), out_features=2), task="classification")
    shapes = infer_shapes(pb.project("t"))
    assert [e.message for e in shapes.errors] == ["ReLU 'lonely' has nothing connected to its input 'in'"]


def test_classification_output_needs_logits():
    pb = ProjectBuilder("t")
    b = pb.module("main")
    b.output("y", b.add("relu", "act", b.input("x", [3, 4])), task="classification")
    [problem] = infer_shapes(pb.project("t")).errors
    assert "Output 'y' (classification) expects logits [N, classes] but receives [N, 3, 4]" in problem.message


def parametric_project():
    pb = ProjectBuilder("p")
    inner = pb.module("Block", "", width=8)
    inner.output("y", inner.add("linear", "fc", inner.input("x"), out_features="=width * 2"))
    b = pb.module("main", "", base=3)
    h = b.use("Block", "first", b.input("x", [5]), width=4)
    h = b.use("Block", "second", h, width="=base + 1")
    h = b.use("Block", "third", h)
    b.output("y", h, task="regression")
    return pb.project("p")


def test_parametric_module_serves_several_sizes():
    project = parametric_project()
    shapes = infer_shapes(project)
    assert shapes.ok, shapes.errors
    ids = {n.name: n.id for n in project.main_module.nodes}
    assert str(shapes.output_of(ids["first"], "y")) == "[N, 8]"
    assert str(shapes.output_of(ids["second"], "y")) == "[N, 8]"  # (3 + 1) * 2
    assert str(shapes.output_of(ids["third"], "y")) == "[N, 16]"  # default width 8


def test_module_references_with_the_same_inputs_and_values_are_inferred_once():
    pb = ProjectBuilder("p")
    inner = pb.module("Block", "", width=8)
    inner.output("y", inner.add("linear", "fc", inner.input("x"), out_features="=width"))
    b = pb.module("main")
    x = b.input("x", [5])
    b.output("y", b.add("add", "sum", b.use("Block", "a", x, width=4), b.use("Block", "b", x, width="=2 * 2")))
    project = pb.project("p")
    shapes = infer_shapes(project)
    ids = {n.name: n.id for n in project.main_module.nodes}
    assert shapes.children[ids["a"]] is shapes.children[ids["b"]]


def test_expression_out_of_range_is_reported_inside_the_module():
    project = load_project(CORPUS / "expression_out_of_range.msproj", default_catalog())
    [problem] = infer_shapes(project).errors
    assert problem.message == (
        "module Block 'block' has a problem inside: Linear 'fc' has a bad parameter: "
        "cannot set out_features: 'width * 2' gives 0, which must be >= 1, not 0"
    )


def test_declared_input_shape_is_checked_inside_modules():
    pb = ProjectBuilder("t")
    inner = pb.module("Block")
    inner.output("y", inner.add("relu", "act", inner.input("x", [3])))
    b = pb.module("main")
    b.output("y", b.use("Block", "blk", b.input("x", [4])), task="regression")
    [problem] = infer_shapes(pb.project("t")).errors
    assert "Input 'x' declares shape [N, 3] but receives [N, 4]" in problem.message


def test_embedding_needs_indices_and_gives_features():
    pb = ProjectBuilder("t")
    b = pb.module("main")
    h = b.add("relu", "act", b.input("x", [4]))
    b.output("y", b.add("flatten", "flat", b.add("embedding", "emb", h, num_embeddings=10, embedding_dim=3)))
    [problem] = infer_shapes(pb.project("t")).errors
    assert problem.message.startswith("Embedding 'emb'")


def test_values_a_repaired_file_may_still_hold_are_named_not_raised() -> None:
    """A file opened for repair keeps wrong values as written; shape inference names them on their node
    instead of passing them to a block's rule or a module's expressions (a TypeError before)."""
    from modstudio.compile.shapes import ShapeInference
    from modstudio.library import load_template

    project = load_template("resnet18", default_catalog())
    main = project.modules[project.main]
    use = next(n for n in main.nodes if n.module == "BasicBlockDown")
    use.params["channels"] = "many"
    problems = [p.message for p in ShapeInference(project, default_catalog()).run().errors]
    assert any(
        f"'{use.name}'" in p and "cannot set channels: must be a number or an expression, not 'many'" in p
        for p in problems
    )
    moe = load_template("moe_2d", default_catalog())
    moe.modules[moe.main].node_named("moe").params["num_experts"] = "four"
    problems = [p.message for p in ShapeInference(moe, default_catalog()).run().errors]
    assert any(
        "'moe' has a bad parameter: cannot set num_experts: must be a whole number, not 'four'" in p for p in problems
    )
