"""File > Expert Surgery from a Run…: the surgery runs in the background, lands as one undo step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import QApplication

from modstudio.blocks import default_catalog
from modstudio.graph.io import load_project
from modstudio.ui.app import create_app
from modstudio.ui.dialogs import ERROR_TEXT_STYLE
from modstudio.ui.expert_surgery import ExpertSurgeryDialog
from modstudio.ui.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path: Path, topk_run) -> Iterator[MainWindow]:
    QStandardPaths.setTestModeEnabled(True)
    create_app()
    win = MainWindow(default_catalog(), QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    project_file, _ = topk_run
    win.load(load_project(project_file, default_catalog()), project_file)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.stack.setClean()
    QApplication.clipboard().clear()


def test_pruning_from_the_dialog_is_one_undo_step(window, qtbot):
    action = window.actions_by_name["expert_surgery"]
    file_menu = window.menuBar().actions()[0].menu()
    names = [a.text() for a in file_menu.actions()]
    assert names.index(action.text()) == names.index("&Graft Module from a Run…") + 1
    moe = window.doc.project.main_module.node_named("moe")
    window.scene.nodes[moe.id].setSelected(True)
    action.trigger()
    dialog = window.findChild(ExpertSurgeryDialog)
    assert dialog is not None and dialog.run.count() == 1
    dialog.surgery.setCurrentIndex(dialog.surgery.findData("prune"))
    assert dialog.node.currentText() == "moe" and dialog.keep.isVisibleTo(dialog) and not dialog.k.isVisibleTo(dialog)
    dialog.keep.setValue(3)
    dialog.operate.click()
    qtbot.waitUntil(
        lambda: bool(dialog.report.toPlainText()) or dialog.note.styleSheet() == ERROR_TEXT_STYLE, timeout=60_000
    )
    assert dialog.note.styleSheet() != ERROR_TEXT_STYLE, dialog.note.text()
    assert "importance" in dialog.report.toPlainText() and "after:" in dialog.report.toPlainText()
    assert dialog.note.text().startswith("Done: Prune experts")
    project = window.doc.project
    assert project.main_module.node_named("moe").params["num_experts"] == 3
    weights = project.training.init_weights
    assert weights.startswith("topk.prune") and weights.endswith(".init.safetensors")
    assert (window.session.path.parent / weights).is_file()
    window.stack.undo()
    assert window.doc.project.main_module.node_named("moe").params["num_experts"] == 4
    assert window.doc.project.training.init_weights is None
    dialog.surgery.setCurrentIndex(dialog.surgery.findData("unfreeze"))
    assert not dialog.operate.isEnabled() and "no frozen experts" in dialog.note.text()
