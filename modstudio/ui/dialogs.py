"""Dialogs: the new-from-template gallery, the bad-file report, questions with named answers, and the
folders file dialogs start in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
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


def ask_with_a_dialog(parent: QWidget | None, title: str, text: str) -> bool:
    """A yes-or-no question; True for Yes."""
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, text, buttons) == QMessageBox.StandardButton.Yes


def warn_with_a_dialog(parent: QWidget | None, title: str, text: str) -> None:
    """Something went wrong: a warning icon."""
    QMessageBox.warning(parent, title, text)


def inform_with_a_dialog(parent: QWidget | None, title: str, text: str) -> None:
    """Good news: an information icon, not a warning."""
    QMessageBox.information(parent, title, text)


def choose_with_a_dialog(parent: QWidget | None, title: str, text: str, options: list[str]) -> str:
    """Ask with named buttons: the first is the default, the last answers Escape (and closing the box)."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
    buttons = [box.addButton(option, QMessageBox.ButtonRole.ActionRole) for option in options]
    box.setDefaultButton(buttons[0])
    box.setEscapeButton(buttons[-1])
    box.exec()
    clicked = box.clickedButton()
    return options[buttons.index(clicked)] if clicked in buttons else options[-1]


LAST_FOLDER = "last_folder"


def remember_folder(settings: QSettings, folder: Path, key: str = LAST_FOLDER) -> None:
    """The folder a file dialog starts in next time."""
    settings.setValue(key, str(folder))


def last_folder(settings: QSettings, key: str = LAST_FOLDER) -> Path:
    """The folder last chosen (under ``key``), else the home folder; never the process's current folder."""
    value = settings.value(key, "")
    folder = Path(value) if isinstance(value, str) and value else None
    return folder if folder is not None and folder.is_dir() else Path.home()


def start_folder(settings: QSettings, project_path: Path | None, key: str = LAST_FOLDER) -> Path:
    """Where a file dialog about the project starts: beside the project, else in the last folder used."""
    return project_path.parent if project_path is not None else last_folder(settings, key)


def dialog_folder(settings: QSettings, key: str, project_path: Path | None) -> Path:
    """Where one dialog starts: the folder last chosen in it (under ``key``), else :func:`start_folder`."""
    value = settings.value(key, "")
    if isinstance(value, str) and value and Path(value).is_dir():
        return Path(value)
    return start_folder(settings, project_path)


def with_browse(field: QLineEdit, browse: Callable[[], None]) -> QWidget:
    """A path field with its "Browse…" button beside it (the export and import dialogs' rows)."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(field, 1)
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    row.addWidget(button)
    return box


ERROR_TEXT_STYLE = "color: #c0392b;"  # a dialog's note when it says what went wrong


def planned(outcome: Any, error: Callable[[str], object], failed: str) -> Any | None:
    """What a plan made in a background thread gave the dialog: its result, or None once ``error`` has been told
    ``failed: why``. The plan returns ``(True, result)`` or ``(False, why)``; what it raised beyond that is a
    sentence too, never a traceback."""
    if isinstance(outcome, Exception):
        error(f"{failed}: {type(outcome).__name__}: {outcome}")
        return None
    ok, result = outcome
    if not ok:
        error(f"{failed}: {result}")
        return None
    return result
