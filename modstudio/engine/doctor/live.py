"""The doctor during training, torch-free: fed the worker's messages as they arrive (the GUI thread
does this on every ``routing`` message), it gives the same diagnoses as ``modstudio doctor`` on the
finished run's files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modstudio.engine.protocol import Message, Progress, Routing

from .diagnoses import Diagnosis, diagnose
from .history import RoutingHistory
from .thresholds import DEFAULT, Thresholds


class LiveDoctor:
    """Collects ``Routing`` and ``Progress`` messages; :meth:`diagnoses` reads them."""

    def __init__(self, t: Thresholds = DEFAULT) -> None:
        self.t = t
        self.history = RoutingHistory()

    def reset(self) -> None:
        self.history = RoutingHistory()

    def feed(self, message: Message) -> bool:
        """Take one message; True when it changed what the doctor knows about routing."""
        match message:
            case Routing(probes=probes, kind=kind, step=step):
                self.history.add_routing(probes, step, kind)
                return kind == "train"
            case Progress(loss=loss, global_step=step) if step is not None:
                self.history.add_loss(step, loss)
        return False

    def diagnoses(self, layers: Mapping[str, Mapping[str, Any]] | None = None) -> list[Diagnosis]:
        return diagnose(self.history, layers, self.t)
