"""The Analysis panel: what a network costs, how modular its trained weights are, how its
experts specialize.

``show_project(project)`` fills the cost table at once with FLOPs (torch-free shape
arithmetic); parameter counts follow from a worker thread (the network is built on the meta
device). ``show_run(folder)`` shows the run's ``analysis.json``, or computes it in a worker
thread (weights loaded, communities searched) and saves it there. The GUI thread only ever
receives finished dicts; a newer request makes older results be ignored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHeaderView,
    QLabel,
    QListWidget,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from modstudio.blocks.catalog import Catalog
from modstudio.graph.model import Project
from modstudio.ui.background import Background
from modstudio.ui.dashboard import style

COLUMNS = ("node", "type", "params", "params %", "FLOPs", "FLOPs %")
WIDE_AREAS = (Qt.DockWidgetArea.BottomDockWidgetArea, Qt.DockWidgetArea.TopDockWidgetArea)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


class NumberItem(QTableWidgetItem):
    """A cell that shows formatted text and sorts by its number (empty cells sort first)."""

    def __init__(self, value: float | None, text: str) -> None:
        super().__init__(text)
        self.setData(SORT_ROLE, float("-inf") if value is None else float(value))
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if isinstance(mine, float) and isinstance(theirs, float):
            return mine < theirs
        return super().__lt__(other)


def _count(value: Any) -> str:
    return "" if value is None else f"{value:,.0f}"


def _percent(value: Any) -> str:
    return "" if value is None else f"{100 * value:.1f}"


class AnalysisPanel(QWidget):
    """Costs per node (sortable table and bar chart), modularity vs shuffled, expert specialization."""

    shown = Signal(str)  # "project" or "run", whenever a finished analysis has been drawn

    def __init__(self, catalog: Catalog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.analysis: dict[str, Any] | None = None
        self._request = 0
        self.background = Background(self, "analysis")
        self.status = QLabel("Open a project or a run to analyse it.")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # network order until asked
        self.table.setSortingEnabled(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.bars_plot = pg.PlotWidget(background=style.PLOT_BACKGROUND)
        style.style_plot(self.bars_plot.getPlotItem(), None, left="FLOPs %")
        self.bars_plot.setMinimumHeight(140)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush="#5b8def")
        self.bars_plot.addItem(self.bars)
        self.modularity = QLabel("Modularity: needs a trained run.")
        self.modularity.setWordWrap(True)
        self.communities = QListWidget()
        self.conditional = QComboBox()
        self.conditional.currentIndexChanged.connect(self._show_specialization)
        self.nmi = QLabel("Specialization: needs a trained run with a conditional node.")
        self.nmi.setWordWrap(True)
        self.matrix_plot = pg.PlotWidget(background=style.PLOT_BACKGROUND)
        style.style_plot(self.matrix_plot.getPlotItem(), None, bottom="expert")
        self.matrix_plot.invertY(True)  # the first class on top, as in the dashboard
        self.matrix_plot.setMinimumHeight(160)
        self.matrix = pg.ImageItem(axisOrder="row-major")
        self.matrix.setLookupTable(style.heatmap_lookup())
        self.matrix_plot.addItem(self.matrix)
        self._layout()

    def _layout(self) -> None:
        costs = QWidget()
        box = QVBoxLayout(costs)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.table, 3)
        box.addWidget(self.bars_plot, 2)
        modular = QGroupBox("Weight-graph modularity")
        QVBoxLayout(modular).addWidget(self.modularity)
        modular.layout().addWidget(self.communities)
        special = QGroupBox("Specialization")
        layout = QVBoxLayout(special)
        for widget in (self.conditional, self.nmi, self.matrix_plot):
            layout.addWidget(widget)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)  # side by side in the bottom dock
        for widget in (costs, modular, special):
            self.splitter.addWidget(widget)
        self.splitter.setChildrenCollapsible(False)
        outer = QVBoxLayout(self)
        outer.addWidget(self.status)
        outer.addWidget(self.splitter, 1)

    def follow_dock_area(self, area: Qt.DockWidgetArea) -> None:
        """Sections side by side in a wide (top or bottom) dock, stacked in a tall (side) one."""
        self.splitter.setOrientation(Qt.Orientation.Horizontal if area in WIDE_AREAS else Qt.Orientation.Vertical)

    # -- requests --------------------------------------------------------------------------
    def show_project(self, project: Project) -> None:
        """FLOPs now (no torch); parameter counts from a worker thread."""
        from modstudio.engine.analysis.costs import project_costs
        from modstudio.engine.errors import EngineError

        self._request += 1
        try:
            costs = project_costs(project, self.catalog)
        except EngineError as exc:
            self.status.setText(exc.message)
            return
        self.show_analysis({"project": project.name, "costs": costs}, kind="project")
        self.status.setText(f"{project.name}: counting parameters…")
        snapshot = copy.deepcopy(project)  # the worker never sees the live document
        catalog = self.catalog
        self._start("project", lambda: _project_analysis(snapshot, catalog))

    def show_run(self, run_folder: Path) -> None:
        """The run's analysis.json, else computed off the GUI thread and saved into the run."""
        from modstudio.engine.records.run_history import read_analysis

        self._request += 1
        saved = read_analysis(Path(run_folder))
        if saved is not None and "costs" in saved:
            self.show_analysis(saved)
            return
        self.status.setText(f"analysing {run_folder}… (loading weights, searching communities)")
        catalog = self.catalog
        self._start("run", lambda: _run_analysis(Path(run_folder), catalog))

    def _start(self, kind: str, work: Callable[[], dict[str, Any]]) -> None:
        number = self._request
        self.background.run(work, lambda outcome: self._finished(number, kind, outcome))

    def _finished(self, number: int, kind: str, outcome: object) -> None:
        if number != self._request:
            return  # an older request: something newer is on its way
        if isinstance(outcome, dict):
            self.show_analysis(outcome, kind=kind)
        else:  # the worker's exception: a sentence, never a traceback
            message = getattr(outcome, "message", None) or f"{type(outcome).__name__}: {outcome}"
            self.status.setText(f"cannot analyse: {message}")

    # -- drawing ---------------------------------------------------------------------------
    def show_analysis(self, analysis: dict[str, Any], kind: str = "run") -> None:
        """Draw an analysis dict (the content of analysis.json, or a project's costs)."""
        self.analysis = analysis
        costs = analysis["costs"]
        total = f"{_count(costs.get('params_total'))} parameters, " if costs.get("params_total") is not None else ""
        where = f" — run {Path(analysis['run']).name}" if "run" in analysis else ""
        self.status.setText(
            f"{analysis.get('project', '')}{where}: {total}{_count(costs['flops_total'])} FLOPs per sample "
            f"({costs['convention']})"
        )
        self._fill_table(costs["nodes"])
        top = [n for n in costs["nodes"] if n["depth"] == 0]
        self.bars.setOpts(x=np.arange(len(top)), height=[100 * n["flops_share"] for n in top])
        self.bars_plot.getAxis("bottom").setTicks([[(i, n["name"]) for i, n in enumerate(top)]])
        if "modularity" in analysis:
            self._show_modularity(analysis["modularity"])
        self.conditional.blockSignals(True)
        self.conditional.clear()
        for entry in analysis.get("specialization", []):
            self.conditional.addItem(entry["path"])
        self.conditional.blockSignals(False)
        self.conditional.setVisible(self.conditional.count() > 1)
        self._show_specialization(0)
        self.shown.emit(kind)

    def _fill_table(self, nodes: list[dict[str, Any]]) -> None:
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(nodes))
        for row, node in enumerate(nodes):
            name = QTableWidgetItem("  " * node["depth"] + node["name"])
            name.setToolTip(node["path"])
            flops = _count(node["flops"]) + ("" if node.get("exact", True) else " ~")
            cells = [
                name,
                QTableWidgetItem(node["kind"]),
                NumberItem(node.get("params"), _count(node.get("params"))),
                NumberItem(node.get("params_share"), _percent(node.get("params_share"))),
                NumberItem(node["flops"], flops),
                NumberItem(node["flops_share"], _percent(node["flops_share"])),
            ]
            for column, item in enumerate(cells):
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)

    def _show_modularity(self, report: dict[str, Any]) -> None:
        self.communities.clear()
        if "q" not in report:
            self.modularity.setText(f"Modularity: {report.get('note', 'not computed')}")
            return
        self.modularity.setText(
            f"Q = {report['q']:.3f} vs shuffled weights {report['shuffled_q_mean']:.3f} ± "
            f"{report['shuffled_q_std']:.3f} ({len(report['shuffled_q'])} shuffles); "
            f"{report['neurons']:,} neurons, {report['connections']:,} connections"
        )
        for i, group in enumerate(report["communities"]):
            where = ", ".join(f"{layer} {count}" for layer, count in group["layers"].items())
            self.communities.addItem(f"{i + 1}: {group['size']} neurons — {where}")

    def _show_specialization(self, index: int) -> None:
        entries = (self.analysis or {}).get("specialization", [])
        if not entries or not 0 <= index < len(entries):
            self.matrix.clear()
            self.nmi.setText("Specialization: no conditional node recorded routing in this run.")
            return
        entry = entries[index]
        matrix = np.asarray(entry["matrix"], dtype=np.float64)
        shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)  # each row: where its tokens went
        self.matrix.setImage(shares, levels=(0.0, 1.0))
        rows, experts = shares.shape
        self.matrix.setRect(QRectF(-0.5, -0.5, experts, rows))  # one cell per (row, expert), centred on it
        self.matrix_plot.getAxis("bottom").setTicks([[(e, f"E{e}") for e in range(experts)]])
        self.matrix_plot.getAxis("left").setTicks([[(r, str(r)) for r in range(rows)]])
        self.matrix_plot.setLabel("left", entry["rows"], color=style.AXIS)
        tops = "; ".join(
            f"E{e}: " + ", ".join(f"{entry['rows']} {t['class']} ({100 * t['share']:.0f}%)" for t in top[:2])
            for e, top in enumerate(entry["top_classes"])
        )
        self.nmi.setText(
            f"'{entry['path']}': NMI({entry['rows']}; expert) = {entry['nmi']:.3f} ({entry['source']}). {tops}"
        )


def _project_analysis(project: Project, catalog: Catalog) -> dict[str, Any]:
    from modstudio.engine.analysis.report import analyze_project

    return analyze_project(project, catalog)


def _run_analysis(run_folder: Path, catalog: Catalog) -> dict[str, Any]:
    from modstudio.engine.analysis.report import analyze_run, save_analysis

    analysis = analyze_run(run_folder, catalog)
    save_analysis(run_folder, analysis)
    return analysis
