"""A look at the project's dataset: 2-D points by class, image thumbnails, or a table of rows.

The data is loaded off the GUI thread (the engine's loaders import torch and may read
files); the widget says "loading…" meanwhile and shows a loader's error as text. Only the
newest request is shown when the settings change faster than the data loads.
"""

from __future__ import annotations

import copy
import csv
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from modstudio.graph.model import DataSection
from modstudio.ui.background import Background

MAX_POINTS = 20_000
MAX_IMAGES = 32
MAX_ROWS = 50
MAX_COLUMNS = 12
THUMB = 48
RAMP = ["#3b2f80", "#3d4f9f", "#2f74a8", "#229a9c", "#35b779", "#8fcf4a", "#d5dc2c", "#fde725"]  # low to high
COLOURS = ["#5b8def", "#e0803a", "#46c46e", "#e05fd0", "#e4b43c", "#3fb5a6", "#d45a5a", "#9575cd", "#8d99ae", "#4fc3f7"]


@dataclass
class Preview:
    """What a loader found, ready to show (plain numpy and text: made in a worker thread)."""

    kind: str  # scatter, images, table, error, empty
    title: str = ""
    points: np.ndarray | None = None  # [N, 2]
    groups: np.ndarray | None = None  # colour index per point
    legend: list[str] = field(default_factory=list)
    palette: list[str] = field(default_factory=lambda: list(COLOURS))  # colour of each group
    images: list[np.ndarray] = field(default_factory=list)  # uint8 [H, W] or [H, W, 3]
    labels: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


def make_preview(section: DataSection, base_dir: Path | None) -> Preview:
    """Load the dataset and choose how to show it (runs in a worker thread; imports torch)."""
    from modstudio.engine.data import load_dataset
    from modstudio.engine.errors import EngineError

    try:
        data = load_dataset(section, base_dir)
    except EngineError as exc:
        return Preview("error", exc.message)
    except Exception as exc:  # a broken file must not take the panel down
        return Preview("error", f"the dataset cannot be loaded: {exc}")
    what = f"{len(data):,} samples of shape {list(data.sample_shape)}"
    if data.target == "classification":
        what += f", {data.num_classes} classes"
    else:
        what += ", real-valued targets"
    title = f"{data.name}: {what}"
    if section.dataset == "csv":
        return _csv_rows(section, base_dir, title)
    x = data.x.float().numpy()
    if data.is_image:
        return _thumbnails(x, data.y.numpy(), data.class_names, title)
    if data.sample_shape == (2,):
        return _scatter(x, data.y.numpy(), data.target, data.class_names, title)
    flat = x.reshape(len(x), -1)[:MAX_ROWS, :MAX_COLUMNS]
    header = [f"x{i}" for i in range(flat.shape[1])] + ["target"]
    targets = data.y.numpy()[:MAX_ROWS]
    rows = [[f"{v:.4g}" for v in row] + [_target_text(t, data.class_names)] for row, t in zip(flat, targets)]
    return Preview("table", title, header=header, rows=rows)


def _target_text(value: Any, names: list[str]) -> str:
    if np.ndim(value) == 0 and names:
        return names[int(value)]
    return ", ".join(f"{v:.4g}" for v in np.atleast_1d(value))


def _scatter(x: np.ndarray, y: np.ndarray, target: str, names: list[str], title: str) -> Preview:
    x, y = x[:MAX_POINTS], y[:MAX_POINTS]
    if target == "classification":
        groups = y.astype(np.int64) % len(COLOURS)
        legend = [f"class {name}" for name in names or [str(i) for i in range(int(y.max()) + 1)]]
        return Preview("scatter", title, points=x.astype(np.float64), groups=groups, legend=legend)
    value = y.reshape(len(y), -1)[:, 0]  # eight bands of the (first) target value, dark to bright
    edges = np.quantile(value, np.linspace(0, 1, 9)[1:-1])
    groups = np.searchsorted(edges, value)
    legend = [f"target {value.min():.3g}", *[""] * 6, f"{value.max():.3g}"]
    return Preview("scatter", title, points=x.astype(np.float64), groups=groups, legend=legend, palette=RAMP)


def _thumbnails(x: np.ndarray, y: np.ndarray, names: list[str], title: str) -> Preview:
    images = []
    for image in x[:MAX_IMAGES]:
        scaled = np.clip(image * 255.0, 0, 255).astype(np.uint8)
        images.append(scaled[0] if scaled.shape[0] == 1 else np.ascontiguousarray(scaled[:3].transpose(1, 2, 0)))
    labels = [names[int(c)] if names else str(int(c)) for c in y[:MAX_IMAGES]]
    return Preview("images", title, images=images, labels=labels)


def _csv_rows(section: DataSection, base_dir: Path | None, title: str) -> Preview:
    path = Path(str(section.options.get("path", ""))).expanduser()
    path = path if path.is_absolute() else (base_dir or Path.cwd()) / path
    delimiter = str(section.options.get("delimiter", ","))
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(itertools.islice(csv.reader(handle, delimiter=delimiter), MAX_ROWS + 1))
    return Preview("table", title, header=rows[0], rows=rows[1:])


def _load(section: DataSection, base_dir: Path | None) -> Preview:
    """``make_preview`` for a worker thread: every failure becomes a message to show."""
    try:
        return make_preview(section, base_dir)
    except Exception as exc:  # never let a worker thread die silently
        return Preview("error", f"the dataset cannot be shown: {exc}")


