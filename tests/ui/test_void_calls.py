"""PySide6 6.12.0 on CPython 3.11 drops a reference to None on every void Qt call and dies
after ~5,200 of them (FIELD-NOTES). Dragging a node makes thousands of such calls."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene


def test_twenty_thousand_void_calls_keep_none_alive(qapp) -> None:
    scene = QGraphicsScene()
    item = QGraphicsRectItem(0, 0, 10, 10)
    scene.addItem(item)
    before = sys.getrefcount(None)
    for i in range(20_000):
        item.setPos(i % 97, i % 89)
    after = sys.getrefcount(None)
    assert item.x() == 19_999 % 97
    if sys.version_info < (3, 12):  # None is immortal from 3.12 on; its count means nothing there
        assert before - after < 1_000, f"{before - after} references to None were lost"
