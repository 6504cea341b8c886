"""The Search dock's plots: the Pareto front, parallel coordinates and parameter importances.

Each view draws plain rows (a trial's number, parameters and objective values, as
``engine.search.study.read_trials`` gives them) and never reads the study itself. Objectives
are named as in the project: ``accuracy`` (higher is better), ``loss``, ``-params`` and
``-flops`` (lower is better); a trial's values come in the order of the objectives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QVBoxLayout, QWidget

from .dashboard import style

FRONT = "#f0c040"
TRIAL = "#5b8def"
CHOSEN = "#ffffff"
OBJECTIVE_WORDS = {"accuracy": "accuracy", "loss": "loss", "-params": "parameters", "-flops": "FLOPs"}


class Row(Protocol):
    number: int
    params: dict[str, Any]
    values: Sequence[float] | None


def objective_word(objective: str) -> str:
    return OBJECTIVE_WORDS.get(objective, objective.lstrip("-"))


def maximised(objective: str) -> bool:
    return objective == "accuracy"


def short_target(target: str) -> str:
    """'node:main/moe.num_experts' -> 'moe.num_experts'; 'training.learning_rate' -> 'learning_rate'."""
    if target.startswith("node:"):
        return target.split("/", 1)[-1]
    if target.startswith("module:"):
        return target.removeprefix("module:")
    return target.rsplit(".", 1)[-1]


def _plot(title: str) -> tuple[pg.PlotWidget, pg.PlotItem]:
    widget = pg.PlotWidget()
    widget.setBackground(style.PLOT_BACKGROUND)
    plot = widget.getPlotItem()
    style.style_plot(plot, title)
    return widget, plot


class ParetoView(QWidget):
    """Accuracy (or loss) against the cost of each trial's network, FLOPs or parameters as the person picks:
    every finished trial a dot, the Pareto front of the two in yellow joined by a line. Without costs
    (a study of other objectives): the first objective per trial, the best so far."""

    trial_clicked = Signal(int)  # a trial's number

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.widget, self.plot = _plot("Pareto front")
        self.against = QComboBox()
        self.against.addItem("against FLOPs per sample", "-flops")
        self.against.addItem("against parameters", "-params")
        self.against.activated.connect(lambda _i: self.redraw())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.against)
        layout.addWidget(self.widget)
        self.data: tuple[Any, ...] = ((), (), (), {}, {})
        self.dots = pg.ScatterPlotItem(size=8, pen=None, brush=pg.mkBrush(TRIAL), hoverable=True)
        self.front_line = pg.PlotDataItem(pen=pg.mkPen(FRONT, width=1.5))
        self.front_dots = pg.ScatterPlotItem(size=11, pen=pg.mkPen("#1b1c21"), brush=pg.mkBrush(FRONT))
        self.chosen = pg.ScatterPlotItem(size=17, pen=pg.mkPen(CHOSEN, width=2), brush=None)
        for item in (self.dots, self.front_line, self.front_dots, self.chosen):
            self.plot.addItem(item)
        self.plot.getViewBox().setDefaultPadding(0.08)  # whole dots at the edges
        self.dots.sigClicked.connect(self._clicked)
        self.front_dots.sigClicked.connect(self._clicked)
        self.shown: dict[int, tuple[float, float]] = {}  # trial number -> where its dot is
        self.front: list[int] = []

    def show_trials(
        self,
        rows: Sequence[Row],
        objectives: Sequence[str],
        front: Sequence[int],
        points: dict[str, dict[int, tuple[float, float]]] | None = None,
        fronts: dict[str, list[int]] | None = None,
    ) -> None:
        """``points``/``fronts``: per cost ("-flops", "-params"), each trial's (cost, quality) and their front."""
        if list(objectives) != list(self.data[1]):  # another study: against the cost it optimises, if any
            cost = next((o for o in objectives if o in ("-flops", "-params")), "-flops")
            self.against.setCurrentIndex(self.against.findData(cost))
        self.data = (rows, objectives, front, points or {}, fronts or {})
        self.redraw()

    def redraw(self) -> None:
        rows, objectives, front, by_cost, fronts = self.data
        cost = self.against.currentData()
        points = by_cost.get(cost, {})
        self.against.setVisible(any(by_cost.values()))
        if points:
            front = fronts.get(cost, [])
            quality = next((o for o in objectives if o in ("accuracy", "loss")), "accuracy")
            x_word, y_word = objective_word(cost), objective_word(quality)
            wide = [x for x, _ in points.values() if x > 0]
            self.plot.setLogMode(x=bool(wide) and max(wide) / min(wide) > 20, y=False)
            style.set_title(self.plot, f"Pareto front: {y_word} against {x_word}")
            line = sorted((points[n] for n in front if n in points), key=lambda p: p[0])
        else:
            done = [r for r in rows if r.values is not None and len(r.values) == len(objectives)]
            points = {r.number: (float(r.number), float(r.values[0])) for r in done}  # type: ignore[index]
            x_word, y_word = "trial", objective_word(objectives[0]) if objectives else "objective"
            self.plot.setLogMode(x=False, y=False)
            style.set_title(self.plot, f"{y_word} of each trial, the best so far in yellow")
            line = _best_so_far(sorted(points.items()), maximised(objectives[0]) if objectives else True)
        self.plot.setLabel("bottom", x_word, color=style.AXIS)
        chosen = self.chosen_number
        self.plot.setLabel("left", y_word, color=style.AXIS)
        self.shown, self.front = points, [n for n in front if n in points]
        self.dots.setData([_spot(n, p) for n, p in points.items() if n not in self.front])
        self.front_dots.setData([_spot(n, points[n]) for n in self.front])
        self.front_line.setData([p[0] for p in line], [p[1] for p in line])
        self.choose(chosen)

    chosen_number: int | None = None

    def choose(self, number: int | None) -> None:
        """Ring one trial's dot (the trial chosen in the table)."""
        self.chosen_number = number
        where = self.shown.get(number) if number is not None else None
        self.chosen.setData([_spot(number, where)] if where is not None and number is not None else [])

    def _clicked(self, _item: Any, spots: Sequence[Any], *_rest: Any) -> None:
        if len(spots):
            self.trial_clicked.emit(int(spots[0].data()))


