"""Composition nodes (MoE, ensembles...): add, remove and open their member modules."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent

from modstudio.library import load_template
from modstudio.ui.files import place_unplaced_nodes
from modstudio.ui.member_editor import MemberListEditor

from .conftest import send_mouse
from .test_canvas import node_named


def open_moe(window) -> None:
    project = load_template("moe_2d", window.catalog)
    place_unplaced_nodes(project)
    window.load(project)
    window.scene.check_now()


def test_add_remove_and_open_experts_from_the_inspector(window) -> None:
    open_moe(window)
    assert not any(item.error for item in window.scene.nodes.values())
    node_named(window, "moe").setSelected(True)
    window.inspector.rebuild()
    editor = window.inspector.editors["experts"]
    assert isinstance(editor, MemberListEditor) and editor.members == ["Expert"]
    editor.choice.setCurrentText("Expert")
    editor.add_button.click()
    assert window.scene.module.node_named("moe").params["experts"] == ["Expert", "Expert"]
    window.inspector.rebuild()
    editor = window.inspector.editors["experts"]
    editor.list.setCurrentRow(1)
    editor.remove_button.click()
    assert window.scene.module.node_named("moe").params["experts"] == ["Expert"]
    window.inspector.rebuild()
    window.inspector.editors["experts"].open_button.click()
    assert window.module_path == ["main", "Expert"]


def test_double_click_a_mixture_opens_its_expert(window) -> None:
    open_moe(window)
    item = node_named(window, "moe")
    point = window.canvas.mapFromScene(item.sceneBoundingRect().center() + QPointF(0, -8))
    left = Qt.MouseButton.LeftButton
    send_mouse(window.canvas.viewport(), QMouseEvent.Type.MouseButtonDblClick, point, left, left)
    assert window.scene.module_name == "Expert"
