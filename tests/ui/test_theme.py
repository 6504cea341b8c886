"""The dark theme: an unchecked checkbox can be seen, a disabled button looks disabled."""

from __future__ import annotations

from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QCheckBox, QToolButton, QWidget

from modstudio.ui.app import create_app


def brightest(widget: QWidget, columns: int | None = None) -> int:
    """The highest lightness (0-255) painted in the widget (or in its first ``columns`` pixel columns)."""
    widget.resize(widget.sizeHint())
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    width = min(columns or image.width(), image.width())
    return max(QColor(image.pixel(x, y)).lightness() for x in range(width) for y in range(image.height()))


def test_an_unchecked_checkbox_stands_out_from_the_background(qtbot) -> None:
    create_app()
    box = QCheckBox()  # no text: all that is drawn is the indicator
    qtbot.addWidget(box)
    background = QColor("#23252b").lightness()
    assert brightest(box) - background > 80


def test_a_disabled_toolbar_button_is_dimmed(qtbot) -> None:
    create_app()
    enabled, disabled = QToolButton(text="Pause"), QToolButton(text="Pause")
    disabled.setEnabled(False)
    for button in (enabled, disabled):
        qtbot.addWidget(button)
    assert brightest(enabled) - brightest(disabled) > 80
