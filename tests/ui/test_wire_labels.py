"""A new wire shows its shape label at once (not only after its node is selected or moved)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt

from modstudio.graph.ops import Connect, Disconnect

from .test_canvas import edge_into


def test_a_new_wire_is_labelled_where_the_scene_looks_for_it(window) -> None:
    edge = edge_into(window, "fc1").edge
    window.canvas.perform(Disconnect(window.scene.module_name, edge))
    window.canvas.perform(Connect(window.scene.module_name, edge))
    window.scene.items(QRectF(-1e4, -1e4, 2e4, 2e4))  # the view has painted the new wire: the scene indexed it
    window.scene.check_now()  # then the shapes arrive
    item = edge_into(window, "fc1")
    assert item.label == "[N, 2]"
    corner = item._label_rect.topLeft() + QPointF(2, 2)  # above the straight wire: only the label is there
    assert item.boundingRect().contains(corner)
    by_box = Qt.ItemSelectionMode.IntersectsItemBoundingRect
    assert item in window.scene.items(corner, by_box)  # the scene's index knows the label: it is repainted