def _spot(number: int, point: tuple[float, float]) -> dict[str, Any]:
    return {"pos": point, "data": number}


def _best_so_far(points: list[tuple[int, tuple[float, float]]], higher: bool) -> list[tuple[float, float]]:
    best: float | None = None
    line: list[tuple[float, float]] = []
    for _number, (x, y) in points:
        best = y if best is None else (max(best, y) if higher else min(best, y))
        line.append((x, best))
    return line


class ParallelView(QWidget):
    """Parallel coordinates: an axis per searched setting and per objective, each scaled to its own range
    (log settings on a log scale, choices spread evenly), one line per trial coloured by the first objective."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.widget, self.plot = _plot("Parallel coordinates (colour: the first objective, bright is better)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget)
        self.plot.showGrid(x=True, y=False, alpha=0.4)
        self.plot.getAxis("left").setTicks([[(0.0, "low"), (1.0, "high")]])
        self.lines: list[pg.PlotDataItem] = []
        self.by_number: dict[int, tuple[pg.PlotDataItem, Any]] = {}  # a trial's line and its own pen
        self.labels: list[pg.TextItem] = []
        self.axes: list[str] = []

    def show_trials(self, rows: Sequence[Row], objectives: Sequence[str], dimensions: Sequence[Any]) -> None:
        for item in [*self.lines, *self.labels]:
            self.plot.removeItem(item)
        self.lines, self.labels, self.by_number = [], [], {}
        done = [r for r in rows if r.values is not None and len(r.values) == len(objectives)]
        columns: list[tuple[str, list[float | None], list[str]]] = []
        names = _axis_names([dim.target for dim in dimensions])
        for dim, name in zip(dimensions, names, strict=True):
            scaled, ends = _scaled_setting(dim, [r.params.get(dim.target) for r in done])
            columns.append((name, scaled, ends))
        for i, objective in enumerate(objectives):
            raw = [float(r.values[i]) for r in done]  # type: ignore[index]
            scaled, ends = _scaled_numbers(raw, objective in ("-params", "-flops") and _spans(raw))
            columns.append((objective_word(objective), scaled, ends))
        self.axes = [name for name, _, _ in columns]
        self.plot.getAxis("bottom").setTicks([list(enumerate(self.axes))])
        self.plot.setXRange(-0.45, max(len(columns) - 0.55, 0.45), padding=0)  # room for the outer names
        self.plot.setYRange(-0.16, 1.16, padding=0)  # room for each axis's lowest and highest value
        if not done or not columns:
            return
        first = [float(r.values[0]) for r in done]  # type: ignore[index]
        colour_key, _ = _scaled_numbers(first, False)
        if objectives and not maximised(objectives[0]):
            colour_key = [None if k is None else 1.0 - k for k in colour_key]
        lookup = pg.colormap.get(style.HEATMAP)
        order = np.argsort([k if k is not None else -1 for k in colour_key])  # the best drawn last, on top
        for index in order:
            ys = [col[1][index] for col in columns]
            xs = [x for x, y in enumerate(ys) if y is not None]
            key = colour_key[index]  # the dark end of the map is lost on the dark background: from a quarter on
            colour = lookup.map(0.25 + 0.75 * key if key is not None else 0.0, mode="qcolor")
            pen = pg.mkPen(colour, width=1.6)
            line = self.plot.plot(xs, [y for y in ys if y is not None], pen=pen)
            self.lines.append(line)
            self.by_number[done[index].number] = (line, pen)
        for x, (_name, _scaled, ends) in enumerate(columns):
            for y, text, anchor in ((0.0, ends[0], (0.5, -0.1)), (1.0, ends[1], (0.5, 1.1))):
                label = pg.TextItem(text, color=style.AXIS, anchor=anchor)
                label.setPos(x, y)
                self.plot.addItem(label)
                self.labels.append(label)

    def choose(self, number: int | None) -> None:
        """Draw the chosen trial's line white and thick, above the others."""
        for n, (line, pen) in self.by_number.items():
            line.setPen(pg.mkPen(CHOSEN, width=3.2) if n == number else pen)
            line.setZValue(10 if n == number else 0)


