"""The parameter count for the status bar, computed with torch in a background thread.

torch is imported only here, after the window is shown; the network is built on the meta
device (no memory for weights). The GUI thread only receives the finished number. Inside a
module the count is that module's own, at the use its shapes come from (its first use).
"""

from __future__ import annotations

import copy

from PySide6.QtCore import QObject, QTimer, Signal

from modstudio.blocks.catalog import Catalog
from modstudio.graph.model import Project
from modstudio.ui.background import Background

from .checking import CheckResult


def count_parameters(project: Project, catalog: Catalog, module: str | None = None) -> int:
    """Parameters of the main module's network, or of ``module`` as built at its first use."""
    import torch

    from modstudio.compile.graphnet import GraphNet, build_on_meta
    from modstudio.compile.module_use import module_view

    if module is None or module == project.main:
        net = build_on_meta(project, catalog)
    else:
        view = module_view(project, catalog, module)
        if view.shapes is None:
            raise ValueError(view.note)
        with torch.device("meta"):
            net = GraphNet(project, catalog, shapes=view.shapes)
    return sum(p.numel() for p in net.parameters())


class ParamCounter(QObject):
    """``request(project, check)`` debounces; ``counted`` carries the text for the status bar."""

    counted = Signal(str)

    def __init__(self, catalog: Catalog, parent: QObject | None = None, delay_ms: int = 400) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self._project: Project | None = None
        self._module: str | None = None
        self._note = ""
        self._generation = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._start)
        self.background = Background(self, "parameter-count")

    def request(self, project: Project, check: CheckResult) -> None:
        """Count the parameters of the module ``check`` is about, once its shapes are known and fit."""
        self._generation += 1
        self._note = check.note
        if not check.countable:
            self._timer.stop()
            text = "parameters: — (fix the problems first)" if check.shapes_known else "parameters: —"
            self.counted.emit(self._with_note(text))
            return
        self._project, self._module = project, check.module
        self._timer.start()

    def _with_note(self, text: str) -> str:
        return f"{text} · {self._note}" if self._note else text

    def _start(self) -> None:
        if self._project is None:
            return
        project, module, generation = copy.deepcopy(self._project), self._module, self._generation
        self.counted.emit(self._with_note("parameters: counting…"))
        self.background.run(lambda: self._count(project, module), lambda text: self._counted(generation, text))

    def _count(self, project: Project, module: str | None) -> str:
        try:
            return f"parameters: {count_parameters(project, self.catalog, module):,}"
        except Exception as exc:  # a network that cannot be built: say so, never crash the UI
            return f"parameters: — ({type(exc).__name__})"

    def _counted(self, generation: int, text: str) -> None:
        if generation == self._generation:  # else the project changed meanwhile: a newer count is coming
            self.counted.emit(self._with_note(text))
