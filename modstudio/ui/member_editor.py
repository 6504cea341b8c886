"""Editors for composition members (ensemble, MoE, tree...): params of kind ``module``/``modules``.

Members are ModuleDefs of the project, named in the node's params. The list editor adds,
removes and opens members; each change is one SetParam (the document checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QListWidget, QPushButton, QVBoxLayout, QWidget

Commit = Callable[[Any], None]
Open = Callable[[str], None]


class MemberListEditor(QWidget):
    """A list of member modules with Add (from the project's modules), Remove and Open."""

    def __init__(self, members: list[str], modules: list[str], on_commit: Commit, on_open: Open | None) -> None:
        super().__init__()
        self.members = list(members)
        self.on_commit = on_commit
        self.on_open = on_open
        self.list = QListWidget()
        self.list.addItems(self.members)
        self.list.setMaximumHeight(84)
        self.choice = QComboBox()
        self.choice.addItems(modules)
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove")
        self.open_button = QPushButton("Open")
        self.add_button.clicked.connect(self.add)
        self.remove_button.clicked.connect(self.remove)
        self.open_button.clicked.connect(self.open)
        self.list.itemDoubleClicked.connect(lambda _item: self.open())
        self.list.setMinimumWidth(60)
        self.choice.setMinimumWidth(60)
        adding = QHBoxLayout()
        adding.setContentsMargins(0, 0, 0, 0)
        adding.addWidget(self.choice, 1)
        adding.addWidget(self.add_button)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(adding)
        layout.addLayout(buttons)
        self.open_button.setEnabled(on_open is not None)

    def add(self) -> None:
        name = self.choice.currentText()
        if name:
            self.on_commit([*self.members, name])

    def remove(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.members):
            self.on_commit(self.members[:row] + self.members[row + 1 :])

    def open(self) -> None:
        item = self.list.currentItem() or self.list.item(0)
        if item is not None and self.on_open is not None:
            self.on_open(item.text())


class MemberEditor(QWidget):
    """One member module (e.g. a tree's trunk): a combo of the project's modules and Open."""

    def __init__(
        self, value: str | None, modules: list[str], optional: bool, on_commit: Commit, on_open: Open | None
    ) -> None:
        super().__init__()
        self.combo = QComboBox()
        labels = (["(none)"] if optional or value is None else []) + modules
        self.combo.addItems(labels)
        if value in labels:
            self.combo.setCurrentText(value)
        self.combo.activated.connect(
            lambda _i: on_commit(None if self.combo.currentText() == "(none)" else self.combo.currentText())
        )
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(lambda: on_open and value and on_open(value))
        self.open_button.setEnabled(on_open is not None and bool(value))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(self.open_button)
