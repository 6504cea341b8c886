"""The search section: stored in the file, validated with named problems, edited undoably, applied exactly."""

from __future__ import annotations

import json

import pytest

from modstudio.blocks import default_catalog
from modstudio.graph.document import Document, History, OperationError
from modstudio.graph.io import project_from_json, project_to_json
from modstudio.graph.model import SearchDimension
from modstudio.graph.problems import ProjectError
from modstudio.graph.search_ops import ApplyTrial, SetObjectives, SetSearchDimension, with_values
from modstudio.graph.search_space import dimension_problem, read_value, searchable_targets
from modstudio.library import load_template

CATALOG = default_catalog()


@pytest.fixture
def moe_doc() -> Document:
    return Document(load_template("moe_2d", CATALOG), CATALOG)


def test_a_project_without_search_saves_as_before(moe_doc: Document) -> None:
    assert moe_doc.project.search is None
    assert '"search"' not in project_to_json(moe_doc.project)


def test_dimensions_and_objectives_round_trip_through_the_file(moe_doc: Document) -> None:
    history = History(moe_doc)
    history.do(
        SetSearchDimension(
            "training.learning_rate", SearchDimension("training.learning_rate", "float", 1e-4, 1e-1, log=True)
        )
    )
    history.do(
        SetSearchDimension(
            "node:main/moe.gate", SearchDimension("node:main/moe.gate", "choice", choices=["topk", "switch"])
        )
    )
    history.do(SetObjectives(["accuracy", "-flops"]))
    text = project_to_json(moe_doc.project)
    saved = json.loads(text)["search"]
    assert saved["dimensions"][0] == {
        "target": "training.learning_rate",
        "kind": "float",
        "low": 1e-4,
        "high": 0.1,
        "log": True,
    }
    assert saved["objectives"] == ["accuracy", "-flops"]
    assert project_from_json(text, CATALOG).search == moe_doc.project.search


def test_set_dimension_replaces_removes_and_undoes_exactly(moe_doc: Document) -> None:
    history = History(moe_doc)
    before = project_to_json(moe_doc.project)
    target = "node:main/moe.num_experts"
    history.do(SetSearchDimension(target, SearchDimension(target, "int", 2, 8, step=2)))
    history.do(SetSearchDimension(target, SearchDimension(target, "int", 2, 6)))
    assert [(d.target, d.high) for d in moe_doc.project.search.dimensions] == [(target, 6)]  # type: ignore[union-attr]
    history.do(SetSearchDimension(target, None))
    assert moe_doc.project.search is None  # the last dimension gone: no search section left in the file
    for _ in range(3):
        history.undo()
    assert project_to_json(moe_doc.project) == before
    with pytest.raises(OperationError, match="is not searched"):
        history.do(SetSearchDimension(target, None))


def test_apply_trial_is_one_edit_undone_exactly(moe_doc: Document) -> None:
    history = History(moe_doc)
    before = project_to_json(moe_doc.project)
    values = {
        "node:main/moe.num_experts": 6,
        "node:main/moe.gate": "topk",
        "node:Expert/fc1.out_features": 32,
        "training.learning_rate": 0.003,
        "data.options.samples": 500,
    }
    history.do(ApplyTrial(values))
    assert {t: read_value(moe_doc.project, t) for t in values} == values
    assert moe_doc.project.data.options == {"samples": 500, "regions": 4}
    assert history.undo() is not None and history.undo_text is None  # one step
    assert project_to_json(moe_doc.project) == before


def test_a_refused_value_leaves_the_project_unchanged(moe_doc: Document) -> None:
    before = project_to_json(moe_doc.project)
    with pytest.raises(OperationError, match="k of 'moe'"):
        moe_doc.apply(ApplyTrial({"training.learning_rate": 0.05, "node:main/moe.k": 0}))
    assert project_to_json(moe_doc.project) == before
    with pytest.raises(OperationError, match="no node named 'nope'"):
        with_values(moe_doc.project, {"node:main/nope.k": 1}, CATALOG)
    changed = with_values(moe_doc.project, {"node:main/moe.num_experts": 2}, CATALOG)
    assert read_value(changed, "node:main/moe.num_experts") == 2 and project_to_json(moe_doc.project) == before


