"""Fixtures for the editor tests: a main window on a template, isolated settings and state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, QSettings, QStandardPaths, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget

from modstudio.blocks import default_catalog
from modstudio.ui.app import create_app
from modstudio.ui.files import default_project
from modstudio.ui.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path: Path) -> Iterator[MainWindow]:
    QStandardPaths.setTestModeEnabled(True)
    create_app()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(default_catalog(), settings)
    win.asked: list[str] = []  # type: ignore[misc]
    win.reported: list[str] = []  # type: ignore[misc]
    win.ask = lambda title, text: win.asked.append(text) or True  # type: ignore[method-assign]
    # Save / Discard / Cancel and the like: the tests discard unless they answer otherwise.
    win.choose = lambda title, text, options: (
        win.asked.append(text)
        or (  # type: ignore[method-assign]
            "Discard" if "Discard" in options else options[0]
        )
    )
    win.report = lambda title, text: win.reported.append(text)  # type: ignore[method-assign]
    win.informed: list[str] = []  # type: ignore[misc]
    win.inform = lambda title, text: win.informed.append(text)  # type: ignore[method-assign]
    win.load(default_project(default_catalog(), "mlp_2d"))  # the tests below name its nodes
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    QApplication.processEvents()
    yield win
    if win.stack is not None:
        win.stack.setClean()  # nothing to ask when the test closes it
    # Offscreen Qt crashes at interpreter exit when the process still owns clipboard data.
    QApplication.clipboard().clear()


def send_mouse(
    widget: QWidget, kind: QMouseEvent.Type, pos: QPoint | QPointF, button: Qt.MouseButton, buttons: Qt.MouseButton
) -> None:
    """A real mouse event with the button state a person's drag has (QTest's move has none)."""
    local = QPointF(pos)
    event = QMouseEvent(
        kind, local, QPointF(widget.mapToGlobal(local.toPoint())), button, buttons, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, event)


def drag(widget: QWidget, start: QPoint, end: QPoint, steps: int = 6) -> None:
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    send_mouse(widget, QMouseEvent.Type.MouseButtonPress, start, left, left)
    for i in range(1, steps + 1):
        point = start + (end - start) * (i / steps)
        send_mouse(widget, QMouseEvent.Type.MouseMove, point, none, left)
    send_mouse(widget, QMouseEvent.Type.MouseButtonRelease, end, left, none)
