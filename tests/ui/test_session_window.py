"""The window as a view of its EditorSession: opening is a transaction, Save / Discard / Cancel, the folders
file dialogs start in, and the runs of an unsaved project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication, QFileDialog

from modstudio.graph.io import save_project
from modstudio.library import load_template
from modstudio.ui import main_window, menus
from modstudio.ui.export_dialog import show_export_dialog


@pytest.fixture
def other_file(window, tmp_path: Path) -> Path:
    path = tmp_path / "cnn.msproj"
    save_project(load_template("cnn_digits", window.catalog), path)
    return path


def shown(window) -> tuple:
    """What the person sees of the open project: title, canvas, the docks' widgets, the document."""
    return (
        window.windowTitle(),
        window.canvas,
        window.inspector_dock.widget(),
        window.library_dock.widget(),
        window.doc,
        [n.name for n in window.doc.project.main_module.nodes],
    )


def test_a_failure_while_building_the_new_session_keeps_the_old_project(window, other_file, monkeypatch) -> None:
    before = shown(window)

    def broken(*args, **kwargs):
        raise RuntimeError("the inspector could not be built")

    monkeypatch.setattr(main_window, "Inspector", broken)
    assert not window.open_path(other_file)
    assert shown(window) == before and window.canvas.isVisible()
    assert window.reported == [f"{other_file}: RuntimeError: the inspector could not be built"]
    assert str(other_file.resolve()) not in window.recent.paths()


def test_a_failure_while_swapping_in_puts_the_old_project_back(window, other_file, monkeypatch, qtbot) -> None:
    before = shown(window)
    attach = window.training.attach

    def fails_for_the_new_one(session) -> None:
        if session.path == other_file:
            raise RuntimeError("Internal C++ object (UsageBars) already deleted")
        attach(session)

    monkeypatch.setattr(window.training, "attach", fails_for_the_new_one)
    assert not window.open_path(other_file)
    QApplication.processEvents()
    assert shown(window) == before and window.canvas.isVisible()
    assert window.training.session is window.session
    assert "UsageBars" in window.reported[-1] and "The project shown before stays open." in window.reported[-1]
    window.canvas.add_block("relu", QPointF(50, 50))  # still editable, undo still works
    assert window.isWindowModified()
    window.stack.undo()
    assert not window.isWindowModified()


def test_the_shown_module_lives_in_the_session(window) -> None:
    window.load(load_template("moe_2d", window.catalog))
    window.drill_in("Expert")
    assert window.module_path == ["main", "Expert"] == window.session.module_path
    assert window.scene.module_name == "Expert"
    window.go_up()
    assert window.session.module_path == ["main"] and window.scene.module_name == "main"


def test_unsaved_changes_offer_save_discard_cancel(window, other_file, tmp_path, monkeypatch) -> None:
    window.canvas.add_block("relu", QPointF(50, 50))
    answers: list[list[str]] = []
    window.choose = lambda title, text, options: answers.append(options) or "Cancel"
    assert not window.confirm_discard()
    assert answers == [["Save", "Discard", "Cancel"]] and window.isWindowModified()

    target = tmp_path / "saved first.msproj"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(target), ""))
    window.choose = lambda title, text, options: "Save"
    assert window.confirm_discard()  # unsaved: Save asks where, saves, then goes on
    assert target.exists() and window.path == target and not window.isWindowModified()

    window.canvas.add_block("relu", QPointF(80, 80))
    window.choose = lambda title, text, options: "Discard"
    assert window.confirm_discard()
    assert target.read_text() != ""  # Discard wrote nothing more
    assert window.open_path(other_file) and window.path == other_file


