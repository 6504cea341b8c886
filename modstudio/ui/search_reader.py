"""Reading a study off the GUI thread: its trials at most once a second while a search runs, and the
parameters' importances when the finished trials change.

The reads run in :class:`~modstudio.ui.background.Background` threads (Optuna and SQLite never run
on the GUI thread); a read is not started while the last one is still going, so a slow disk makes
the table lag, never the editor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from modstudio.engine.search.study import (
    DIRECTIONS,
    default_storage,
    default_study_name,
    importances,
    pareto_front,
    read_trials,
    study_objectives,
)

from .background import Background

POLL_MS = 1000


@dataclass(frozen=True)
class StudyPlace:
    """Where a study is: its Optuna storage URL and its name."""

    storage: str
    name: str


@dataclass
class StudyState:
    """What one read found: the trials, the numbers of those on the Pareto front (or the best one), and the
    objectives the study was run for."""

    rows: list[Any] = field(default_factory=list)
    front: list[int] = field(default_factory=list)
    objectives: list[str] = field(default_factory=list)
    # "-flops" / "-params" -> each finished trial's (cost, accuracy or loss), and the front of those two
    points: dict[str, dict[int, tuple[float, float]]] = field(default_factory=dict)
    cost_fronts: dict[str, list[int]] = field(default_factory=dict)


COSTS = ("-flops", "-params")


def quality_of(objectives: Sequence[str]) -> str | None:
    """What the Pareto view plots upwards: accuracy or loss, whichever the study optimises first."""
    return next((o for o in objectives if o in ("accuracy", "loss")), None)


def cost_points(rows: Sequence[Any], objectives: Sequence[str], cost: str) -> dict[int, tuple[float, float]]:
    """Each complete trial's (cost, quality): the cost its network was measured at (FLOPs, parameters), or
    its objective value when the study optimises that cost."""
    quality = quality_of(objectives)
    points: dict[int, tuple[float, float]] = {}
    for row in rows:
        if quality is None or row.state != "COMPLETE" or not row.values or len(row.values) != len(objectives):
            continue
        x = getattr(row, "flops" if cost == "-flops" else "param_count", None)
        if x is None and cost in objectives:
            x = row.values[objectives.index(cost)]
        if x is not None:
            points[row.number] = (float(x), float(row.values[objectives.index(quality)]))
    return points


def default_place(project_path: Path) -> StudyPlace:
    """The study ``modstudio search FILE`` uses without ``--storage``: SQLite beside the project."""
    return StudyPlace(default_storage(project_path), default_study_name(project_path))


def read_state(place: StudyPlace, objectives: Sequence[str]) -> StudyState:
    """The study's trials and front (in a worker thread; optuna loads there). No study yet: no trials."""
    rows = read_trials(place.storage, place.name)
    used = (study_objectives(place.storage, place.name) if rows else []) or list(objectives)
    front = [row.number for row in pareto_front(rows, used)] if all(o in DIRECTIONS for o in used) else []
    state = StudyState(rows, front, used)
    quality = quality_of(used)
    for cost in COSTS if quality is not None else ():
        points = cost_points(rows, used, cost)
        pairs = [replace(r, values=[points[r.number][1], points[r.number][0]]) for r in rows if r.number in points]
        state.points[cost] = points
        state.cost_fronts[cost] = [r.number for r in pareto_front(pairs, [quality, cost])]
    return state


def read_importances(place: StudyPlace) -> dict[str, float]:
    """How much each target explains the study's first objective (in a worker thread)."""
    found = importances(place.storage, place.name)
    return next(iter(found.values()), {}) if found else {}


class StudyReader(QObject):
    """``read()`` now, ``follow(True)`` to read every second; ``state_read(StudyState)``,
    ``importances_read(dict | None, why_not)`` and ``failed(text)`` come back on the GUI thread."""

    state_read = Signal(object)
    importances_read = Signal(object, str)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.place: StudyPlace | None = None
        self.objectives: list[str] = []
        self.state = StudyState()
        self.want_importances = False  # the Importances view is shown: compute them when trials finish
        self._rows = Background(self, "study-reader")
        self._importance = Background(self, "study-importances")
        self._again = False
        self._complete_seen = -1
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.read)

    def set_place(self, place: StudyPlace | None, objectives: Sequence[str]) -> None:
        self.place, self.objectives = place, list(objectives)
        self.state = StudyState(objectives=list(objectives))
        self._complete_seen = -1
        self.read()

    def follow(self, on: bool) -> None:
        """Read every second (a search is running) or stop reading."""
        if on:
            self._timer.start()
        else:
            self._timer.stop()

    def following(self) -> bool:
        return self._timer.isActive()

    def read(self) -> None:
        if self.place is None:
            self.state_read.emit(StudyState(objectives=self.objectives))
            return
        if self._rows.busy():  # the last read is still going: read again when it is back
            self._again = True
            return
        place, objectives = self.place, list(self.objectives)
        self._rows.run(lambda: read_state(place, objectives), lambda result: self._read(place, result))

    def _read(self, place: StudyPlace, result: Any) -> None:
        if place != self.place:
            return  # another project's study by now
        if isinstance(result, Exception):
            self.failed.emit(f"The study could not be read: {result}")
        else:
            self.state = result
            self.state_read.emit(result)
            self._maybe_importances()
        if self._again:
            self._again = False
            self.read()

    def _maybe_importances(self, force: bool = False) -> None:
        complete = sum(1 for row in self.state.rows if str(row.state).upper() == "COMPLETE")
        if self.place is None or self._importance.busy() or not (self.want_importances or force):
            return
        if complete == self._complete_seen and not force:
            return
        self._complete_seen = complete
        if complete < 2:
            self.importances_read.emit(None, "Importances need at least two finished trials.")
            return
        place = self.place
        self._importance.run(lambda: read_importances(place), lambda result: self._importances(place, result))

    def importances_wanted(self, on: bool) -> None:
        self.want_importances = on
        if on:
            self._maybe_importances()

    def _importances(self, place: StudyPlace, result: Any) -> None:
        if place != self.place:
            return
        if isinstance(result, Exception):
            self.importances_read.emit(None, f"No importances: {result}")
        else:
            self.importances_read.emit(result, "")

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until the reads in flight are handed back (tests, closing)."""
        return self._rows.wait(timeout) and self._importance.wait(timeout)
