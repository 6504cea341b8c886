"""Colours and plot styling of the dashboard: one qualitative palette for experts, another for classes."""

from __future__ import annotations

import colorsys

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

PLOT_BACKGROUND = "#1b1c21"
AXIS = "#9aa1b1"
TEXT = "#e6e8ee"
TITLE_SIZE = "10pt"

# Experts: Tableau 10 (distinct on a dark background, colour-blind aware order).
EXPERT_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
                  "#bab0ac"]  # fmt: skip
# Classes: Okabe-Ito, so a class map never looks like an expert map next to it.
CLASS_COLOURS = ["#56b4e9", "#e69f00", "#009e73", "#f0e442", "#cc79a7", "#0072b2", "#d55e00", "#999999"]

TRAIN = "#5b8def"
TRAIN_EPOCH = "#b9d3ff"
VALIDATION = "#f0c040"
COMPARE = "#c586c0"
WARNING = "#f0a040"
ERROR = "#ff7b7f"
CAPACITY = "#e5484d"
FAIR_SHARE = "#9aa1b1"
SERIES = ["#5b8def", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7"]

HEATMAP = "viridis"


def _extended(base: list[str], index: int) -> str:
    if index < len(base):
        return base[index]
    hue = (index * 0.618034) % 1.0  # golden-ratio hues beyond the palette
    r, g, b = colorsys.hsv_to_rgb(hue, 0.55, 0.9)
    return QColor.fromRgbF(r, g, b).name()


def expert_colour(index: int) -> str:
    return _extended(EXPERT_COLOURS, index)


def class_colour(index: int) -> str:
    return _extended(CLASS_COLOURS, index)


def rgb_table(colour_of: object, count: int) -> np.ndarray:
    """[count, 3] uint8 colours from ``expert_colour`` or ``class_colour``."""
    rows = [QColor(colour_of(i)) for i in range(max(count, 1))]  # type: ignore[operator]
    return np.array([[c.red(), c.green(), c.blue()] for c in rows], dtype=np.uint8)


def heatmap_lookup() -> np.ndarray:
    return pg.colormap.get(HEATMAP).getLookupTable(nPts=256)


def style_plot(
    plot: pg.PlotItem, title: str | None, left: str = "", bottom: str = "", units: str | None = None
) -> None:
    """Title (None: no title row), axis labels and grid in the dashboard's look."""
    set_title(plot, title)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(AXIS))
        axis.setTextPen(pg.mkPen(AXIS))
        axis.enableAutoSIPrefix(False)  # "loss (x0.001)" reads badly; ticks carry the decimals
    if left:
        plot.setLabel("left", left, units=units, color=AXIS)
    if bottom:
        plot.setLabel("bottom", bottom, color=AXIS)
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.setMenuEnabled(False)
    plot.hideButtons()


def set_title(plot: pg.PlotItem, title: str | None) -> None:
    """The title in the dashboard's look, and a title width that does not hold the grid open."""
    plot.setTitle(title, color=TEXT, size=TITLE_SIZE)
    _let_shrink(plot.titleLabel)


def _let_shrink(label: pg.LabelItem) -> None:
    """pyqtgraph makes a label's text width its minimum width, again at every resize. A grid of plots
    whose titles add up to more than the dock is then cut off at the dock's edge (colour bars,
    right-hand plots); with the minimum at 0 the plots fit and a long title runs over its margins."""
    if getattr(label, "_shrinks", False):
        return
    text_width_minimum = label.updateMin

    def update_min() -> None:
        text_width_minimum()
        label.setMinimumWidth(0)

    label.updateMin = update_min  # type: ignore[method-assign]
    label._shrinks = True  # type: ignore[attr-defined]
    update_min()


def legend(plot: pg.PlotItem, offset: tuple[int, int] = (-8, 8)) -> pg.LegendItem:
    """A legend in a corner: negative offsets count from the right / bottom."""
    item = plot.addLegend(offset=offset, labelTextColor=TEXT, labelTextSize="8pt")
    item.setBrush(pg.mkBrush(27, 28, 33, 200))
    return item


def coloured_title(plot: pg.PlotItem, title: str, names: list[str], colours: list[str], per_line: int = 2) -> None:
    """A title that doubles as the legend (small plots have no room for a legend box); at most
    ``per_line`` keys a line, since a title wider than its column pushes the whole grid past the dock's edge."""
    keys = [f"<span style='color:{c}'>━ {n}</span>" for n, c in zip(names, colours)]
    lines = ["&nbsp;·&nbsp;".join(keys[i : i + per_line]) for i in range(0, len(keys), per_line)]
    key = "<br>".join(lines)
    set_title(plot, f"{title}<br><span style='font-size:8pt'>{key}</span>" if key else title)


def layout_widget() -> pg.GraphicsLayoutWidget:
    widget = pg.GraphicsLayoutWidget()
    widget.setBackground(PLOT_BACKGROUND)
    widget.ci.setContentsMargins(4, 4, 4, 4)
    widget.ci.setSpacing(6)
    return widget
