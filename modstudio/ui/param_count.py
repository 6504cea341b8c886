"""The parameter count for the status bar, computed with torch in a background thread.

torch is imported only here, after the window is shown; the network is built on the meta
device (no memory for weights). The GUI thread only receives the finished number.
"""

from __future__ import annotations

import copy

from PySide6.QtCore import QObject, QTimer, Signal

from modstudio.blocks.catalog import Catalog
from modstudio.graph.model import Project
from modstudio.ui.background import Background


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
        self.background = Background(self, "parameter-count")

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
        self.background.run(lambda: self._count(project), lambda text: self._counted(generation, text))

    def _count(self, project: Project) -> str:
        try:
            return f"parameters: {count_parameters(project, self.catalog):,}"
        except Exception as exc:  # a network that cannot be built: say so, never crash the UI
            return f"parameters: — ({type(exc).__name__})"

    def _counted(self, generation: int, text: str) -> None:
        if generation == self._generation:  # else the project changed meanwhile: a newer count is coming
            self.counted.emit(text)