@pytest.mark.parametrize(
    ("dimension", "problem"),
    [
        (SearchDimension("training.lr", "float", 0.1, 1.0), "training has no such setting"),
        (SearchDimension("node:main/nope.k", "int", 1, 2), "module 'main' has no node named 'nope'"),
        (SearchDimension("node:main/moe.size", "int", 1, 2), "has no parameter 'size'"),
        (SearchDimension("module:Nope.width", "int", 1, 2), "there is no module 'Nope'"),
        (SearchDimension("module:Expert.width", "int", 1, 2), "module 'Expert' has no parameter 'width'"),
        (SearchDimension("what", "int", 1, 2), "'what' names no setting"),
        (SearchDimension("training.learning_rate", "float", 0.1, 0.01), "low (0.1) must be below high (0.01)"),
        (SearchDimension("training.weight_decay", "float", 0.0, 0.1, log=True), "a log scale needs low above 0"),
        (SearchDimension("training.epochs", "float", 1, 3), "is a whole number: search it with kind 'int'"),
        (SearchDimension("training.epochs", "int", 1.5, 3), "low of a whole-number range must be a whole number"),
        (SearchDimension("training.momentum", "float", 0.5, 1.5), "training.momentum must be < 1"),
        (SearchDimension("node:main/moe.gate", "choice", choices=["softmax"]), "'softmax' is not one of its choices"),
        (SearchDimension("node:main/moe.gate", "int", 1, 2), "is a choice"),
        (SearchDimension("node:main/moe.num_experts", "choice", choices=[2, "four"]), "is a whole number, not 'four'"),
        (SearchDimension("node:main/moe.experts", "choice", choices=["Expert"]), "cannot be searched"),
        (SearchDimension("training.optimizer", "choice", choices=[["adam"]]), "a choice is text, a number"),
        (SearchDimension("node:main/moe.k", "int", 0, 3), "0 is not allowed (must be >= 1"),
        (SearchDimension("training.optimizer", "choice"), "needs at least one choice"),
        (SearchDimension("training.learning_rate", "float", 0.01, 0.1, step=0.01, log=True), "takes no step"),
    ],
)
def test_a_dimension_that_cannot_work_is_named(moe_doc: Document, dimension: SearchDimension, problem: str) -> None:
    why = dimension_problem(moe_doc.project, dimension, CATALOG)
    assert why is not None and problem in why
    with pytest.raises(OperationError) as refused:
        moe_doc.apply(SetSearchDimension(dimension.target, dimension))
    assert problem in str(refused.value)
    assert moe_doc.project.search is None


def test_a_file_with_a_malformed_search_is_refused_with_the_path() -> None:
    data = json.loads(project_to_json(load_template("mlp_2d", CATALOG)))
    data["search"] = {
        "dimensions": [{"target": "training.learning_rate", "kind": "float", "low": 1, "high": 0}],
        "objectives": ["speed"],
    }
    with pytest.raises(ProjectError) as caught:
        project_from_json(json.dumps(data), CATALOG)
    text = str(caught.value)
    assert "search.dimensions[0]" in text and "low (1) must be below high (0)" in text
    assert "unknown objective 'speed'" in text
    data["search"]["dimensions"][0]["kind"] = "range"
    with pytest.raises(ProjectError, match=r"search\.dimensions"):
        project_from_json(json.dumps(data), CATALOG)


def test_searchable_targets_are_those_a_dimension_accepts(moe_doc: Document) -> None:
    targets = searchable_targets(moe_doc.project, CATALOG)
    assert {
        "training.learning_rate",
        "node:main/moe.num_experts",
        "node:main/moe.k",
        "node:Expert/fc1.out_features",
    } <= set(targets)
    assert "node:main/moe.experts" not in targets and "training.aux_loss_weights" not in targets


def test_dimensions_follow_a_renamed_node_or_module_and_undo_exactly(moe_doc: Document) -> None:
    from modstudio.graph.module_ops import RenameModule
    from modstudio.graph.ops import RenameNode

    history = History(moe_doc)
    for target in ("node:main/moe.num_experts", "node:Expert/fc1.out_features"):
        history.do(SetSearchDimension(target, SearchDimension(target, "int", 4, 8)))
    before = project_to_json(moe_doc.project)
    history.do(RenameNode("main", moe_doc.project.main_module.node_named("moe").id, "mixture"))  # type: ignore[union-attr]
    history.do(RenameModule("Expert", "Specialist"))
    targets = [d.target for d in moe_doc.project.search.dimensions]  # type: ignore[union-attr]
    assert targets == ["node:main/mixture.num_experts", "node:Specialist/fc1.out_features"]
    assert dimension_problem(moe_doc.project, moe_doc.project.search.dimensions[1], CATALOG) is None  # type: ignore[union-attr]
    after = project_to_json(moe_doc.project)
    history.undo()
    history.undo()
    assert project_to_json(moe_doc.project) == before
    history.redo()
    history.redo()
    assert project_to_json(moe_doc.project) == after
