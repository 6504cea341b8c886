"""Dashboard: the live training dock (curves, routing, decision regions, module usage, warnings).

Messages go in through :meth:`Dashboard.handle`, which only stores them; a QTimer in the GUI
thread calls :meth:`Dashboard.refresh` about ten times a second while the dock is visible, and
refresh ``setData``s the plot items it built once (nothing is cleared and re-plotted).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QTabWidget, QVBoxLayout, QWidget

from modstudio.engine.protocol import Epoch, Finished, Message, Paused, Progress, Resumed, Started, messages_from_dicts

from .curves import CurvesView
from .data import Layer
from .modules_view import ModulesView
from .regions_view import RegionsView
from .routing_view import RoutingView
from .run_data import RunData
from .warnings_list import WarningsList

REFRESH_MS = 100
log = logging.getLogger(__name__)


class Dashboard(QWidget):
    node_selected = Signal(str)  # a probe path / module path, when a warning or layer is clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = RunData()
        self.tabs = QTabWidget()
        self.curves = CurvesView()
        self.routing = RoutingView()
        self.regions = RegionsView()
        self.modules = ModulesView()
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(self.routing, "Routing")
        self.tabs.addTab(self.regions, "Regions")
        self.tabs.addTab(self.modules, "Modules")
        self.status = QLabel("No training yet")
        self.status.setObjectName("doc")
        # a message's describe() text may be wider than a narrow dock: cut at the dock's edge, never widening it
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.warnings_list = WarningsList()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.warnings_list)
        self.warnings_list.node_clicked.connect(self.node_selected)
        self.routing.layer_chosen.connect(self._layer_chosen)
        self.routing.combo.currentIndexChanged.connect(lambda _i: self.data.dirty.update({"routing", "regions"}))
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self._progress = ""
        self._paused = False

    # -- the API the main window uses -------------------------------------------------------
    def clear(self, status: str = "No training yet") -> None:
        """Show nothing: no curves, compared run, routing, regions, module usage, warnings or test accuracy."""
        self.data = RunData()
        self.curves.set_task(self.data.task)
        self.curves.clear()
        self.clear_comparison()
        self.routing.clear()
        self.regions.reset()
        self._fresh_modules()
        self.warnings_list.show_warnings([])
        self._progress, self._paused = "", False
        self.status.setText(status)

    def reset(self, started: Started) -> None:
        """A new run: forget everything shown and lay out the probes it announces."""
        self.clear()
        self.data = RunData.from_started(started)
        self.curves.set_task(self.data.task)
        self._progress = started.describe()
        self.status.setText(self._progress)
        self.refresh()

    def handle(self, message: Message) -> None:
        """Store any worker message (cheap: no drawing here); the status line is the message's describe()."""
        if isinstance(message, Started):
            self.reset(message)
            return
        self.data.handle(message)
        match message:
            case Paused() | Resumed():
                self._paused = isinstance(message, Paused)
                self.data.dirty.add("status")
            case Progress() | Epoch():
                self._progress = message.describe()
                self.data.dirty.add("status")
            case Finished():
                self._progress = message.describe()
                self._paused = False
                self.data.dirty.add("status")

    def refresh(self) -> None:
        """Apply what arrived since the last refresh to the plot items."""
        dirty, self.data.dirty = self.data.dirty, set()
        if not dirty:
            return
        if "curves" in dirty:
            self.curves.draw(self.data.curves)
        if dirty & {"routing", "regions", "modules"}:
            self.routing.set_layers(list(self.data.layers))
        layer = self._layer()
        if "routing" in dirty:
            self.routing.draw(layer, self.data.label_name)
        if "regions" in dirty:
            self.regions.draw(self.data.regions, layer, self.data.points, self.data.point_labels)
        if "modules" in dirty:
            self.modules.draw_usage(list(self.data.layers.values()))
            self.modules.draw_gradients(self.data.gradients, self.data.gradient_history)
        if "statistics" in dirty:
            self.modules.draw_statistics(self.data.statistics)
        if "warnings" in dirty:
            self.warnings_list.show_warnings(self.data.warnings)
        if "status" in dirty and self._paused:
            self.status.setText(f"Paused · {self._progress}" if self._progress else "Paused")
        elif "status" in dirty and self._progress:
            self.status.setText(self._progress)

    def show_history(
        self, metrics: list[dict[str, Any]], routing: list[dict[str, Any]], statistics: Sequence[dict[str, Any]] = ()
    ) -> None:
        """Replay a finished run's ``metrics.jsonl``, ``routing.jsonl`` and ``statistics.jsonl`` records (a
        record that is not a message is skipped; the status line counts them and the log says why)."""
        messages, skipped = messages_from_dicts([*metrics, *routing, *statistics])
        for reason in skipped:
            log.info("run history: %s", reason)
        regression = any(isinstance(m, Epoch) and m.val_r2 is not None for m in messages)
        self.data = RunData(task="regression" if regression else "classification")
        self.curves.set_task(self.data.task)
        self.regions.reset()
        for message in messages:
            self.data.handle(message)
        steps = max((_steps_of(m) for m in messages), default=0)
        unread = f" ({len(skipped)} unreadable records skipped)" if skipped else ""
        self._progress = f"Run history: {steps} steps{unread}"
        self.data.dirty.update({"curves", "routing", "modules", "statistics", "warnings", "status"})
        self.refresh()

    def compare(self, label: str, metrics: list[dict[str, Any]]) -> None:
        """Overlay another run's loss and accuracy curves (dashed, with a legend entry); [] removes them."""
        self.curves.compare(label, metrics)

    def clear_comparison(self) -> None:
        self.curves.compare("", [])

    # -- for tests and the lead -------------------------------------------------------------
    def loss_points(self) -> int:
        xs, _ = self.curves.items["loss:step"].getData()
        return 0 if xs is None else len(xs)

    def expert_bar_count(self, layer: str | None = None) -> int:
        if layer is None or layer == self.routing.current():
            return self.routing.bar_count()
        found = self.data.layers.get(layer)
        if found is None:
            raise KeyError(f"no routing layer named '{layer}' (layers: {', '.join(self.layers()) or 'none'})")
        return found.count

    def decision_image(self) -> np.ndarray | None:
        return self.regions.rgb

    def warnings(self) -> list[str]:
        return [w.text for w in self.data.warnings]

    def layers(self) -> list[str]:
        return list(self.data.layers)

    def select_layer(self, layer: str) -> None:
        if layer not in self.data.layers:
            raise KeyError(f"no routing layer named '{layer}' (layers: {', '.join(self.layers()) or 'none'})")
        self.routing.set_layers(list(self.data.layers))
        self.routing.select(layer)
        self.data.dirty.update({"routing", "regions"})
        self.refresh()

    # -- internals --------------------------------------------------------------------------
    def _fresh_modules(self) -> None:
        """An empty Modules tab in place of the old one (its gradient history has one curve per module seen)."""
        index, current = self.tabs.indexOf(self.modules), self.tabs.currentIndex()
        old, self.modules = self.modules, ModulesView()
        self.tabs.removeTab(index)
        self.tabs.insertTab(index, self.modules, "Modules")
        self.tabs.setCurrentIndex(current)
        old.deleteLater()

    def _layer(self) -> Layer | None:
        name = self.routing.current()
        if name in self.data.layers:
            return self.data.layers[name]
        return next(iter(self.data.layers.values()), None)

    def _layer_chosen(self, name: str) -> None:
        layer = self.data.layers.get(name)
        self.data.dirty.update({"routing", "regions"})
        self.refresh()
        if layer is not None:
            self.node_selected.emit(layer.path)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        self.timer.stop()
        super().hideEvent(event)


def _steps_of(message: Message) -> int:
    if isinstance(message, Progress):
        return message.step if message.global_step is None else message.global_step
    return getattr(message, "step", None) or 0
