"""Module usage of every gate and MoE (share of tokens per member) and gradient norms per module."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QVBoxLayout, QWidget

from . import style
from .data import Layer, Series

SHORT = {"experts": "E", "groups": "G", "branches": "B"}
MANTISSAS = ((1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 5), (1, 3), (1,))  # richest first


class LogAxis(pg.AxisItem):
    """A log-scale axis whose labels never overlap: 1 to 9 times each power of ten where there is
    room, else 1-2-5, 1-3, each power of ten, or every second, third... power of ten."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # type: ignore[override]
        if not self.logMode:
            return super().tickValues(minVal, maxVal, size)
        low, high = sorted((minVal, maxVal))
        per_decade = size / max(high - low, 1e-9)  # pixels per power of ten
        gap = QFontMetrics(self.style.get("tickFont") or QFont()).height() * 1.2
        step = 1
        choice: tuple[int, ...] = (1,)
        for mantissas in MANTISSAS:
            ratios = [*mantissas[1:], 10]
            if min(np.log10(r / m) for m, r in zip(mantissas, ratios)) * per_decade >= gap:
                choice = mantissas
                break
        else:
            step = int(np.ceil(gap / per_decade))
        values = [
            float(decade + np.log10(m))
            for decade in range(int(np.floor(low)), int(np.ceil(high)) + 1)
            if decade % step == 0
            for m in choice
        ]
        return [(float(step), [v for v in values if low <= v <= high])]


class ModulesView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = style.layout_widget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
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
