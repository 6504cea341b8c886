"""Colours, fonts and the application style sheet (one dark theme)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont

from modstudio.library import resources_dir

BACKGROUND = QColor("#1e1f24")
GRID = QColor("#272931")
GRID_MAJOR = QColor("#30333d")
NODE_BODY = QColor("#2c2f38")
NODE_BORDER = QColor("#444955")
SELECTED = QColor("#f0c040")
TEXT = QColor("#e6e8ee")
TEXT_DIM = QColor("#9aa1b1")
EDGE = QColor("#8c95a8")
EDGE_LABEL = QColor("#b9d3ff")
ERROR = QColor("#e5484d")
PORT_OK = QColor("#46c46e")
PORT = QColor("#c9cfdb")

CATEGORY_COLOURS: dict[str, str] = {
    "Input/Output": "#5b8def",
    "Dense": "#e0803a",
    "Convolution": "#3fb5a6",
    "Pooling": "#7cb342",
    "Normalization": "#b070d8",
    "Regularization": "#9575cd",
    "Activation": "#e4b43c",
    "Shape": "#8d99ae",
    "Merge": "#ec6f9c",
    "Embedding": "#4fc3f7",
    "Sequence": "#ff8a65",
    "Attention": "#d45a5a",
    "Conditional": "#e05fd0",
    "Composition": "#26a69a",
    "Module": "#6d7cff",
}


def category_colour(category: str) -> QColor:
    return QColor(CATEGORY_COLOURS.get(category, "#8d99ae"))


def ui_font(point_size: float = 9.0, bold: bool = False) -> QFont:
    font = QFont()
    font.setPointSizeF(point_size)
    font.setBold(bold)
    return font


CHECK_MARK = (resources_dir() / "icons" / "check.svg").as_posix()

STYLE_SHEET = """
QMainWindow, QWidget { background: #23252b; color: #e6e8ee; }
QDockWidget::title { background: #2b2e36; padding: 4px 6px; font-weight: bold; }
QTreeWidget, QListWidget, QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox, QTextBrowser {
    background: #1b1c21; border: 1px solid #3a3e49; border-radius: 3px; padding: 2px;
    selection-background-color: #3d5a99;
}
QTreeWidget::item, QListWidget::item { padding: 2px; }
QHeaderView::section { background: #2b2e36; border: none; padding: 3px; }
QPushButton, QToolButton { background: #2f333d; border: 1px solid #434857; border-radius: 3px; padding: 3px 8px; }
QPushButton:hover, QToolButton:hover { background: #3a3f4c; }
QMenuBar, QMenu { background: #2b2e36; }
QMenu::item:selected, QMenuBar::item:selected { background: #3d5a99; }
QStatusBar { background: #2b2e36; }
QLabel#doc { color: #aeb5c4; }
QLabel#error { color: #ff7b7f; }
QToolBar { background: #2b2e36; border: none; spacing: 4px; }
QPushButton:disabled, QToolButton:disabled { background: #26282e; border-color: #30333b; color: #676d7a; }
QCheckBox::indicator, QGroupBox::indicator, QTreeView::indicator, QListView::indicator {
    width: 13px; height: 13px; border: 1px solid #8c95a8; border-radius: 3px; background: #1b1c21;
}
QCheckBox::indicator:hover, QGroupBox::indicator:hover { border-color: #c9cfdb; }
QCheckBox::indicator:checked, QGroupBox::indicator:checked, QTreeView::indicator:checked,
QListView::indicator:checked { background: #3d6fd6; border-color: #5b8def; image: url(CHECK_MARK); }
QCheckBox::indicator:disabled { border-color: #4a4f5c; background: #23252b; }
QCheckBox::indicator:checked:disabled { background: #3a4559; border-color: #4a4f5c; }
QCheckBox:disabled { color: #676d7a; }
""".replace("CHECK_MARK", CHECK_MARK)
