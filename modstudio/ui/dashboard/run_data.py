"""RunData: everything the dashboard has received for the current run, plus a compared run's curves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modstudio.engine.protocol import Error, Gradients, Message, Regions, Routing, Started, Statistics, Warning
from modstudio.engine.statistics_watch import ActivationWatch

from .data import Curves, Layer, Series, layers_for
from .statistics_data import StatisticsHistory


@dataclass
class RegionPicture:
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
    regions: RegionPicture | None = None
    points: np.ndarray | None = None  # [n, 2] training points drawn over the regions
    point_labels: np.ndarray | None = None
    gradients: dict[str, float] = field(default_factory=dict)  # module -> latest gradient norm
    gradient_history: dict[str, Series] = field(default_factory=dict)
    warnings: list[Warning_] = field(default_factory=list)
    statistics: StatisticsHistory = field(default_factory=StatisticsHistory)  # training.statistics_every records
    activation_watch: ActivationWatch = field(default_factory=ActivationWatch)  # dead / exploding layers in them
    dirty: set[str] = field(
        default_factory=set
    )  # what views need redrawing: curves, routing, regions, modules, statistics, warnings

    @classmethod
    def from_started(cls, started: Started) -> RunData:
        data = cls(task=started.task)
        data.label_name = started.routing_labels
        layout = started.probe_layout or {path: {} for path in started.probes}
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
    def handle(self, message: Message) -> None:
        if self.curves.handle(message):
            self.dirty.add("curves")
            return
        match message:
            case Routing():
                self._routing(message)
            case Regions():
                self._regions(message)
            case Gradients(step=step, norms=norms):
                self.gradients = dict(norms)
                for name, value in self.gradients.items():
                    self.gradient_history.setdefault(name, Series()).add(step, value)
                self.dirty.add("modules")
            case Statistics():
                self.statistics.add(message)
                for found in self.activation_watch.check(message):  # a replayed run warns as the live one did
                    self.add_warning(found.text, found.path, "warning")
                self.dirty.add("statistics")
            case Warning(path=path):
                self.add_warning(message.describe(), path, "warning")
            case Error(path=path):
                self.add_warning(message.describe() or "training failed", path, "error")

    def add_warning(self, text: str, path: str, severity: str) -> None:
        if any(w.text == text for w in self.warnings):
            return
        self.warnings.append(Warning_(text, path, severity))
        self.dirty.add("warnings")

    def _routing(self, message: Routing) -> None:
        if message.kind != "train":
            return  # the test pass at the end is not part of the training timeline
        step = message.step
        for path, facts in message.probes.items():
            if not self.layers_of(path):
                self._add_layers(path, facts)
            for layer in self.layers_of(path):
                layer.add_report(step, facts)
        self.dirty.update({"routing", "modules"})

    def _regions(self, message: Regions) -> None:
        predicted, values = message.predicted, message.values
        self.regions = RegionPicture(
            extent=message.extent,
            size=message.size,
            predicted=None if predicted is None else np.asarray(predicted),
            values=None if values is None else np.asarray(values, dtype=np.float32),
            experts={str(k): np.asarray(v) for k, v in message.experts.items()},
            step=message.step,
        )
        if message.points is not None:
            self.points = np.asarray(message.points, dtype=np.float32)
            labels = message.labels
            self.point_labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.dirty.add("regions")