def _axis_names(targets: Sequence[str]) -> list[str]:
    """The parameters' own names ('num_experts', 'k') where they are unique, else 'moe.num_experts'."""
    last = [t.rsplit(".", 1)[-1] for t in targets]
    return [name if last.count(name) == 1 else short_target(t) for name, t in zip(last, targets, strict=True)]


def _spans(values: Sequence[float]) -> bool:
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) / min(positive) > 20


def _scaled_numbers(values: Sequence[float | None], log: bool) -> tuple[list[float | None], list[str]]:
    """Each value at 0..1 between the lowest and the highest (log: on a log scale); the ends as text."""
    known = [float(v) for v in values if v is not None and math.isfinite(float(v)) and (not log or float(v) > 0)]
    if not known:
        return [None] * len(values), ["", ""]
    low, high = min(known), max(known)

    def at(v: float | None) -> float | None:
        if v is None or not math.isfinite(float(v)) or (log and float(v) <= 0):
            return None
        if high == low:
            return 0.5
        if log:
            return (math.log(float(v)) - math.log(low)) / (math.log(high) - math.log(low))
        return (float(v) - low) / (high - low)

    return [at(v) for v in values], [_number(low), _number(high)]


def _scaled_setting(dim: Any, values: Sequence[Any]) -> tuple[list[float | None], list[str]]:
    if dim.kind == "choice":
        choices = list(dim.choices)
        spread = max(len(choices) - 1, 1)
        scaled = [choices.index(v) / spread if v in choices else None for v in values]
        return scaled, [str(choices[0]) if choices else "", str(choices[-1]) if choices else ""]
    numbers = [float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None for v in values]
    low, high = float(dim.low), float(dim.high)
    log = bool(dim.log) and low > 0

    def at(v: float | None) -> float | None:
        if v is None or high == low:
            return None if v is None else 0.5
        if log:
            return (math.log(v) - math.log(low)) / (math.log(high) - math.log(low)) if v > 0 else None
        return (v - low) / (high - low)

    return [at(v) for v in numbers], [_number(dim.low), _number(dim.high)]


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}" if abs(value) < 1e7 else f"{value:.2e}"
    if isinstance(value, int) and abs(value) >= 100_000:
        return f"{value:.2e}"
    return str(value)


class ImportanceView(QWidget):
    """How much each searched setting explains the first objective (Optuna's fANOVA importances), as bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.widget, self.plot = _plot("Parameter importances (for the first objective)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=[], width=[], brush=pg.mkBrush(TRIAL))
        self.plot.addItem(self.bars)
        self.plot.setLabel("bottom", "importance", color=style.AXIS)
        self.message = pg.TextItem("", color=style.AXIS, anchor=(0.5, 0.5))
        self.plot.addItem(self.message)
        self.values: dict[str, float] = {}

    def show_importances(self, values: dict[str, float] | None, why_not: str = "") -> None:
        """``values``: target -> importance (None with ``why_not``: too few finished trials and the like)."""
        self.values = dict(values or {})
        ordered = sorted(self.values.items(), key=lambda kv: kv[1])  # the largest at the top
        names = [short_target(target) for target, _ in ordered]
        self.bars.setOpts(
            x0=[0.0] * len(ordered), y=list(range(len(ordered))), height=[0.6] * len(ordered),
            width=[float(v) for _, v in ordered],
        )  # fmt: skip
        self.plot.getAxis("left").setTicks([list(enumerate(names))])
        self.message.setText("" if ordered else why_not or "No importances yet.")
        self.message.setPos(0.5, 0.5)
        if ordered:
            self.plot.setXRange(0, max(max(v for _, v in ordered), 1e-6) * 1.05, padding=0)
            self.plot.setYRange(-0.6, len(ordered) - 0.4, padding=0)
        else:
            self.plot.setXRange(0, 1, padding=0)
            self.plot.setYRange(0, 1, padding=0)
