"""The parameter count for the status bar, computed with torch in a background thread.

torch is imported only here, after the window is shown; the network is built on the meta
device (no memory for weights). The GUI thread only receives the finished number.
"""

from __future__ import annotations

import copy
import threading

from PySide6.QtCore import QObject, QTimer, Signal

from modstudio.blocks.catalog import Catalog
from modstudio.graph.model import Project


def count_parameters(project: Project, catalog: Catalog) -> int:
    from modstudio.compile.graphnet import build_on_meta

    net = build_on_meta(project, catalog)
    return sum(p.numel() for p in net.parameters())


class ParamCounter(QObject):
    """``request(project)`` debounces; ``counted`` carries the text for the status bar."""

    counted = Signal(str)

    def __init__(self, catalog: Catalog, parent: QObject | None = None, delay_ms: int = 400) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self._project: Project | None = None
        self._generation = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._start)

    def request(self, project: Project, has_errors: bool) -> None:
        self._generation += 1
        if has_errors:
            self._timer.stop()
            self.counted.emit("parameters: — (fix the shape problems first)")
            return
        self._project = project
        self._timer.start()

    def _start(self) -> None:
        if self._project is None:
            return
        project, generation = copy.deepcopy(self._project), self._generation  # the worker never sees the live document
        self.counted.emit("parameters: counting…")
        threading.Thread(target=self._work, args=(project, generation), daemon=True).start()

    def _work(self, project: Project, generation: int) -> None:
        try:
            text = f"parameters: {count_parameters(project, self.catalog):,}"
        except Exception as exc:  # a network that cannot be built: say so, never crash the UI
            text = f"parameters: — ({type(exc).__name__})"
        if generation == self._generation:
            self.counted.emit(text)  # queued to the GUI thread
