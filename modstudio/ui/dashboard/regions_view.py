"""Decision regions on the plane (2-D inputs): coloured by predicted class, and by the expert each point goes to."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from . import style
from .data import Layer
from .run_data import RegionPicture

SHADE = 0.6  # how much of the region colour shows over the plot background
BACKGROUND = np.array([27, 28, 33], dtype=np.float32)


def colour_image(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """[G, G] ids -> [G, G, 3] uint8, the palette softened toward the background."""
    ids = np.clip(ids.astype(np.int64), 0, len(table) - 1)
    rgb = table[ids].astype(np.float32)
    return (rgb * SHADE + BACKGROUND * (1 - SHADE)).astype(np.uint8)


def swatches(names: list[str], colours: list[str]) -> str:
    return "  ".join(f"<span style='color:{c}'>■</span> {n}" for n, c in zip(names, colours))


class RegionsView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = style.layout_widget()
        self.note = QLabel("Decision regions appear for networks whose input is a point in the plane (2 features).")
        self.note.setObjectName("doc")
        self.note.setWordWrap(True)
        self.note.setContentsMargins(8, 8, 8, 8)
        self.key = QLabel("")
        self.key.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.key)
        layout.addWidget(self.note)
        layout.addStretch(0)
        self.class_plot = self.canvas.addPlot(row=0, col=0)
        self.expert_plot = self.canvas.addPlot(row=0, col=1)
        style.style_plot(self.class_plot, "Predicted class", "x₂", "x₁")
        style.style_plot(self.expert_plot, "Expert per point", "x₂", "x₁")
        self.expert_plot.setXLink(self.class_plot)
        self.expert_plot.setYLink(self.class_plot)
        self.images: list[pg.ImageItem] = []
        self.scatters: list[pg.ScatterPlotItem] = []
        for plot in (self.class_plot, self.expert_plot):
            plot.setAspectLocked(True)
            plot.showGrid(x=False, y=False)
            image = pg.ImageItem(axisOrder="row-major")
            scatter = pg.ScatterPlotItem(size=4.5, pen=pg.mkPen(20, 20, 24, 200, width=0.8))
            plot.addItem(image)
            plot.addItem(scatter)
            self.images.append(image)
            self.scatters.append(scatter)
        self.plots = (self.class_plot, self.expert_plot)
        self.rgb: np.ndarray | None = None
        self.expert_rgb: np.ndarray | None = None
        self._points_key: tuple[int, int] | None = None
        self._rect: QRectF | None = None
        self.canvas.setVisible(False)  # until the first picture: the note says why there may be none

    def reset(self) -> None:
        """A new run: no picture until its first regions message."""
        self.rgb = self.expert_rgb = None
        self._points_key = None
        self._rect = None
        for image, scatter in zip(self.images, self.scatters):
            image.clear()
            scatter.setData([], [])
        self.key.setText("")
        self.note.setVisible(True)
        self.canvas.setVisible(False)

    def draw(self, regions: RegionPicture | None, layer: Layer | None, points: np.ndarray | None,
             labels: np.ndarray | None) -> None:  # fmt: skip
        if regions is None:
            return
        self.note.setVisible(False)
        self.canvas.setVisible(True)
        xmin, xmax, ymin, ymax = regions.extent
        rect = QRectF(xmin, ymin, xmax - xmin, ymax - ymin)
        classes = 0
        if regions.predicted is not None:
            classes = int(regions.predicted.max()) + 1
            if labels is not None and labels.size:
                classes = max(classes, int(labels.max()) + 1)
            self.rgb = colour_image(regions.predicted, style.rgb_table(style.class_colour, classes))
        elif regions.values is not None:
            values = regions.values
            span = float(values.max() - values.min()) or 1.0
            lookup = style.heatmap_lookup()
            self.rgb = lookup[((values - values.min()) / span * 255).astype(np.int64)][..., :3].astype(np.uint8)
            style.set_title(self.class_plot, "Predicted value")
        if self.rgb is not None:
            self.images[0].setImage(self.rgb, levels=(0, 255))
            self.images[0].setRect(rect)
        if rect != self._rect:  # frame the data once per extent; the person may zoom after that
            self._rect = rect
            self.class_plot.setRange(rect=rect, padding=0.02)
        self._draw_experts(regions, layer, rect)
        self._draw_points(points, labels)
        key = []
        if classes:
            key.append(
                "classes: "
                + swatches([str(i) for i in range(classes)], [style.class_colour(i) for i in range(classes)])
            )
        if layer is not None and self.expert_rgb is not None:
            prefix = {"groups": "G", "branches": "B"}.get(layer.level, "E")
            names = [f"{prefix}{i}" for i in range(layer.count)]
            key.append(f"{layer.level}: " + swatches(names, [style.expert_colour(i) for i in range(layer.count)]))
        self.key.setText("&nbsp;&nbsp;&nbsp;".join(key))

    def _draw_experts(self, regions: RegionPicture, layer: Layer | None, rect: QRectF) -> None:
        ids = None if layer is None else regions.experts.get(layer.path)
        if ids is None and regions.experts and layer is None:
            ids = next(iter(regions.experts.values()))
        if ids is None:
            style.set_title(self.expert_plot, "Expert per point (no routing layer)")
            return
        count = layer.count if layer is not None else int(ids.max()) + 1
        if layer is not None and layer.level == "groups":
            ids = ids // max(layer.per_group, 1)
        name = layer.name if layer is not None else "router"
        style.set_title(self.expert_plot, f"Routed to ({name})")
        self.expert_rgb = colour_image(ids, style.rgb_table(style.expert_colour, count))
        self.images[1].setImage(self.expert_rgb, levels=(0, 255))
        self.images[1].setRect(rect)

    def _draw_points(self, points: np.ndarray | None, labels: np.ndarray | None) -> None:
        if points is None:
            return
        key = (id(points), len(points))
        if key == self._points_key:
            return
        self._points_key = key
        if labels is not None and len(labels) == len(points):
            brushes = [pg.mkBrush(style.class_colour(int(c))) for c in labels]
        else:
            brushes = [pg.mkBrush(style.TEXT)] * len(points)
        for scatter in self.scatters:
            scatter.setData(x=points[:, 0], y=points[:, 1], brush=brushes)
