"""Save, reopen, dirty mark, recent files, a bad file's dialog text, autosave and recovery."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF

from modstudio.graph.io import project_to_dict
from modstudio.ui.app import offer_recovery
from modstudio.ui.files import recovery_path

from .test_canvas import node_named


def test_save_and_reopen_give_the_same_project(window, tmp_path: Path) -> None:
    window.canvas.add_block("dropout", QPointF(100, 300))
    node_named(window, "fc1").setSelected(True)
    node_named(window, "relu1").setSelected(True)
    window.canvas.group_selection()
    assert window.isWindowModified()
    path = tmp_path / "mine.msproj"
    assert window.save_to(path)
    assert not window.isWindowModified() and "mine.msproj" in window.windowTitle()
    saved = project_to_dict(window.doc.project)
    assert window.open_path(path)
    assert project_to_dict(window.doc.project) == saved
    assert window.recent.paths()[0] == str(path.resolve())
    window.recent_menu.aboutToShow.emit()
    assert [a.text() for a in window.recent_menu.actions()] == [str(path.resolve())]


def test_a_bad_file_opens_a_dialog_with_the_named_problems(window, tmp_path: Path) -> None:
    path = tmp_path / "bad.msproj"
    path.write_text('{"format_version": 1, "main": "main", "modules": ["main"]}')
    name_before = window.doc.project.name
    assert not window.open_path(path)
    assert len(window.reported) == 1
    text = window.reported[0]
    assert "modules: must be an object holding at least one module" in text and "Traceback" not in text
    assert window.doc.project.name == name_before


def test_a_file_with_a_node_that_lacks_fields_opens_to_be_repaired(window, tmp_path: Path) -> None:
    path = tmp_path / "bad.msproj"
    path.write_text('{"format_version": 1, "main": "main", "modules": {"main": {"nodes": [{"id": "a"}]}}}')
    assert window.open_path(path)
    text = window.reported[0]
    assert "modules.main.nodes[0].name: required field is missing" in text and "Traceback" not in text
    assert "modules.main.nodes[0].name: replaced by 'node_1' (it had none)" in text
    assert window.isWindowModified()
    assert [n.name for n in window.scene.module.nodes] == ["node_1"]


def test_autosave_writes_a_recovery_file_that_the_next_start_offers(window, tmp_path: Path) -> None:
    recovery_path().unlink(missing_ok=True)
    window.save_recovery()
    assert not recovery_path().exists()  # nothing unsaved, nothing to recover
    window.canvas.add_block("dropout", QPointF(100, 300))
    window.save_recovery()
    assert recovery_path().exists()
    window.canvas.add_block("relu", QPointF(100, 400))  # lost in the "crash"
    count = len(window.doc.project.main_module.nodes) - 1
    offer_recovery(window)
    assert window.asked and "did not close cleanly" in window.asked[-1]
    assert len(window.doc.project.main_module.nodes) == count
    assert window.isWindowModified() and window.path is None
    window.stack.setClean()
    window.close()
    assert not recovery_path().exists()


def test_closing_with_unsaved_changes_asks_first(window) -> None:
    window.canvas.add_block("dropout", QPointF(100, 300))
    window.choose = lambda title, text, options: "Cancel"
    assert not window.close()
    assert window.isVisible()


def test_dropping_a_project_file_on_the_canvas_opens_it(window, tmp_path: Path) -> None:
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    from modstudio.graph.io import save_project
    from modstudio.library import load_template

    path = tmp_path / "cnn.msproj"
    save_project(load_template("cnn_digits", window.catalog), path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(
        QPoint(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window.canvas.viewport(), enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(QPoint(200, 200)),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window.canvas.viewport(), drop)
    assert window.path == path
    assert any(n.block == "conv2d" for n in window.doc.project.main_module.nodes)


def test_opened_and_saved_files_are_listed_newest_first_in_open_recent(window, tmp_path) -> None:
    from modstudio.ui.menus import fill_recent

    first, second = tmp_path / "first.msproj", tmp_path / "second.msproj"
    for path in (first, second):
        window.save_to(path)
    window.open_path(first)
    fill_recent(window.recent_menu, window)
    listed = [a.text() for a in window.recent_menu.actions()]
    assert listed[:2] == [str(first.resolve()), str(second.resolve())]
    window.recent_menu.actions()[1].trigger()
    assert window.path == second.resolve() or window.path == second
