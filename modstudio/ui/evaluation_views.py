"""The Evaluation dock's tabs, drawn from a finished evaluation (a dict of numbers and PNG bytes;
no torch here): classes (confusion matrix, per-class table, reliability diagram), mistakes (the
gallery with each sample's attribution), experts (per part: its samples' accuracy and confusion,
the network without it, member disagreement) and averaged attributions."""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


def pixmap(data: bytes) -> QPixmap:
    image = QPixmap()
    image.loadFromData(data, "PNG")
    return image


def picture(data: bytes | None = None) -> QLabel:
    label = QLabel()
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
    if data:
        label.setPixmap(pixmap(data))
    return label


def fill_table(table: QTableWidget, header: list[str], rows: list[list[Any]]) -> None:
    table.clear()
    table.setColumnCount(len(header))
    table.setRowCount(len(rows))
    table.setHorizontalHeaderLabels(header)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            text = "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
            item = QTableWidgetItem(text)
            if isinstance(value, (int, float)) or value is None:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)
    table.resizeColumnsToContents()


def new_table() -> QTableWidget:
    table = QTableWidget(0, 0)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return table


def scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    return area


class ClassesView(QWidget):
    """Confusion matrix and reliability diagram side by side with the per-class table (or, for
    regression, the residual plot and R², MAE)."""

    def __init__(self) -> None:
        super().__init__()
        self.matrix, self.reliability = picture(), picture()
        self.table = new_table()
        row = QHBoxLayout(self)
        row.addWidget(self.matrix)
        row.addWidget(self.table, 1)
        row.addWidget(self.reliability)

    def show_result(self, result: dict[str, Any], pictures: dict[str, Any]) -> None:
        if result["task"] == "classification":
            self.matrix.setPixmap(pixmap(pictures["confusion"]))
            self.reliability.setPixmap(pixmap(pictures["reliability"]))
            rows = [[r["class"], r["precision"], r["recall"], r["f1"], r["support"]] for r in result["per_class"]]
            fill_table(self.table, ["class", "precision", "recall", "F1", "support"], rows)
        else:
            self.matrix.setPixmap(pixmap(pictures["residuals"]))
            self.reliability.clear()
            rows = [["R²", result["r2"]], ["MAE", result["mae"]], ["RMSE", result["rmse"]]]
            fill_table(self.table, ["", "value"], rows)


