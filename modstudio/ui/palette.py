"""Palette: every block by category, with a search box; drag a block onto the canvas.

While searching, the matches are one list, best first: a title, id or alias equal to the
search, then those starting with it, then a word starting with it, then those containing it,
then a category, then a description that mentions it."""

from __future__ import annotations

import re

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from modstudio.blocks.catalog import Catalog
from modstudio.blocks.spec import BlockSpec

from . import theme
from .canvas import MIME_BLOCK

BLOCK_ROLE = Qt.ItemDataRole.UserRole


def match_rank(spec: BlockSpec, needle: str) -> int | None:
    """How well a block matches a (lower-case) search: 0 is best; None when it does not match."""
    names = [name.lower() for name in (spec.title, spec.id, *spec.aliases)]
    words = [word for name in names for word in re.split(r"[\s_\-/]+", name)]
    tests = (
        needle in names,
        any(name.startswith(needle) for name in names),
        any(word.startswith(needle) for word in words),
        any(needle in name for name in names),
        needle in spec.category.lower(),
        needle in spec.doc.lower(),
    )
    return next((rank for rank, found in enumerate(tests) if found), None)


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
    """Blocks by category; searching lists the matches by title, id, alias, category and doc text, best first."""

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
        self.groups: list[QTreeWidgetItem] = []
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
            self.groups.append(group)
        self.tree.expandAll()
        self.search.textChanged.connect(self.filter)

    def filter(self, text: str) -> None:
        """Categories when the search is empty; else the matching blocks, best first, in one list."""
        needle = text.strip().lower()
        for item in self.items.values():
            parent = item.parent()
            if parent is not None:
                parent.removeChild(item)
            elif (index := self.tree.indexOfTopLevelItem(item)) >= 0:
                self.tree.takeTopLevelItem(index)
        for group in self.groups:
            group.setHidden(bool(needle))
        order = list(self.items)  # palette order breaks ties
        if not needle:
            for block in order:
                category = self.catalog[block].category
                next(g for g in self.groups if g.text(0) == category).addChild(self.items[block])
            self.tree.expandAll()
            return
        ranks = {block: match_rank(self.catalog[block], needle) for block in order}
        found = [block for block in order if ranks[block] is not None]
        found.sort(key=lambda block: (ranks[block], len(self.catalog[block].title), order.index(block)))
        for block in found:
            self.tree.addTopLevelItem(self.items[block])
        if found:
            self.tree.setCurrentItem(self.items[found[0]])

    def visible_blocks(self) -> list[str]:
        """The blocks the palette shows, top to bottom."""
        shown: list[str] = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top.isHidden():
                continue
            children = [top.child(j) for j in range(top.childCount())] if top.data(0, BLOCK_ROLE) is None else [top]
            shown += [str(item.data(0, BLOCK_ROLE)) for item in children if not item.isHidden()]
        return shown

    def mime_for(self, block: str) -> QMimeData:
        """The mime data a drag of ``block`` carries (what the canvas receives on drop)."""
        return self.tree.mimeData([self.items[block]])
