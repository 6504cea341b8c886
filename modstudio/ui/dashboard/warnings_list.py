"""The warnings list (collapse, dead experts, NaN, errors); clicking one names the node to select."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from . import style
from .run_data import Warning_

PATH_ROLE = Qt.ItemDataRole.UserRole


class WarningsList(QListWidget):
    node_clicked = Signal(str)  # the path of the layer a clicked warning is about

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMaximumHeight(76)
        self.setWordWrap(True)
        self.setToolTip("Routing and training warnings; click one to select its node on the canvas")
        self.itemClicked.connect(self._clicked)
        self._shown = 0  # warnings shown (the placeholder does not count)
        self._placeholder()

    def _placeholder(self) -> None:
        self._shown = 0
        item = QListWidgetItem("No warnings")
        item.setForeground(QColor(style.AXIS))
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        self.addItem(item)

    def show_warnings(self, warnings: list[Warning_]) -> None:
        """Append the warnings not shown yet (the list only grows during a run; empty means a new run)."""
        if len(warnings) < self._shown:  # a new run
            self.clear()
            self._shown = 0
        if not warnings:
            self.clear()
            self._placeholder()
            return
        if self._shown == 0:
            self.clear()  # the placeholder goes
        for warning in warnings[self._shown :]:
            marker = "⛔" if warning.severity == "error" else "⚠"
            item = QListWidgetItem(f"{marker}  {warning.text}")
            item.setForeground(QColor(style.ERROR if warning.severity == "error" else style.WARNING))
            item.setData(PATH_ROLE, warning.path)
            if warning.path:
                item.setToolTip(f"Click to select '{warning.path}' on the canvas")
            self.addItem(item)
        self._shown = len(warnings)
        self.scrollToBottom()

    def texts(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count()) if self.item(i).data(PATH_ROLE) is not None]

    def _clicked(self, item: QListWidgetItem) -> None:
        path = item.data(PATH_ROLE)
        if path:
            self.node_clicked.emit(str(path))
