"""Editing the data and training sections: exact undo, refused values with a sentence."""

from __future__ import annotations

import pytest

from modstudio.blocks import default_catalog
from modstudio.graph.document import Change, Document, History, OperationError
from modstudio.graph.io import project_to_json
from modstudio.graph.model import ModuleDef, Project
from modstudio.graph.section_ops import SetSectionField


@pytest.fixture
def doc() -> Document:
    return Document(Project({"main": ModuleDef()}), default_catalog())


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("training", "learning_rate", 0.05),
        ("training", "optimizer", "sgd"),
        ("training", "early_stopping_patience", 3),
        ("training", "grad_clip", 1.5),
        ("training", "aux_loss_weights", {"load_balance": 0.01}),
        ("data", "dataset", "regimes"),
        ("data", "options", {"samples": 300, "regions": 4}),
        ("data", "batch_size", 8),
        ("data", "curriculum", {"start": 0.3}),
    ],
)
def test_apply_then_undo_gives_the_same_file(doc: Document, section: str, field: str, value: object) -> None:
    history = History(doc)
    before = project_to_json(doc.project)
    history.do(SetSectionField(section, field, value))  # type: ignore[arg-type]
    assert getattr(getattr(doc.project, section), field) == value
    after = project_to_json(doc.project)
    assert after != before
    history.undo()
    assert project_to_json(doc.project) == before
    history.redo()
    assert project_to_json(doc.project) == after


def test_an_edit_is_announced_and_named_for_the_undo_menu(doc: Document) -> None:
    seen: list[Change] = []
    doc.subscribe(seen.append)
    op = SetSectionField("training", "epochs", 5)
    doc.apply(op)
    assert [(c.kind, c.module, c.param) for c in seen] == [("section_changed", "", "training.epochs")]
    assert op.description == "Set epochs"


def test_a_whole_number_for_a_float_field_is_stored_as_in_the_file(doc: Document) -> None:
    doc.apply(SetSectionField("training", "learning_rate", 1))
    assert doc.project.training.learning_rate == 1.0 and isinstance(doc.project.training.learning_rate, float)


def test_the_stored_table_is_a_copy(doc: Document) -> None:
    options = {"samples": 200}
    doc.apply(SetSectionField("data", "options", options))
    options["samples"] = 5
    assert doc.project.data.options == {"samples": 200}


@pytest.mark.parametrize(
    ("section", "field", "value", "message"),
    [
        ("training", "learning_rate", -1, "training.learning_rate must be > 0, not -1"),
        ("training", "learning_rate", 0.0, "training.learning_rate must be > 0, not 0"),
        ("training", "learning_rate", float("nan"), "training.learning_rate must be a finite number"),
        ("training", "momentum", 1.0, "training.momentum must be < 1, not 1"),
        ("training", "epochs", 0, "training.epochs must be >= 1, not 0"),
        ("training", "epochs", 2.5, "training.epochs must be a whole number, not 2.5"),
        ("training", "epochs", True, "training.epochs must be a whole number, not True"),
        ("training", "early_stopping_patience", 0, "training.early_stopping_patience must be >= 1, not 0"),
        (
            "training",
            "optimizer",
            "rmsprop",
            "training.optimizer must be one of 'sgd', 'adam' or 'adamw', not 'rmsprop'",
        ),
        ("training", "device", "tpu", "training.device must be one of"),
        ("training", "aux_loss_weights", {"z": "big"}, "training.aux_loss_weights.z must be a number, not 'big'"),
        ("training", "speed", 3, "training has no field 'speed'"),
        ("data", "batch_size", 0, "data.batch_size must be >= 1, not 0"),
        ("data", "val_fraction", 1.0, "data.val_fraction must be < 1, not 1"),
        ("data", "test_fraction", -0.1, "data.test_fraction must be >= 0, not -0.1"),
        ("data", "shuffle", "yes", "data.shuffle must be true or false, not 'yes'"),
        ("model", "x", 1, "a project has no section 'model'"),
    ],
)
def test_bad_values_are_refused_with_the_field_and_the_rule(
    doc: Document, section: str, field: str, value: object, message: str
) -> None:
    before = project_to_json(doc.project)
    seen: list[Change] = []
    doc.subscribe(seen.append)
    with pytest.raises(OperationError) as info:
        doc.apply(SetSectionField(section, field, value))  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
    assert project_to_json(doc.project) == before
    assert seen == []
