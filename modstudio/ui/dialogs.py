"""Dialogs: the new-from-template gallery and the bad-file report."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from modstudio.graph.problems import ProjectError


class TemplateGallery(QDialog):
    """Pick a template; each shows its title and what it is."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from modstudio.library import templates

        self.setWindowTitle("New from template")
        self.resize(520, 360)
        self.list = QListWidget()
        for info in templates():
            title = f"{info.title}  (from the plugin {info.plugin})" if info.plugin else info.title
            item = QListWidgetItem(f"{title}\n    {info.doc}" if info.doc else title)
            item.setData(Qt.ItemDataRole.UserRole, info.name)
            item.setToolTip(info.doc)
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # descriptions wrap
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Start a new project from one of these:"))
        layout.addWidget(self.list)
        layout.addWidget(buttons)

    def chosen(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))


def bad_file_text(error: ProjectError) -> str:
    """What the bad-file dialog says: every named problem, never a traceback."""
    return error.describe()


def show_bad_file(parent: QWidget | None, error: ProjectError) -> None:
    box = QMessageBox(
        QMessageBox.Icon.Warning, "Cannot open the project", "This project file has problems:", parent=parent
    )
    box.setInformativeText(bad_file_text(error))
    box.exec()
