"""Palette: every block by category, with a search box; drag a block onto the canvas."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from modstudio.blocks.catalog import Catalog

from . import theme
from .canvas import MIME_BLOCK

BLOCK_ROLE = Qt.ItemDataRole.UserRole


def _swatch(colour: QColor) -> QIcon:
    pixmap = QPixmap(10, 10)
    pixmap.fill(colour)
    return QIcon(pixmap)


class BlockTree(QTreeWidget):
    """The tree that starts drags: its mime data carries the block id."""

    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:  # type: ignore[override]
        mime = QMimeData()
        for item in items:
            block = item.data(0, BLOCK_ROLE)
            if block:
                mime.setData(MIME_BLOCK, str(block).encode())
                mime.setText(str(block))
                break
        return mime

    def mimeTypes(self) -> list[str]:
        return [MIME_BLOCK]


class Palette(QWidget):
    """Blocks by category; the search box filters by title, id, category and doc text."""

    def __init__(self, catalog: Catalog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.search = QLineEdit(placeholderText="Search blocks…")
        self.search.setClearButtonEnabled(True)
        self.tree = BlockTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QTreeWidget.DragDropMode.DragOnly)
        self.tree.setIndentation(12)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.items: dict[str, QTreeWidgetItem] = {}
        for category, specs in catalog.categories().items():
            group = QTreeWidgetItem([category])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            group.setForeground(0, QBrush(theme.category_colour(category)))
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            icon = _swatch(theme.category_colour(category))
            for spec in specs:
                item = QTreeWidgetItem([spec.title])
                item.setData(0, BLOCK_ROLE, spec.id)
                item.setIcon(0, icon)
                item.setToolTip(0, f"<b>{spec.title}</b> ({spec.id})<br>{spec.doc}")
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
                group.addChild(item)
                self.items[spec.id] = item
            self.tree.addTopLevelItem(group)
        self.tree.expandAll()
        self.search.textChanged.connect(self.filter)

    def filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            visible = 0
            for j in range(group.childCount()):
                item = group.child(j)
                spec = self.catalog[item.data(0, BLOCK_ROLE)]
                hay = f"{spec.title} {spec.id} {spec.category} {spec.doc}".lower()
                hidden = bool(needle) and needle not in hay
                item.setHidden(hidden)
                visible += not hidden
            group.setHidden(visible == 0)

    def visible_blocks(self) -> list[str]:
        return [block for block, item in self.items.items() if not item.isHidden() and not item.parent().isHidden()]

    def mime_for(self, block: str) -> QMimeData:
        """The mime data a drag of ``block`` carries (what the canvas receives on drop)."""
        return self.tree.mimeData([self.items[block]])
