"""File > Graft Module from a Run: another project's trained module comes in, undoably."""

from __future__ import annotations

from pathlib import Path

import pytest

from modstudio.blocks import default_catalog
from modstudio.engine.session import prepare
from modstudio.engine.settings import TrainSettings
from modstudio.engine.train import Trainer
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.io import save_project
from modstudio.graph.model import DataSection, TrainingSection
from modstudio.ui.dialogs import ERROR_TEXT_STYLE


@pytest.fixture(scope="module")
def source_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a module 'Block' (2 -> 2 features) and one short run that saved weights."""
    pb = ProjectBuilder("tests/ui/graft/source", default_catalog())
    block = pb.module("Block")
    h = block.add("relu", "act", block.add("linear", "fc1", block.input("x"), out_features=8))
    block.output("y", block.add("linear", "fc2", h, out_features=2))
    main = pb.module("main")
    h = main.use("Block", "block1", main.input("x", [2]))
    main.output("y", main.add("linear", "head", main.add("relu", "act", h), out_features=2), task="classification")
    project = pb.project(
        "source",
        data=DataSection(dataset="moons", options={"samples": 200, "noise": 0.2}, batch_size=50),
        training=TrainingSection(learning_rate=0.05, epochs=1, device="cpu"),
    )
    path = tmp_path_factory.mktemp("source") / "source.msproj"
    save_project(project, path)
    session = prepare(project, TrainSettings(), path)
    Trainer(session, lambda message: None).run()
    assert (session.folder.path / "best.safetensors").is_file() or (session.folder.path / "last.safetensors").is_file()
    return path


def select_node(window, name: str) -> str:
    node = window.doc.project.main_module.node_named(name)
    window.scene.nodes[node.id].setSelected(True)
    return node.id


def test_grafting_a_trained_module_replaces_the_selected_node_and_undo_removes_it(
    window, qtbot, tmp_path, source_file
) -> None:
    assert window.actions_by_name["graft"].text() == "&Graft Module from a Run…"
    assert window.save_to(tmp_path / "mine.msproj")
    select_node(window, "fc1")
    dialog = window.open_graft_dialog()
    assert dialog.replace.isVisible() and "'fc1'" in dialog.replace.text()
    assert dialog.choose_source(source_file)
    assert [dialog.module.itemText(i) for i in range(dialog.module.count())] == ["Block"]
    assert dialog.runs.topLevelItemCount() == 1
    run_item = dialog.runs.topLevelItem(0)
    assert run_item.text(1) and "accuracy" in run_item.text(2)
    dialog.runs.setCurrentItem(run_item)
    dialog.frozen.setChecked(True)
    dialog.replace.setChecked(True)
    dialog.graft_button.click()
    assert not dialog.graft_button.isEnabled()  # planning in the background
    qtbot.waitUntil(lambda: not dialog.isVisible() or dialog.is_error(), timeout=30_000)
    assert not dialog.isVisible(), dialog.note.text()

    project = window.doc.project
    assert "Block" in project.modules
    node = project.main_module.node_named("fc1")
    assert node.module == "Block" and node.frozen
    assert node.weights.startswith("../") and node.weights.endswith(".safetensors#block1.")
    assert (tmp_path / node.weights.split("#")[0]).resolve().is_file()  # relative to the project's folder
    message = window.statusBar().currentMessage()
    assert message.startswith("Grafted 'Block' as 'Block'") and "(frozen)" in message

    window.stack.undo()
    project = window.doc.project
    assert "Block" not in project.modules
    node = project.main_module.node_named("fc1")
    assert node.block == "linear" and node.module is None and node.weights is None


def test_an_unsaved_project_is_refused_with_a_sentence_and_nothing_changes(window, qtbot, source_file) -> None:
    before = window.stack.count()
    modules = set(window.doc.project.modules)
    dialog = window.open_graft_dialog()
    assert not dialog.replace.isVisible()  # nothing selected on the canvas
    assert dialog.choose_source(source_file)
    dialog.graft_button.click()
    assert dialog.isVisible() and dialog.note.styleSheet() == ERROR_TEXT_STYLE
    assert dialog.note.text().startswith("Save this project first")
    assert window.stack.count() == before and set(window.doc.project.modules) == modules
    dialog.reject()


def test_a_bad_source_file_is_named_in_the_dialog_and_nothing_changes(window, tmp_path) -> None:
    assert window.save_to(tmp_path / "mine.msproj")
    before = window.stack.count()
    bad = tmp_path / "bad.msproj"
    bad.write_text("{ not json")
    dialog = window.open_graft_dialog()
    assert not dialog.choose_source(bad)
    assert dialog.is_error() and "bad.msproj cannot be used" in dialog.note.text()
    assert not dialog.graft_button.isEnabled() and dialog.module.count() == 0
    assert not dialog.choose_source(tmp_path / "missing.msproj")
    assert "cannot read the file" in dialog.note.text()
    assert window.stack.count() == before and "Block" not in window.doc.project.modules
    dialog.reject()


def test_a_graft_that_does_not_fit_is_said_in_red_and_nothing_changes(window, qtbot, tmp_path, source_file) -> None:
    assert window.save_to(tmp_path / "mine.msproj")
    select_node(window, "fc2")  # its input has 64 features; the trained Block takes 2
    before = window.stack.count()
    dialog = window.open_graft_dialog()
    assert dialog.choose_source(source_file)
    dialog.replace.setChecked(True)
    dialog.graft_button.click()
    qtbot.waitUntil(dialog.is_error, timeout=30_000)
    assert dialog.isVisible() and "do not fit" in dialog.note.text()
    assert window.stack.count() == before and "Block" not in window.doc.project.modules
    assert window.doc.project.main_module.node_named("fc2").block == "linear"
    dialog.reject()