class DatasetPreview(QWidget):
    """Scatter for 2-D data, thumbnails for images, a table for CSV and other data."""

    loaded = Signal(str)  # the kind shown, once a load has finished

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kind = "empty"
        self._count = 0
        self._number = 0
        self._loading = False
        self.background = Background(self, "dataset-preview")  # deleted with the widget: a late result is dropped
        self.title = QLabel("No dataset")
        self.title.setWordWrap(True)
        self.title.setObjectName("doc")
        self.plot = pg.PlotWidget(background="#1b1c21")
        self.plot.setMinimumHeight(220)
        self.plot.setMaximumHeight(360)
        self.plot.setAspectLocked(True)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(False, False)
        self.scatter = pg.ScatterPlotItem(size=4, pen=None)
        self.plot.addItem(self.scatter)
        self._brushes: dict[str, Any] = {}
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        scatter_page = QWidget()
        scatter_layout = QVBoxLayout(scatter_page)
        scatter_layout.setContentsMargins(0, 0, 0, 0)
        scatter_layout.addWidget(self.plot, 1)
        scatter_layout.addWidget(self.legend)
        self.images = QListWidget()  # thumbnails that wrap to the width of the panel
        self.images.setViewMode(QListView.ViewMode.IconMode)
        self.images.setResizeMode(QListView.ResizeMode.Adjust)
        self.images.setMovement(QListView.Movement.Static)
        self.images.setIconSize(QSize(THUMB, THUMB))
        self.images.setGridSize(QSize(THUMB + 10, THUMB + 22))
        self.images.setSelectionMode(QListView.SelectionMode.NoSelection)
        self.images.setMinimumHeight(200)
        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setMinimumHeight(200)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.pages = QStackedWidget()
        self.blank = QWidget()
        for page in (self.blank, scatter_page, self.images, self.table):
            self.pages.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.pages, 1)
        self.pages.hide()

    # what tests and the panel read -----------------------------------------------------

    def kind(self) -> str:
        """scatter, images, table, error or empty: what is shown now."""
        return self._kind

    def shown_count(self) -> int:
        """The number of points, images or rows shown."""
        return self._count

    def is_loading(self) -> bool:
        return self._loading

    # loading ---------------------------------------------------------------------------

    def show_section(self, section: DataSection | None, base_dir: Path | None = None) -> None:
        """Load the data ``section`` names in the background and show it when it is there."""
        self._number += 1
        if section is None:
            self._loading = False
            self._show(self._number, Preview("empty", "No dataset"))
            return
        self._loading = True
        self.title.setText(f"loading {section.dataset}…")
        self.title.setObjectName("doc")
        self._restyle(self.title)
        number, section = self._number, copy.deepcopy(section)
        self.background.run(lambda: _load(section, base_dir), lambda preview: self._show(number, preview))

    def _show(self, number: int, preview: Preview) -> None:
        if number != self._number:
            return  # an older request finished after a newer one was made
        self._loading = False
        self.title.setText(preview.title)
        self.title.setObjectName("error" if preview.kind == "error" else "doc")
        self._restyle(self.title)
        if preview.kind == "scatter" and preview.points is not None and preview.groups is not None:
            palette = [self._brush(c) for c in preview.palette]
            brushes = [palette[g % len(palette)] for g in preview.groups]
            self.scatter.setData(x=preview.points[:, 0], y=preview.points[:, 1], brush=brushes)
            self.plot.autoRange()
            self.legend.setText(_legend(preview.legend, preview.palette))
            self.pages.setCurrentIndex(1)
            self._count = len(preview.points)
        elif preview.kind == "images":
            self._fill_thumbnails(preview.images, preview.labels)
            self.pages.setCurrentIndex(2)
            self._count = len(preview.images)
        elif preview.kind == "table":
            self._fill_table(preview.header, preview.rows)
            self.pages.setCurrentIndex(3)
            self._count = len(preview.rows)
        else:
            self.scatter.setData(x=[], y=[])
            self.pages.setCurrentIndex(0)
            self._count = 0
        self._kind = preview.kind
        self.pages.setVisible(preview.kind in ("scatter", "images", "table"))  # no empty space under a message
        self.loaded.emit(preview.kind)

    def _brush(self, colour: str) -> Any:
        if colour not in self._brushes:
            self._brushes[colour] = pg.mkBrush(colour)
        return self._brushes[colour]

    @staticmethod
    def _restyle(label: QLabel) -> None:
        label.style().unpolish(label)
        label.style().polish(label)

    def _fill_thumbnails(self, images: list[np.ndarray], labels: list[str]) -> None:
        self.images.clear()
        for image, label in zip(images, labels):
            pixmap = _pixmap(image).scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio)
            item = QListWidgetItem(QIcon(pixmap), label)
            item.setToolTip(f"class {label}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.images.addItem(item)

    def _fill_table(self, header: list[str], rows: list[list[str]]) -> None:
        self.table.clear()
        self.table.setColumnCount(len(header))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels(header)
        for r, row in enumerate(rows):
            for c, value in enumerate(row[: len(header)]):
                self.table.setItem(r, c, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()


def _pixmap(image: np.ndarray) -> QPixmap:
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    if image.ndim == 2:
        qimage = QImage(image.data, width, height, width, QImage.Format.Format_Grayscale8)
    else:
        qimage = QImage(image.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(qimage.copy())


def _legend(names: list[str], palette: list[str]) -> str:
    dots = [f"<span style='color:{palette[i % len(palette)]}'>●</span>" for i in range(len(names))]
    if palette == RAMP:  # a scale: "target -1.2 ●●●●●●●● 2.3"
        return f"{names[0]} {''.join(dots)} {names[-1]}"
    return "&nbsp;&nbsp;".join(f"{dot}&nbsp;{name}" for dot, name in zip(dots, names))
