"""The routing of one selected layer: tokens per expert now, load over time, class x expert, router health, aux losses."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from . import style
from .data import Layer

HEALTH = ("router entropy / ln E", "CV of load", "dropped share")
SHORT = {"experts": "E", "groups": "G", "branches": "B"}
SINGULAR = {"experts": "expert", "groups": "group", "branches": "branch"}


def member_ticks(layer: Layer) -> list[tuple[float, str]]:
    prefix = SHORT.get(layer.level, "E")
    step = max(1, layer.count // 16)  # keep the labels readable for many experts
    return [(float(i), f"{prefix}{i}") for i in range(0, layer.count, step)]


class RoutingView(QWidget):
    layer_chosen = Signal(str)  # a layer name, chosen by the person

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setMinimumWidth(180)
        self.combo.setToolTip("Which MoE or gate layer to show (one entry per level of a hierarchical MoE)")
        self.summary = QLabel("No MoE or gate layers in this network")
        self.summary.setObjectName("doc")
        top = QHBoxLayout()
        top.setContentsMargins(6, 4, 6, 0)
        top.addWidget(QLabel("Layer"))
        top.addWidget(self.combo)
        top.addWidget(self.summary, 1)
        self.canvas = style.layout_widget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.canvas)
        self.combo.activated.connect(lambda _index: self.layer_chosen.emit(self.combo.currentText()))
        self._build_plots()

    def _build_plots(self) -> None:
        c = self.canvas
        self.bars_plot = c.addPlot(row=0, col=0)
        style.style_plot(self.bars_plot, "Tokens per expert (per step)", "tokens", "expert")
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.bars_plot.addItem(self.bars)
        self.capacity_line = pg.InfiniteLine(
            angle=0, pen=pg.mkPen(style.CAPACITY, width=1.5, style=Qt.PenStyle.DashLine)
        )
        self.fair_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(style.FAIR_SHARE, width=1, style=Qt.PenStyle.DotLine))
        self.bars_plot.addItem(self.capacity_line)
        self.bars_plot.addItem(self.fair_line)
        self.bars_plot.setMouseEnabled(x=False, y=False)

        self.load_plot = c.addPlot(row=0, col=1)
        style.style_plot(self.load_plot, "Load over time (1 = fair share)", "expert", "step")
        self.load_image = pg.ImageItem(axisOrder="row-major")
        self.load_image.setLookupTable(style.heatmap_lookup())
        self.load_plot.addItem(self.load_image)
        self.load_bar = pg.ColorBarItem(values=(0, 2), colorMap=pg.colormap.get(style.HEATMAP), interactive=False,
                                        width=10)  # fmt: skip
        self.load_bar.setImageItem(self.load_image, insert_in=self.load_plot)

        self.labels_plot = c.addPlot(row=1, col=0)
        style.style_plot(self.labels_plot, "Class x expert (share of each class)", "class", "expert")
        self.labels_image = pg.ImageItem(axisOrder="row-major")
        self.labels_image.setLookupTable(style.heatmap_lookup())
        self.labels_plot.addItem(self.labels_image)
        self.labels_plot.invertY(True)

        self.health_plot = c.addPlot(row=1, col=1)
        style.style_plot(self.health_plot, "Router health", "", "step")
        style.coloured_title(
            self.health_plot, "Router health", ["entropy / ln E", "load CV", "dropped share"], style.SERIES
        )
        self.health = {
            name: self.health_plot.plot(pen=pg.mkPen(colour, width=1.5)) for name, colour in zip(HEALTH, style.SERIES)
        }
        self.aux_plot = c.addPlot(row=2, col=0, colspan=2)
        style.style_plot(self.aux_plot, "Auxiliary losses (weighted)", "loss", "step")
        self.aux: dict[str, pg.PlotDataItem] = {}
        self._aux_colours: dict[str, str] = {}
        c.ci.layout.setRowStretchFactor(0, 3)
        c.ci.layout.setRowStretchFactor(1, 3)
        c.ci.layout.setRowStretchFactor(2, 2)
        self.plots = (self.bars_plot, self.load_plot, self.labels_plot, self.health_plot, self.aux_plot)

    # -- layers -----------------------------------------------------------------------------
    def set_layers(self, names: list[str]) -> None:
        current = self.combo.currentText()
        if [self.combo.itemText(i) for i in range(self.combo.count())] == names:
            return
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems(names)
        if current in names:
            self.combo.setCurrentText(current)
        self.combo.blockSignals(False)

    def current(self) -> str:
        return self.combo.currentText()

    def select(self, name: str) -> None:
        index = self.combo.findText(name)
        if index < 0:
            raise KeyError(f"no routing layer named '{name}' (layers: {', '.join(self.names()) or 'none'})")
        self.combo.setCurrentIndex(index)

    def names(self) -> list[str]:
        return [self.combo.itemText(i) for i in range(self.combo.count())]

    def bar_count(self) -> int:
        return len(self.bars.opts.get("height", []))

    # -- drawing ----------------------------------------------------------------------------
    def clear(self) -> None:
        """No layer and empty plots (a new run, or another project)."""
        self.set_layers([])
        self.bars.setOpts(x=[], height=[], width=0.7, brushes=None, pens=None)
        self.capacity_line.setVisible(False)
        self.fair_line.setVisible(False)
        self.load_image.clear()
        self.labels_image.clear()
        for item in [*self.health.values(), *self.aux.values()]:
            item.setData([], [])
        style.coloured_title(self.aux_plot, "Auxiliary losses (weighted)", [], [], per_line=4)
        self.summary.setText("Routing shows here while a network with MoE or gate layers trains")

    def draw(self, layer: Layer | None, label_name: str) -> None:
        if layer is None:
            self.summary.setText("No MoE or gate layers in this network")
            return
        self._draw_bars(layer)
        self._draw_load(layer)
        self._draw_labels(layer, label_name)
        for name, item in self.health.items():
            series = layer.series.get(name)
            item.setData(*(series.arrays() if series else ([], [])))
        for key in layer.series:
            if key.startswith("aux:") and key not in self.aux:
                colour = style.SERIES[(len(self.aux) + 3) % len(style.SERIES)]
                self.aux[key] = self.aux_plot.plot(pen=pg.mkPen(colour, width=1.5))
                self._aux_colours[key] = colour
        for key, item in self.aux.items():
            series = layer.series.get(key)
            item.setData(*(series.arrays() if series else ([], [])))
        names = [key for key in self.aux if key in layer.series]
        title = "Auxiliary losses (weighted)" if names else "Auxiliary losses: none in this layer"
        style.coloured_title(
            self.aux_plot, title, [k[4:] for k in names], [self._aux_colours[k] for k in names], per_line=4
        )
        self.summary.setText(self._summary(layer))

    def _draw_bars(self, layer: Layer) -> None:
        count = layer.count
        heights = layer.load if layer.load.size == count else np.zeros(count)
        brushes = [pg.mkBrush(style.expert_colour(i)) for i in range(count)]
        pens = [pg.mkPen(style.ERROR, width=2) if i in layer.dead else pg.mkPen(None) for i in range(count)]
        self.bars.setOpts(x=np.arange(count), height=heights, width=0.7, brushes=brushes, pens=pens)
        self.bars_plot.getAxis("bottom").setTicks([member_ticks(layer)])
        self.bars_plot.setLabel("bottom", SINGULAR.get(layer.level, "expert"), color=style.AXIS)
        capped = layer.capacity is not None
        keys = ["capacity", "fair share"] if capped else ["fair share"]
        colours = [style.CAPACITY, style.FAIR_SHARE] if capped else [style.FAIR_SHARE]
        style.coloured_title(
            self.bars_plot, f"Tokens per {SINGULAR.get(layer.level, 'expert')} (per step)", keys, colours
        )
        self.capacity_line.setVisible(layer.capacity is not None)
        if layer.capacity is not None:
            self.capacity_line.setValue(layer.capacity)
        self.fair_line.setVisible(layer.fair > 0)
        self.fair_line.setValue(layer.fair)
        top = max(float(heights.max()) if heights.size else 0.0, layer.capacity or 0.0, layer.fair) * 1.15
        self.bars_plot.setXRange(-0.6, count - 0.4, padding=0)
        self.bars_plot.setYRange(0, max(top, 1e-6), padding=0)

    def _draw_load(self, layer: Layer) -> None:
        image, first, last = layer.timeline()
        if image.shape[1] == 0:
            image = np.zeros((layer.count, 1), dtype=np.float32)
        self.load_image.setImage(image, levels=(0.0, 2.0))
        width = max(last - first, 1)
        self.load_image.setRect(QRectF(first, -0.5, width, layer.count))
        self.load_plot.getAxis("left").setTicks([member_ticks(layer)])
        self.load_plot.setLabel("left", SINGULAR.get(layer.level, "expert"), color=style.AXIS)

    def _draw_labels(self, layer: Layer, label_name: str) -> None:
        counts = layer.labels_by_member
        if counts is None:
            counts = np.zeros((1, layer.count))
        totals = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        self.labels_image.setImage(shares.astype(np.float32), levels=(0.0, 1.0))
        self.labels_image.setRect(QRectF(-0.5, -0.5, layer.count, shares.shape[0]))
        step = max(1, shares.shape[0] // 12)
        self.labels_plot.getAxis("left").setTicks([[(float(i), str(i)) for i in range(0, shares.shape[0], step)]])
        self.labels_plot.getAxis("bottom").setTicks([member_ticks(layer)])
        member = SINGULAR.get(layer.level, "expert")
        self.labels_plot.setLabel("left", label_name, color=style.AXIS)
        self.labels_plot.setLabel("bottom", member, color=style.AXIS)
        style.set_title(self.labels_plot, f"{label_name.capitalize()} x {member} (share of each {label_name})")

    @staticmethod
    def _summary(layer: Layer) -> str:
        if layer.reports == 0:
            return f"{layer.count} {layer.level}: waiting for routing facts"
        total = float(layer.load.sum())
        busiest = float(layer.load.max()) / total if total > 0 else 0.0
        dead = ", ".join(f"{SHORT.get(layer.level, 'E')}{i}" for i in layer.dead) or "none"
        cv = layer.series.get("CV of load")
        cv_text = f"{cv.ys[-1]:.2f}" if cv and len(cv) else "–"
        return f"{layer.count} {layer.level} · busiest {busiest:.0%} · CV {cv_text} · dead: {dead}"
