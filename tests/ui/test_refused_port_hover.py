"""Dragging a wire over a port that refuses it says why in the status bar, before the drop."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QMouseEvent

from .conftest import send_mouse
from .test_canvas import node_named
from .test_gestures import view_pos


def hover_wire(window, start: QPoint, end: QPoint) -> None:
    """Press on ``start`` and move to ``end`` with the button held, without releasing."""
    viewport, left, none = window.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    send_mouse(viewport, QMouseEvent.Type.MouseButtonPress, start, left, left)
    for i in range(1, 7):
        send_mouse(viewport, QMouseEvent.Type.MouseMove, start + (end - start) * (i / 6), none, left)


def test_hovering_a_refused_port_says_why_in_the_status_bar(window) -> None:
    fed = node_named(window, "fc1").inputs["in"]  # x already feeds it
    hover_wire(
        window,
        view_pos(window, node_named(window, "relu1").outputs["out"].scenePos()),
        view_pos(window, fed.scenePos()),
    )
    assert fed.brush().color().name() == "#e5484d"  # drawn red
    bar = window.statusBar()
    message = bar.currentMessage()
    assert message == "Cannot connect: input 'in' of 'fc1' is already fed by 'x'; disconnect that first"
    # and there is room to show it: the problem label (stretched, it used to take the whole bar) steps aside
    # while a message shows, and the parameter count on the right leaves the rest
    assert not window.problem_label.isVisible()
    assert bar.fontMetrics().horizontalAdvance(message) < window.count_label.geometry().left()