def test_save_as_starts_beside_the_project_or_in_the_last_folder_never_the_current_one(
    window, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    start = menus.suggested_save_path(window)
    assert start.parent == Path.home() and start.suffix == ".msproj" and start.parent != tmp_path
    folder = tmp_path / "projects"
    folder.mkdir()
    assert window.save_to(folder / "a.msproj")
    assert menus.suggested_save_path(window) == folder / "a.msproj"
    window.load(load_template("mlp_2d", window.catalog))  # a new unsaved project: the last folder used
    assert menus.suggested_save_path(window).parent == folder


def fake_run(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("")
    (folder / "run.json").write_text(json.dumps({"status": "completed", "epochs": 2}))
    (folder / "best.safetensors").write_bytes(b"x")
    return folder


def test_runs_of_an_unsaved_project_show_and_move_beside_the_file_on_its_first_save(window, tmp_path) -> None:
    runs = window.training.runs
    assert window.path is None and "move beside the file" in runs.where.text()
    run = fake_run(window.session.runs_root, "20260101-100000-aaaaaa")
    runs.refresh()
    assert [r.folder for r in runs.records] == [run]
    assert runs.where.text().startswith("1 run of the unsaved project")
    dialog = show_export_dialog(window)
    assert dialog.weights.text() == str(run / "best.safetensors")  # the latest run's weights by default
    assert dialog.weights_from.itemText(dialog.weights_from.count() - 1) == "fresh weights from the project's seed"
    dialog.reject()
    assert window.save_to(tmp_path / "net.msproj")
    moved = tmp_path / "net.runs" / run.name
    assert moved.is_dir() and not run.exists()
    assert [r.folder for r in runs.records] == [moved]
    assert f"Moved 1 run to {tmp_path / 'net.runs'}" in window.statusBar().currentMessage()


def test_export_suggests_a_file_beside_the_project_and_remembers_the_folder_chosen(
    window, tmp_path, monkeypatch
) -> None:
    assert window.save_to(tmp_path / "net.msproj")
    dialog = show_export_dialog(window)
    assert dialog.output.text() == str(tmp_path / "net.py")
    elsewhere = tmp_path / "exports"
    elsewhere.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(elsewhere / "m.py"), ""))
    dialog._browse_output()
    assert dialog.output.text() == str(elsewhere / "m.py")
    dialog.reject()
    again = show_export_dialog(window)  # the folder chosen is remembered (QSettings)
    assert again.output.text() == str(elsewhere / "net.py")
    again.reject()


def test_a_run_folder_gone_since_the_list_was_read_is_reported_not_shown_empty(window, tmp_path) -> None:
    run = fake_run(window.session.runs_root, "20260101-100000-aaaaaa")
    runs = window.training.runs
    runs.refresh()
    assert [r.folder for r in runs.records] == [run]
    for name in ("best.safetensors", "metrics.jsonl", "run.json"):
        (run / name).unlink()
    run.rmdir()  # deleted (or moved) by hand meanwhile
    window.training.open_run(run)
    assert window.reported == [f"{run} is gone (moved or deleted); the Runs list was read again."]
    assert runs.records == [] and not window.training.analysis_dock.isVisible()
    window.training.load_weights(run)
    assert len(window.reported) == 2 and window.doc.project.training.init_weights is None


def test_a_dashboard_warning_inside_a_module_selects_its_node_from_main(window) -> None:
    window.load(load_template("moe_2d", window.catalog))
    window.drill_in("Expert")
    window.training.select_node("moe")  # a probe path of the main network, clicked while inside Expert
    assert window.session.module_path == ["main"]
    moe = window.doc.project.main_module.node_named("moe")
    assert window.scene.selectedItems() == [window.scene.nodes[moe.id]]


def test_opening_another_project_with_a_node_selected_leaves_no_view_behind(window, other_file, qtbot) -> None:
    """The scenes of the projects shown before were kept as the window's children (all their items too), and a
    scene on its way out told the old inspector its selection changed ('Internal C++ object already deleted')."""
    node = window.scene.module.nodes[1]
    window.scene.nodes[node.id].setSelected(True)
    window.inspector.rebuild()
    assert window.open_path(other_file)
    window.scene.nodes[window.scene.module.nodes[1].id].setSelected(True)
    assert window.open_path(other_file)
    for _ in range(3):  # the old views are deleted from the event loop
        QApplication.processEvents()
        qtbot.wait(10)
    assert window.reported == []
    scenes = [child for child in window.children() if type(child).__name__ == "ModuleScene"]
    assert scenes == [window.scene]


def test_the_scene_keeps_no_copy_of_the_shown_module(window) -> None:
    window.load(load_template("moe_2d", window.catalog))
    window.session.show_module(["main", "Expert"])
    assert window.scene.module_name == window.canvas.module_name == "Expert"
    assert {n.id for n in window.session.project.modules["Expert"].nodes} == set(window.scene.nodes)
    with pytest.raises(AttributeError):
        window.scene.module_name = "main"  # read-only: the session says which module is shown


def test_every_entry_of_the_view_menu_has_its_own_name(window) -> None:
    view = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "View")
    names = [a.text().replace("&", "") for a in view.actions() if not a.isSeparator()]
    assert len(names) == len(set(names)), names
    assert "Training" in names and "Training Toolbar" in names  # the dock and the toolbar, told apart
