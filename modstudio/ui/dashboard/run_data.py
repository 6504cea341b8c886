"""RunData: everything the dashboard has received for the current run, plus a compared run's curves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import Curves, Layer, Series, layers_for


@dataclass
class Regions:
    """The latest decision-region picture (2-D inputs)."""

    extent: tuple[float, float, float, float]
    size: int
    predicted: np.ndarray | None  # [G, G] class per grid point (classification)
    values: np.ndarray | None  # [G, G] output value (regression)
    experts: dict[str, np.ndarray]  # probe path -> [G, G] expert per grid point
    step: int


@dataclass
class Warning_:
    text: str
    path: str  # the node to select ("" when there is none)
    severity: str  # "warning" or "error"


@dataclass
class RunData:
    task: str = "classification"
    label_name: str = "class"  # what the rows of the class x expert matrix are
    curves: Curves = field(default_factory=Curves)
    layers: dict[str, Layer] = field(default_factory=dict)  # by layer name, in arrival order
    regions: Regions | None = None
    points: np.ndarray | None = None  # [n, 2] training points drawn over the regions
    point_labels: np.ndarray | None = None
    gradients: dict[str, float] = field(default_factory=dict)  # module -> latest gradient norm
    gradient_history: dict[str, Series] = field(default_factory=dict)
    warnings: list[Warning_] = field(default_factory=list)
    dirty: set[str] = field(
        default_factory=set
    )  # what views need redrawing: curves, routing, regions, modules, warnings

    @classmethod
    def from_started(cls, started: dict[str, Any]) -> RunData:
        data = cls(task=str(started.get("task", "classification")))
        data.label_name = str(started.get("routing_labels", "class"))
        layout = started.get("probe_layout") or {path: {} for path in started.get("probes", [])}
        for path, info in layout.items():
            if info:
                data._add_layers(path, info)
        data.dirty.update({"curves", "routing", "regions", "modules", "warnings"})
        return data

    def _add_layers(self, path: str, info: dict[str, Any]) -> None:
        for layer in layers_for(path, info):
            if layer.count > 0:
                self.layers.setdefault(layer.name, layer)

    def layers_of(self, path: str) -> list[Layer]:
        return [layer for layer in self.layers.values() if layer.path == path]

    # -- messages ---------------------------------------------------------------------------
    def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if self.curves.handle(message):
            self.dirty.add("curves")
        elif kind == "routing":
            self._routing(message)
        elif kind == "regions":
            self._regions(message)
        elif kind == "gradients":
            step = int(message.get("step", 0))
            self.gradients = {str(k): float(v) for k, v in (message.get("norms") or {}).items()}
            for name, value in self.gradients.items():
                self.gradient_history.setdefault(name, Series()).add(step, value)
            self.dirty.add("modules")
        elif kind == "warning":
            self.add_warning(str(message.get("message", "")), str(message.get("path", "") or ""), "warning")
        elif kind == "error":
            text = str(message.get("message", "training failed"))
            self.add_warning(text, str(message.get("path", "") or ""), "error")

    def add_warning(self, text: str, path: str, severity: str) -> None:
        if any(w.text == text for w in self.warnings):
            return
        self.warnings.append(Warning_(text, path, severity))
        self.dirty.add("warnings")

    def _routing(self, message: dict[str, Any]) -> None:
        if message.get("kind", "train") != "train":
            return  # the test pass at the end is not part of the training timeline
        step = int(message.get("step", 0))
        for path, facts in (message.get("probes") or {}).items():
            if not self.layers_of(path):
                self._add_layers(path, facts)
            for layer in self.layers_of(path):
                layer.add_report(step, facts)
        self.dirty.update({"routing", "modules"})

    def _regions(self, message: dict[str, Any]) -> None:
        extent = tuple(float(v) for v in message.get("extent", (0.0, 1.0, 0.0, 1.0)))
        predicted = message.get("predicted")
        values = message.get("values")
        self.regions = Regions(
            extent=extent,  # type: ignore[arg-type]
            size=int(message.get("size", 0)),
            predicted=None if predicted is None else np.asarray(predicted),
            values=None if values is None else np.asarray(values, dtype=np.float32),
            experts={str(k): np.asarray(v) for k, v in (message.get("experts") or {}).items()},
            step=int(message.get("step", 0)),
        )
        if message.get("points") is not None:
            self.points = np.asarray(message["points"], dtype=np.float32)
            labels = message.get("labels")
            self.point_labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.dirty.add("regions")
