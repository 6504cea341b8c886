"""Module usage of every gate and MoE (share of tokens per member), gradient norms per module, and the
statistics over time of one module (histograms over steps, dead units, update ratios: statistics_view.py)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from . import style
from .data import Layer, Series
from .log_axis import LogAxis
from .statistics_data import StatisticsHistory
from .statistics_view import StatisticsView

SHORT = {"experts": "E", "groups": "G", "branches": "B"}


class ModulesView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = style.layout_widget()
        self.statistics = StatisticsView()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.canvas)
        split.addWidget(self.statistics)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([400, 600])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self.usage_plot = self.canvas.addPlot(row=0, col=0)
        style.style_plot(self.usage_plot, "Module usage (share of tokens per member)", "share", "")
        self.usage = pg.BarGraphItem(x=[], height=[], width=0.75)
        self.usage_plot.addItem(self.usage)
        self.usage_plot.setMouseEnabled(x=False, y=False)
        self.grad_plot = self.canvas.addPlot(row=1, col=0)
        style.style_plot(self.grad_plot, "Gradient norm per module (latest)", "‖∇‖₂", "")
        self.grad_bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush=pg.mkBrush(style.TRAIN))
        self.grad_plot.addItem(self.grad_bars)
        self.grad_plot.setMouseEnabled(x=False, y=False)
        self.history_plot = self.canvas.addPlot(row=2, col=0, axisItems={"left": LogAxis("left")})
        style.style_plot(self.history_plot, "Gradient norm over time", "‖∇‖₂", "step")
        self.history_plot.setLogMode(y=True)
        self.history_legend = style.legend(self.history_plot)
        self.history: dict[str, pg.PlotDataItem] = {}
        self._layer_labels: list[pg.TextItem] = []  # one per layer above its bars (made when the layers change)
        self._labelled: list[str] = []
        self.plots = (self.usage_plot, self.grad_plot, self.history_plot)

    def draw_usage(self, layers: list[Layer]) -> None:
        xs: list[float] = []
        heights: list[float] = []
        brushes = []
        ticks: list[tuple[float, str]] = []
        centres: list[float] = []
        position = 0.0
        for layer in layers:
            total = float(layer.load.sum()) if layer.load.size == layer.count else 0.0
            shares = layer.load / total if total > 0 else np.zeros(layer.count)
            for i in range(layer.count):
                xs.append(position)
                heights.append(float(shares[i]))
                brushes.append(pg.mkBrush(style.expert_colour(i)))
                ticks.append((position, f"{SHORT.get(layer.level, 'E')}{i}"))
                position += 1.0
            centres.append(position - (layer.count + 1) / 2)
            position += 0.8  # a gap between layers
        self.usage.setOpts(x=np.asarray(xs), height=np.asarray(heights), width=0.75, brushes=brushes)
        self.usage_plot.getAxis("bottom").setTicks([ticks])
        if xs:
            self.usage_plot.setXRange(-0.6, xs[-1] + 0.6, padding=0)
        top = max(max(heights, default=0.0), 0.05)
        self.usage_plot.setYRange(0, top * 1.3, padding=0)
        self._label_layers([layer.name for layer in layers], centres, top * 1.27)

    def _label_layers(self, names: list[str], centres: list[float], y: float) -> None:
        """The layer name above each group of bars (only when there is more than one layer)."""
        names = names if len(names) > 1 else []
        if names != self._labelled:
            for item in self._layer_labels:
                self.usage_plot.removeItem(item)
            self._layer_labels = [pg.TextItem(name, color=style.AXIS, anchor=(0.5, 0)) for name in names]
            for item in self._layer_labels:
                self.usage_plot.addItem(item)
            self._labelled = names
        for item, x in zip(self._layer_labels, centres):
            item.setPos(x, y)

    def draw_gradients(self, norms: dict[str, float], history: dict[str, Series]) -> None:
        names = list(norms)
        self.grad_bars.setOpts(x=np.arange(len(names)), height=np.asarray([norms[n] for n in names]), width=0.6)
        self.grad_plot.getAxis("bottom").setTicks([[(float(i), n) for i, n in enumerate(names)]])
        if names:
            self.grad_plot.setXRange(-0.6, len(names) - 0.4, padding=0)
        for name, series in history.items():
            item = self.history.get(name)
            if item is None:
                colour = style.SERIES[len(self.history) % len(style.SERIES)]
                item = self.history[name] = self.history_plot.plot(pen=pg.mkPen(colour, width=1.5), name=name)
            xs, ys = series.arrays()
            keep = ys > 0  # log scale
            item.setData(xs[keep], ys[keep])
        for name, item in self.history.items():
            if name not in history:
                item.setData([], [])

    def draw_statistics(self, history: StatisticsHistory) -> None:
        self.statistics.draw(history)


__all__ = ["LogAxis", "ModulesView"]
