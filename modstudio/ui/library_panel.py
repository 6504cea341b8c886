"""ModuleLibraryPanel: the project's modules as a tree of their uses (the main module, the modules it
uses under it, and so on down) and the built-in library (ResNet, ResNeXt,
Wide-ResNet, Inception, transformer encoder). Double-click opens a project module; drag
either kind onto the canvas to use it (a built-in module is copied into the project first)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from PySide6.QtCore import QMimeData, QPoint, Qt, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QInputDialog, QMenu, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from modstudio.blocks.catalog import Catalog
from modstudio.graph.document import Change, ChangeKind, Document, Operation, SetPositions
from modstudio.graph.layout import layered_positions, missing_positions
from modstudio.graph.library import dependencies
from modstudio.graph.model import Project
from modstudio.graph.ops import AddModule, RemoveModule, RenameModule
from modstudio.graph.references import referenced_modules

from . import theme
from .canvas import MIME_LIBRARY, MIME_MODULE

KEY_ROLE = Qt.ItemDataRole.UserRole


@lru_cache(maxsize=1)
def builtin_library(catalog: Catalog) -> dict[str, Project]:
    from modstudio.library import load_library

    return load_library(catalog)


def library_import_ops(doc: Document, catalog: Catalog, key: str) -> tuple[list[Operation], str]:
    """AddModule operations that copy library module ``file:name`` (and what it uses) into the project."""
    file, _, name = key.partition(":")
    source = builtin_library(catalog)[file]
    ops: list[Operation] = []
    for dep in dependencies(source, name):
        have = doc.project.modules.get(dep)
        if have is None:
            ops.append(AddModule(dep, source.modules[dep]))
            stored = source.ui.positions.get(dep)
            placed = (
                stored if not missing_positions(stored, source.modules[dep]) else layered_positions(source.modules[dep])
            )
            ops.append(SetPositions(dep, placed, f"Place the nodes of {dep}"))
        elif have != source.modules[dep]:
            raise ValueError(f"the project already has a different module named '{dep}'")
    return ops, name


def module_uses(project: Project, catalog: Catalog) -> dict[str, list[str]]:
    """For each module of ``project``, the project modules its nodes use (as nodes or as members), in order."""
    return {
        name: list(
            dict.fromkeys(
                used for node in module.nodes for used in referenced_modules(node, catalog) if used in project.modules
            )
        )
        for name, module in project.modules.items()
    }


class ModuleTree(QTreeWidget):
    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:  # type: ignore[override]
        mime = QMimeData()
        for item in items:
            key = item.data(0, KEY_ROLE)
            if key:
                kind, _, value = str(key).partition("|")
                mime.setData(MIME_MODULE if kind == "project" else MIME_LIBRARY, value.encode())
                break
        return mime

    def mimeTypes(self) -> list[str]:
        return [MIME_MODULE, MIME_LIBRARY]


class ModuleLibraryPanel(QWidget):
    """Lists modules; ``open_module`` asks the window to drill into a project module."""

    open_module = Signal(str)

    def __init__(
        self,
        doc: Document,
        catalog: Catalog,
        perform: Callable[[Operation], bool] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.doc = doc
        self.catalog = catalog
        self.perform = perform
        self.tree = ModuleTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QTreeWidget.DragDropMode.DragOnly)
        self.tree.setIndentation(12)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree)
        self.tree.itemDoubleClicked.connect(self._double_clicked)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self._unsubscribe = doc.subscribe(self._on_change)
        self.refresh()

    def close_document(self) -> None:
        self._unsubscribe()

    def _on_change(self, change: Change) -> None:
        if change.kind.of_module or change.kind in (
            ChangeKind.NODE_ADDED,
            ChangeKind.NODE_REMOVED,
            ChangeKind.NODE_CHANGED,
        ):
            self.refresh()  # the tree follows which module uses which

    def refresh(self) -> None:
        self.tree.clear()
        project = self.doc.project
        mine = QTreeWidgetItem(["This project"])
        mine.setFlags(Qt.ItemFlag.ItemIsEnabled)
        uses = module_uses(project, self.catalog)
        shown: set[str] = set()

        def add(parent: QTreeWidgetItem, name: str, above: frozenset[str]) -> None:
            """``name`` under ``parent``, with the modules it uses under it (a module used in two places
            is listed in both; a module that uses itself, an error, is not followed round)."""
            shown.add(name)
            item = self._project_item(project, name)
            parent.addChild(item)
            for used in uses[name]:
                if used not in above:
                    add(item, used, above | {used})

        if project.main in project.modules:
            add(mine, project.main, frozenset({project.main}))
        for name in project.modules:  # modules the main module does not use (yet): at the top
            if name not in shown:
                add(mine, name, frozenset({name}))
        self.tree.addTopLevelItem(mine)
        built_in = QTreeWidgetItem(["Built-in library"])
        built_in.setFlags(Qt.ItemFlag.ItemIsEnabled)
        for file, source in builtin_library(self.catalog).items():
            for name, module in source.modules.items():
                if name == source.main:
                    continue
                item = QTreeWidgetItem([name])
                item.setData(0, KEY_ROLE, f"library|{file}:{name}")
                item.setToolTip(0, (module.doc or name) + "\n(drag onto the canvas to use it)")
                built_in.addChild(item)
        self.tree.addTopLevelItem(built_in)
        self.tree.expandAll()

    def _project_item(self, project: Project, name: str) -> QTreeWidgetItem:
        module = project.modules[name]
        item = QTreeWidgetItem([f"{name}  (main)" if name == project.main else name])
        item.setData(0, KEY_ROLE, f"project|{name}")
        item.setToolTip(0, module.doc or f"{len(module.nodes)} nodes; double-click to open, drag to use")
        item.setForeground(0, QBrush(theme.category_colour("Module")))
        return item

    def selected_module(self) -> str | None:
        item = self.tree.currentItem()
        key = str(item.data(0, KEY_ROLE) or "") if item is not None else ""
        return key.partition("|")[2] if key.startswith("project|") else None

    def rename_module(self, old: str, new: str) -> bool:
        return self.perform is not None and self.perform(RenameModule(old, new))

    def delete_module(self, name: str) -> bool:
        return self.perform is not None and self.perform(RemoveModule(name))

    def _context_menu(self, pos: QPoint) -> None:
        name = self.selected_module()
        if name is None or name == self.doc.project.main:
            return
        menu = QMenu(self)
        open_action = menu.addAction("Open")
        rename_action = menu.addAction("Rename…")
        delete_action = menu.addAction("Delete")
        chosen = menu.exec(self.tree.viewport().mapToGlobal(pos))
        if chosen is open_action:
            self.open_module.emit(name)
        elif chosen is rename_action:
            new, ok = QInputDialog.getText(self, "Rename module", "New name:", text=name)
            if ok and new.strip() and new.strip() != name:
                self.rename_module(name, new.strip())
        elif chosen is delete_action:
            self.delete_module(name)

    def _double_clicked(self, item: QTreeWidgetItem) -> None:
        key = str(item.data(0, KEY_ROLE) or "")
        if key.startswith("project|"):
            self.open_module.emit(key.partition("|")[2])
