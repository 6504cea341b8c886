"""The Plugins dialog: the plugins that loaded with their blocks, the ones that did not and why,
and where plugins are looked for."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from modstudio.blocks.plugins import ENTRY_POINT_GROUP, PATH_VARIABLE, PluginReport, load_plugins

from . import theme

if TYPE_CHECKING:
    from .main_window import MainWindow

TEMPLATE_ROLE = Qt.ItemDataRole.UserRole + 1  # a template item's .msproj path


class PluginsDialog(QDialog):
    """Lists ``load_plugins()``: loaded plugins (each with its blocks and templates) and problems."""

    def __init__(self, report: PluginReport | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report = report if report is not None else load_plugins()
        self.setWindowTitle("Plugins")
        self.resize(820, 480)
        self.summary = QLabel(self._summary())
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Plugin / block", "Details"])
        self.tree.setColumnWidth(0, 330)
        self.tree.setWordWrap(True)
        self._fill()
        self.tree.itemDoubleClicked.connect(lambda item, _column: self._open(item))
        self.places = QLabel(self._places())
        self.places.setWordWrap(True)
        self.places.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.places)
        layout.addWidget(buttons)

    def _summary(self) -> str:
        loaded, problems = len(self.report.plugins), len(self.report.problems)
        blocks = sum(len(p.blocks) for p in self.report.plugins)
        text = f"{loaded} plugin{'s' if loaded != 1 else ''} loaded, adding {blocks} block{'s' if blocks != 1 else ''}."
        if problems:
            text += f" {problems} plugin{'s' if problems != 1 else ''} could not be loaded (below, in red)."
        return text

    def _fill(self) -> None:
        self.loaded_group = QTreeWidgetItem(["Loaded", ""])
        for plugin in self.report.plugins:
            item = QTreeWidgetItem([plugin.name, plugin.doc or plugin.source])
            item.setToolTip(1, plugin.source)
            for spec in plugin.blocks:
                block = QTreeWidgetItem([f"{spec.title} ({spec.id})", spec.category])
                block.setToolTip(0, spec.doc)
                item.addChild(block)
            for path in plugin.templates:
                template = QTreeWidgetItem([f"template {path.stem}", f"{path} (double-click to open)"])
                template.setData(0, TEMPLATE_ROLE, str(path))
                item.addChild(template)
            item.addChild(QTreeWidgetItem(["source", plugin.source]))
            self.loaded_group.addChild(item)
        self.problem_group = QTreeWidgetItem(["Could not be loaded", ""])
        for problem in self.report.problems:
            item = QTreeWidgetItem([problem.source, problem.reason])
            item.setToolTip(0, problem.source)
            item.setToolTip(1, problem.reason)
            item.setForeground(1, QBrush(theme.ERROR))
            self.problem_group.addChild(item)
        for group in (self.loaded_group, self.problem_group):
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            self.tree.addTopLevelItem(group)
        self.problem_group.setHidden(not self.report.problems)
        self.tree.expandAll()

    def _places(self) -> str:
        folders = "; ".join(str(f) for f in self.report.folders) or "none"
        return (
            f"Plugins are looked for in these folders: {folders} (more in {PATH_VARIABLE}), and in installed "
            f"packages with a '{ENTRY_POINT_GROUP}' entry point. Changes take effect when ModStudio starts again."
        )

    def _open(self, item: QTreeWidgetItem) -> None:
        path = item.data(0, TEMPLATE_ROLE)
        if path:
            self.open_template(Path(path))

    def open_template(self, path: Path) -> bool:
        """Start a new, unsaved project from a plugin's template in the main window."""
        from modstudio.graph.io import load_project
        from modstudio.graph.problems import ProjectError

        window: MainWindow | None = self.parent()  # type: ignore[assignment]
        if window is None or not window.confirm_discard():
            return False
        try:
            project = load_project(path, window.catalog)
        except ProjectError as exc:
            window.report("Cannot open the template", exc.describe())
            return False
        window.load(project, None)
        self.accept()
        return True

    def problem_lines(self) -> list[str]:
        """What the problem list shows, one ``<source>: <reason>`` per line (for tests and copying)."""
        group = self.problem_group
        return [f"{group.child(i).text(0)}: {group.child(i).text(1)}" for i in range(group.childCount())]

    def plugin_names(self) -> list[str]:
        group = self.loaded_group
        return [group.child(i).text(0) for i in range(group.childCount())]


def show_plugins_dialog(parent: QWidget | None = None) -> PluginsDialog:
    """Open the dialog without a nested event loop (``open``, not ``exec``: qasync-safe)."""
    dialog = PluginsDialog(parent=parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
