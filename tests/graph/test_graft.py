"""Grafting a module from another project: fresh ids, renames on clashes, rewiring, exact undo."""

from __future__ import annotations

import json

import pytest

from modstudio.blocks import default_catalog
from modstudio.compile.shapes import infer_shapes
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.document import Document, OperationError
from modstudio.graph.graft import GraftModule, SetInitWeights, SetNodeWeights, join_weights, split_weights
from modstudio.graph.io import project_from_json, project_to_json
from modstudio.graph.model import Project
from modstudio.graph.problems import ProjectError


def source_project() -> Project:
    pb = ProjectBuilder("tests/graft/source", default_catalog())
    inner = pb.module("Inner")
    inner.output("y", inner.add("linear", "fc", inner.input("x"), out_features=8))
    block = pb.module("Block")
    h = block.add("relu", "act", block.use("Inner", "inner", block.input("x")))
    block.output("y", block.add("linear", "fc2", h, out_features=4))
    main = pb.module("main")
    h = main.use("Block", "block1", main.input("x", [4]))
    main.output("y", main.add("linear", "head", h, out_features=2), task="classification")
    return pb.project("source")


def target_project() -> Project:
    pb = ProjectBuilder("tests/graft/target", default_catalog())
    inner = pb.module("Inner", "a different module of the same name")
    inner.output("y", inner.add("tanh", "act", inner.input("x")))
    main = pb.module("main")
    h = main.add("linear", "pre", main.input("x", [4]), out_features=4)
    main.output("y", main.add("linear", "head", h, out_features=2), task="classification")
    return pb.project("target")


def test_graft_copies_the_module_and_its_dependencies_with_fresh_ids_and_renames_clashes() -> None:
    source, project = source_project(), target_project()
    doc = Document(project, default_catalog())
    op = GraftModule(source, "Block", weights="runs/r/best.safetensors#block1.", frozen=True, replace="pre")
    doc.apply(op)
    assert op.grafted == "Block"
    assert list(project.modules) == ["main", "Inner", "Inner_2", "Block"]
    assert project.modules["Inner"] == target_project().modules["Inner"]  # the existing module is untouched
    assert project.modules["Block"].node_named("inner").module == "Inner_2"
    source_ids = {n.id for m in source.modules.values() for n in m.nodes}
    copied = [n.id for name in ("Inner_2", "Block") for n in project.modules[name].nodes]
    assert not source_ids & set(copied) and len(set(copied)) == len(copied)
    block = project.modules["Block"]
    assert {(e.src, e.dst) for e in block.edges} <= {(a.id, b.id) for a in block.nodes for b in block.nodes}
    node = project.main_module.node_named("pre")
    assert (node.module, node.weights, node.frozen) == ("Block", "runs/r/best.safetensors#block1.", True)
    assert infer_shapes(project).ok  # the wires of 'pre' now feed and leave the grafted node


def test_graft_is_undone_exactly_and_redone() -> None:
    source, project = source_project(), target_project()
    before = project_to_json(project)
    doc = Document(project, default_catalog())
    inverse = doc.apply(GraftModule(source, "Block", weights="w.safetensors#block1.", replace="pre"))
    after = project_to_json(project)
    redo = doc.apply(inverse)
    assert project_to_json(project) == before
    doc.apply(redo)
    assert project_to_json(project) == after


def test_graft_without_replace_adds_an_unwired_node_named_after_the_module() -> None:
    project = target_project()
    Document(project, default_catalog()).apply(GraftModule(source_project(), "Inner"))
    assert project.modules["Inner_2"].node_named("fc") is not None
    node = project.main_module.node_named("inner_2")
    assert node is not None and node.module == "Inner_2" and node.weights is None and not node.frozen


@pytest.mark.parametrize(
    "op, message",
    [
        (GraftModule(source_project(), "Missing"), "no module 'Missing'"),
        (GraftModule(source_project(), "Block", replace="nope"), "no node named 'nope'"),
        (GraftModule(source_project(), "Block", into="Elsewhere"), "no module 'Elsewhere'"),
    ],
)
def test_a_graft_that_cannot_be_made_says_why_and_changes_nothing(op: GraftModule, message: str) -> None:
    project = target_project()
    before = project_to_json(project)
    with pytest.raises(OperationError, match=message):
        Document(project, default_catalog()).apply(op)
    assert project_to_json(project) == before


def test_node_weights_and_initial_weights_are_saved_only_when_set_and_undo_exactly() -> None:
    project = target_project()
    plain = project_to_json(project)
    assert '"weights"' not in plain and '"frozen"' not in plain and '"init_weights"' not in plain
    doc = Document(project, default_catalog())
    pre = project.main_module.node_named("pre")
    undo_node = doc.apply(SetNodeWeights("main", pre.id, "a.safetensors#x.", frozen=True))
    undo_init = doc.apply(SetInitWeights("runs/r/best.safetensors"))
    data = json.loads(project_to_json(project))
    saved = next(n for n in data["modules"]["main"]["nodes"] if n["name"] == "pre")
    assert (saved["weights"], saved["frozen"]) == ("a.safetensors#x.", True)
    assert data["training"]["init_weights"] == "runs/r/best.safetensors"
    reread = project_from_json(project_to_json(project), default_catalog())
    assert project_to_json(reread) == project_to_json(project)
    doc.apply(undo_init)
    doc.apply(undo_node)
    assert project_to_json(project) == plain


def test_a_bad_weights_field_is_named_when_the_file_is_read() -> None:
    data = json.loads(project_to_json(target_project()))
    data["modules"]["main"]["nodes"][1]["weights"] = ""
    data["modules"]["main"]["nodes"][1]["frozen"] = "yes"
    with pytest.raises(ProjectError) as caught:
        project_from_json(json.dumps(data), default_catalog())
    text = caught.value.describe()
    assert "modules.main.nodes[1].weights" in text and "modules.main.nodes[1].frozen" in text


def test_weights_references_split_into_file_and_prefix() -> None:
    assert split_weights("runs/x#1/best.safetensors#block1.") == ("runs/x#1/best.safetensors", "block1.")
    assert split_weights("init.safetensors") == ("init.safetensors", "")
    assert join_weights("a.safetensors", "moe.experts.0.") == "a.safetensors#moe.experts.0."
    assert join_weights("a.safetensors", "") == "a.safetensors"
