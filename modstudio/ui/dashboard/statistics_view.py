"""Statistics over time in the Modules tab: histograms over steps, dead units and update ratios of one module.

The image has a column per recording step and a row per value band (the common range of all the
module's records): the share of the tensor's values in that band, on a square-root colour scale so
thin tails show. Under it, the dead share of a ReLU layer and the update/weight ratio (log scale).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSignalBlocker
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from . import style
from .log_axis import LogAxis
from .statistics_data import StatisticsHistory

EMPTY = "No statistics recorded: set 'statistics every' in the training settings (e.g. 50 steps) and train."


class StatisticsView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = StatisticsHistory()
        self.module_box = QComboBox()
        self.module_box.setToolTip("The module (node) whose statistics are shown")
        self.quantity_box = QComboBox()
        self.quantity_box.setToolTip("The histograms shown over steps")
        self.hint = QLabel(EMPTY)
        self.hint.setWordWrap(True)
        self.hint.setObjectName("doc")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 0, 4, 0)
        bar.addWidget(QLabel("Statistics of"))
        bar.addWidget(self.module_box, 1)
        bar.addWidget(self.quantity_box)
        self.canvas = style.layout_widget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.hint)
        layout.addWidget(self.canvas, 1)
        self.image_plot = self.canvas.addPlot(row=0, col=0)
        style.style_plot(self.image_plot, "Histograms over time", "value", "step")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(style.heatmap_lookup())
        self.image_plot.addItem(self.image)
        self.dead_plot = self.canvas.addPlot(row=1, col=0)
        style.style_plot(self.dead_plot, "Dead units (ReLU: zero for a whole batch)", "share", "step")
        self.dead_plot.setYRange(0, 1, padding=0.05)
        self.dead = self.dead_plot.plot(pen=pg.mkPen(style.ERROR, width=1.5), symbol="o", symbolSize=4)
        self.ratio_plot = self.canvas.addPlot(row=2, col=0, axisItems={"left": LogAxis("left")})
        style.style_plot(self.ratio_plot, "Update / weight ratio per step", "‖Δw‖ / ‖w‖", "step")
        self.ratio_plot.setLogMode(y=True)
        self.ratio = self.ratio_plot.plot(pen=pg.mkPen(style.TRAIN, width=1.5), symbol="o", symbolSize=4)
        self.canvas.ci.layout.setRowStretchFactor(0, 2)  # the image gets twice a curve's height
        self.canvas.ci.layout.setRowStretchFactor(1, 1)
        self.canvas.ci.layout.setRowStretchFactor(2, 1)
        self.shown: np.ndarray | None = None  # [rows, steps] shares as drawn (before the colour scale)
        self.module_box.currentIndexChanged.connect(lambda _i: self._module_changed())
        self.quantity_box.currentIndexChanged.connect(lambda _i: self.draw_current())
        self._set_empty(True)

    def draw(self, history: StatisticsHistory) -> None:
        """Show ``history`` (the same object grows during a run), keeping the chosen module and quantity."""
        self.history = history
        self._set_empty(not history)
        modules = history.modules()
        if modules != [self.module_box.itemText(i) for i in range(self.module_box.count())]:
            current = self.module_box.currentText()
            with QSignalBlocker(self.module_box):
                self.module_box.clear()
                self.module_box.addItems(modules)
                if current in modules:
                    self.module_box.setCurrentText(current)
        self._module_changed()

    def select(self, module: str, quantity: str = "activations") -> None:
        if module not in self.history.modules():
            raise KeyError(f"no statistics of '{module}' (modules: {', '.join(self.history.modules()) or 'none'})")
        self.module_box.setCurrentText(module)
        self.quantity_box.setCurrentText(quantity)
        self.draw_current()

    def _module_changed(self) -> None:
        quantities = self.history.quantities(self.module_box.currentText())
        if quantities != [self.quantity_box.itemText(i) for i in range(self.quantity_box.count())]:
            current = self.quantity_box.currentText() or "activations"
            with QSignalBlocker(self.quantity_box):
                self.quantity_box.clear()
                self.quantity_box.addItems(quantities)
                self.quantity_box.setCurrentText(current if current in quantities else quantities[0])
        self.draw_current()

    def draw_current(self) -> None:
        module, quantity = self.module_box.currentText(), self.quantity_box.currentText()
        picture = self.history.image(module, quantity) if module and quantity else None
        if picture is None:
            self.shown = None
            self.image.clear()
        else:
            self.shown = picture.shares.T
            self.image.setImage(np.sqrt(self.shown).astype(np.float32), levels=(0.0, 1.0))
            steps = picture.steps
            gap = float(np.median(np.diff(steps))) if len(steps) > 1 else 1.0
            first = float(steps[0]) - gap / 2
            width = float(steps[-1] - steps[0]) + gap
            self.image.setRect(QRectF(first, picture.low, width, picture.high - picture.low))
            self.image_plot.setXRange(first, first + width, padding=0)
            self.image_plot.setYRange(picture.low, picture.high, padding=0)
        style.set_title(self.image_plot, f"{quantity.capitalize() or 'Histograms'} of {module or '-'} over time")
        xs, ys = self.history.series(module, "dead_share").arrays()
        self.dead.setData(xs, ys)
        dead_title = "Dead units (ReLU: zero for a whole batch)"
        style.set_title(self.dead_plot, dead_title if len(xs) or not module else f"{module} is not a ReLU layer")
        xs, ys = self.history.series(module, "update_ratio").arrays()
        keep = ys > 0  # log scale
        self.ratio.setData(xs[keep], ys[keep])
        ratio_title = "Update / weight ratio per step"
        if module and not len(xs):
            ratio_title = f"{module} has no weights"
        elif len(xs) and not keep.any():
            ratio_title = f"{module}'s weights did not move"
        style.set_title(self.ratio_plot, ratio_title)

    def _set_empty(self, empty: bool) -> None:
        self.hint.setVisible(empty)
        self.canvas.setVisible(not empty)
        self.module_box.setEnabled(not empty)
        self.quantity_box.setEnabled(not empty)

    # -- for tests --------------------------------------------------------------------------
    def points(self, name: str) -> int:
        """Points drawn of the ``dead_share`` or ``update_ratio`` curve."""
        xs, _ = (self.dead if name == "dead_share" else self.ratio).getData()
        return 0 if xs is None else len(xs)