class MistakesView(QWidget):
    """The gallery: misclassified samples (largest residuals for regression), most confident first;
    the chosen one large, with its attribution and Grad-CAM over it."""

    def __init__(self) -> None:
        super().__init__()
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(56, 56))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setWordWrap(True)
        self.gallery.setGridSize(QSize(112, 100))
        self.gallery.currentRowChanged.connect(self._chosen)
        self.points = picture()
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.TextFormat.PlainText)
        self.large = [picture() for _ in range(4)]  # the sample, attribution (predicted, true class), Grad-CAM
        side = QVBoxLayout()
        side.addWidget(self.detail)
        images = QGridLayout()
        for i, label in enumerate(self.large):
            images.addWidget(label, i // 2, i % 2, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        images.setColumnStretch(2, 1)
        side.addLayout(images)
        side.addWidget(self.points)
        side.addStretch(1)
        row = QHBoxLayout(self)
        row.addWidget(self.gallery, 1)
        row.addLayout(side)
        self._items: list[dict[str, Any]] = []

    def show_result(self, result: dict[str, Any], pictures: dict[str, Any]) -> None:
        self.gallery.clear()
        self._items = pictures["gallery"]
        self.points.setPixmap(pixmap(pictures["points"])) if pictures.get("points") else self.points.clear()
        for item in self._items:
            entry = QListWidgetItem(item["title"])
            if item.get("sample"):
                entry.setIcon(QIcon(pixmap(item["sample"])))
            entry.setToolTip(item["text"])
            self.gallery.addItem(entry)
        if self._items:
            self.gallery.setCurrentRow(0)
        else:
            self._chosen(-1)

    def _chosen(self, row: int) -> None:
        if not 0 <= row < len(self._items):
            self.detail.setText("No mistakes on this split." if not self._items else "")
            for label in self.large:
                label.clear()
            return
        item = self._items[row]
        self.detail.setText(item["text"])
        method = item.get("method", "")
        tips = ("the sample", f"{method}, predicted class", f"{method}, true class", "Grad-CAM, predicted class")
        for label, key, tip in zip(self.large, ("large", "attribution", "attribution_true", "grad_cam"), tips):
            label.setPixmap(pixmap(item[key])) if item.get(key) else label.clear()
            label.setToolTip(tip)


class ExpertsView(QWidget):
    """Per routed layer: its parts with the share and accuracy of the samples they handled, the
    network's accuracy without each, member disagreement; a part's own confusion matrix."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = QComboBox()
        self.layer.currentIndexChanged.connect(self._layer_chosen)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.table = new_table()
        self.table.currentCellChanged.connect(lambda row, *_: self._unit_chosen(row))
        self.disagreement = new_table()
        self.matrix = picture()
        left = QVBoxLayout()
        for widget in (self.layer, self.note, self.table, self.disagreement):
            left.addWidget(widget)
        row = QHBoxLayout(self)
        row.addLayout(left, 1)
        row.addWidget(self.matrix)
        self._layers: list[dict[str, Any]] = []
        self._matrices: list[list[bytes | None]] = []
        self._task = "classification"

    def show_result(self, result: dict[str, Any], pictures: dict[str, Any]) -> None:
        self._layers, self._matrices, self._task = result["experts"], pictures["unit_confusions"], result["task"]
        self.layer.blockSignals(True)
        self.layer.clear()
        for layer in self._layers:
            self.layer.addItem(f"{layer['path']} ({layer['kind'].replace('_', ' ')})")
        self.layer.blockSignals(False)
        self._layer_chosen(0)

    def _layer_chosen(self, index: int) -> None:
        if not 0 <= index < len(self._layers):
            self.note.setText("This network has no experts, branches, gates or ensemble members.")
            fill_table(self.table, [], [])
            fill_table(self.disagreement, [], [])
            self.disagreement.hide()
            self.matrix.clear()
            return
        layer = self._layers[index]
        metric = "accuracy" if self._task == "classification" else "mae"
        what = layer.get("what_if", {})
        removed = {r["name"]: r.get(what.get("metric", "")) for r in what.get("removed", [])}
        header = ["part", "samples", "share", "accuracy of its samples" if metric == "accuracy" else "MAE"]
        header.append(f"{what['metric']} without it" if what else "without it")
        rows = [[u["name"], u["samples"], u["share"], u.get(metric), removed.get(u["name"])] for u in layer["units"]]
        fill_table(self.table, header, rows)
        every = "every member sees every sample; accuracy is the member's own" if layer["kind"] == "ensemble" else ""
        self.note.setText(f"Samples each part handled and how the network does without it (renormalised). {every}")
        if "disagreement" in layer:
            names = [u["name"] for u in layer["units"]]
            fill_table(
                self.disagreement, ["disagreement", *names], [[n, *r] for n, r in zip(names, layer["disagreement"])]
            )
            self.disagreement.show()
        else:
            self.disagreement.hide()
        self.table.setCurrentCell(0, 0)
        self._unit_chosen(0)

    def _unit_chosen(self, row: int) -> None:
        index = self.layer.currentIndex()
        matrices = self._matrices[index] if 0 <= index < len(self._matrices) else []
        data = matrices[row] if 0 <= row < len(matrices) else None
        self.matrix.setPixmap(pixmap(data)) if data else self.matrix.clear()


class AttributionsView(QWidget):
    """Averaged attribution maps: per class, and per part of each routed layer (what each expert attends to)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = QWidget()
        self.box = QVBoxLayout(self.inner)
        outer = QVBoxLayout(self)
        outer.addWidget(scrolled(self.inner))

    def show_result(self, result: dict[str, Any], pictures: dict[str, Any]) -> None:
        while self.box.count():
            child = self.box.takeAt(0).widget()
            if child is not None:
                child.deleteLater()
        groups = pictures.get("averaged", [])
        if not groups:
            self.box.addWidget(QLabel(result.get("attributions_note") or "No attributions were computed."))
        for title, maps in groups:
            self.box.addWidget(QLabel(f"<b>{escape(title)}</b>"))
            row = QWidget()
            line = QHBoxLayout(row)
            for name, data in maps:
                cell = QVBoxLayout()
                cell.addWidget(picture(data))
                caption = QLabel(name)
                caption.setTextFormat(Qt.TextFormat.PlainText)
                caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
                cell.addWidget(caption)
                line.addLayout(cell)
            line.addStretch(1)
            self.box.addWidget(row)
        self.box.addStretch(1)
