"""The messages the training worker sends, as frozen dataclasses (torch-free and Qt-free: the GUI thread imports it).

The worker builds one of these classes for every event, sends ``to_dict()`` through the pipe and writes the
same dict to ``metrics.jsonl`` / ``routing.jsonl`` / ``statistics.jsonl``; readers turn a dict back with
:func:`message_from_dict`, which checks the keys and their types and raises :class:`ProtocolError` (a sentence, never a traceback)
for an unknown type or a missing or wrong key. Consumers ``match`` on the classes. Every message's
``describe()`` is the one human text for it: ``modstudio train``'s console and the window's status bar
both print it.

The JSON form is ``{"type": <kind>, <field>: <value>, ...}``, the same keys the run folders have always held.
The base class is in :mod:`modstudio.engine.message_base`; ``statistics`` lives in
:mod:`modstudio.engine.statistics_message`.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pydantic

from modstudio.engine.message_base import MessageBase as _Message
from modstudio.engine.message_base import ProtocolError
from modstudio.engine.statistics_message import Histogram, ModuleStatistics, Statistics

# -- the run starting, pausing, going on -------------------------------------------------------------------------


@dataclass(frozen=True)
class Started(_Message):
    """The worker has built everything and takes its first step next."""

    type: ClassVar[str] = "started"
    run_folder: str
    device: str
    epochs: int
    precision: str = "fp32"
    start_epoch: int = 0
    steps_per_epoch: int = 0
    task: str = "classification"
    dataset: str = ""
    samples: dict[str, int] = field(default_factory=dict)  # train / val / test
    parameters: int = 0
    probes: tuple[str, ...] = ()
    seed: int | None = None
    probe_layout: dict[str, Any] = field(default_factory=dict)
    modules: tuple[str, ...] = ()  # the top-level submodules whose gradient norms are reported
    regions: bool = False
    routing_labels: str = "class"

    def describe(self) -> str:
        counts = "/".join(str(self.samples.get(part, 0)) for part in ("train", "val", "test"))
        return (
            f"training on {self.device} ({self.precision}): {self.dataset} {counts} train/val/test samples, "
            f"{self.parameters:,} parameters, {self.epochs} epochs"
        )


@dataclass(frozen=True)
class Progress(_Message):
    """A few times a second: the step within the epoch and the loss of the last step."""

    type: ClassVar[str] = "progress"
    epoch: int
    step: int
    steps: int
    loss: float
    global_step: int | None = None  # optimizer steps since the run began (older run folders lack it)
    accuracy: float | None = None  # the epoch's running training accuracy (classification)
    samples_per_second: float | None = None

    @property
    def at(self) -> str:
        return f"epoch {self.epoch} · step {self.step}/{self.steps}"

    def describe(self) -> str:
        accuracy = "" if self.accuracy is None else f" · accuracy {self.accuracy:.4f}"
        rate = "" if self.samples_per_second is None else f" · {self.samples_per_second:,.0f} samples/s"
        return f"{self.at} · loss {self.loss:.4f}{accuracy}{rate}"


@dataclass(frozen=True)
class Epoch(_Message):
    """An epoch ended: its training loss and the validation result."""

    type: ClassVar[str] = "epoch"
    epoch: int
    epochs: int
    train_loss: float
    step: int | None = None
    train_accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    val_r2: float | None = None
    lr: float | None = None
    seconds: float | None = None
    aux_losses: dict[str, float] = field(default_factory=dict)

    @property
    def val_score(self) -> float | None:
        """R² for regression, else accuracy."""
        return self.val_accuracy if self.val_r2 is None else self.val_r2

    def describe(self) -> str:
        metric = "acc" if self.val_r2 is None else "R²"
        train = f"train loss {_number(self.train_loss)}" + (
            "" if self.train_accuracy is None else f" acc {self.train_accuracy:.4f}"
        )
        took = "" if self.seconds is None else f" ({self.seconds:.1f} s)"
        return (
            f"epoch {self.epoch}/{self.epochs}: {train}, val loss {_number(self.val_loss)} "
            f"{metric} {_number(self.val_score)}{took}"
        )


@dataclass(frozen=True)
class Usage(_Message):
    """After each epoch: speed and memory."""

    type: ClassVar[str] = "usage"
    epoch: int
    samples_per_second: float
    memory_mb: float = 0.0
    device: str = ""

    def describe(self) -> str:
        return (
            f"epoch {self.epoch}: {self.samples_per_second:,.0f} samples/s, {self.memory_mb:,.0f} MB on {self.device}"
        )


@dataclass(frozen=True)
class Paused(_Message):
    type: ClassVar[str] = "paused"
    step: int

    def describe(self) -> str:
        return f"paused at step {self.step}"


@dataclass(frozen=True)
class Resumed(_Message):
    type: ClassVar[str] = "resumed"
    step: int

    def describe(self) -> str:
        return f"resumed at step {self.step}"


@dataclass(frozen=True)
class Checkpoint(_Message):
    type: ClassVar[str] = "checkpoint"
    path: str
    epoch: int
    step: int
    best: bool = False

    def describe(self) -> str:
        return f"checkpoint after {self.epoch} epochs ({self.step} steps){' · best so far' if self.best else ''}"


# -- what the live views draw ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Routing(_Message):
    """The routing facts of every probed layer since the last report (``kind`` "test": the final test pass)."""

    type: ClassVar[str] = "routing"
    probes: dict[str, dict[str, Any]]
    kind: str = "train"
    epoch: int = 0
    step: int = 0

    def describe(self) -> str:
        layers = ", ".join(path or "network" for path in self.probes)
        return f"routing ({self.kind}) at step {self.step}: {layers}"


@dataclass(frozen=True)
class Gradients(_Message):
    type: ClassVar[str] = "gradients"
    norms: dict[str, float]
    epoch: int = 0
    step: int = 0

    def describe(self) -> str:
        return f"gradient norms at step {self.step}: " + ", ".join(f"{k} {v:.3g}" for k, v in self.norms.items())


@dataclass(frozen=True)
class Regions(_Message):
    """Decision (and expert) regions on the plane; arrays are numpy arrays on the pipe, lists in a file."""

    type: ClassVar[str] = "regions"
    extent: tuple[float, float, float, float]
    size: int
    epoch: int = 0
    step: int = 0
    predicted: Any = None  # [G, G] class per grid point (classification)
    values: Any = None  # [G, G] output (regression)
    experts: dict[str, Any] = field(default_factory=dict)  # probe path -> [G, G] expert per grid point
    points: Any = None  # [n, 2] training points (the first regions message only)
    labels: Any = None

    def describe(self) -> str:
        return f"decision regions at step {self.step} ({self.size} x {self.size} grid)"


# -- problems and the end ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Warning(_Message):
    type: ClassVar[str] = "warning"
    message: str
    kind: str = ""  # collapse, regions, protocol
    step: int | None = None
    path: str = ""  # the node the warning is about ("" when none)

    def describe(self) -> str:
        return self.message


@dataclass(frozen=True)
class Error(_Message):
    """The run failed; a :class:`Finished` with status "failed" follows."""

    type: ClassVar[str] = "error"
    message: str
    kind: str = "crash"  # data, shape, task, settings, nan, oom, crash, start
    step: int | None = None
    detail: str = ""  # a traceback for a crash
    path: str = ""

    def describe(self) -> str:
        return self.message


STATUS_WORDS = {"completed": "done", "early_stopped": "stopped early (no better validation loss)", "stopped": "stopped"}


@dataclass(frozen=True)
class _Summary(_Message):
    status: str
    epochs: int | None = None
    steps: int | None = None
    run_folder: str | None = None
    seconds: float | None = None
    task: str = ""
    test_loss: float | None = None
    test_accuracy: float | None = None
    test_r2: float | None = None
    best_val_loss: float | None = None
    routing_nmi: dict[str, float] = field(default_factory=dict)
    error: str = ""  # status "failed": why
    kind: str = ""  # status "failed": the kind of the error

    @property
    def score(self) -> str:
        if self.test_accuracy is not None:
            return f"test accuracy {self.test_accuracy:.4f}"
        if self.test_r2 is not None:
            return f"test R² {self.test_r2:.4f}"
        return "no test split"

    def describe(self) -> str:
        if self.status == "failed":
            return f"training failed: {self.error}" if self.error else "training failed"
        took = "" if self.seconds is None else f" ({self.seconds:.1f} s)"
        nmi = "".join(f", routing NMI {path or 'net'} {value:.3f}" for path, value in self.routing_nmi.items())
        words = STATUS_WORDS.get(self.status, self.status)
        return f"{words}: {self.score} after {self.epochs} epochs{took}{nmi}"


@dataclass(frozen=True)
class Finished(_Summary):
    """The last message of every run, whatever happened: completed, early_stopped, stopped or failed."""

    type: ClassVar[str] = "finished"

    @classmethod
    def failed(
        cls, error: str, kind: str = "crash", run_folder: str | None = None, steps: int | None = None
    ) -> Finished:
        """The one way a failed run ends (worker error, dead worker, a process that never started)."""
        return cls(status="failed", error=error, kind=kind, run_folder=run_folder, steps=steps)


@dataclass(frozen=True)
class Test(_Summary):
    """The last line of ``metrics.jsonl``: the run's summary with the test result (the ``finished`` fields)."""

    type: ClassVar[str] = "test"
    __test__: ClassVar[bool] = False  # not a test case, whatever pytest thinks of its name

    @classmethod
    def of(cls, finished: Finished) -> Test:
        return cls(**{f.name: getattr(finished, f.name) for f in dataclasses.fields(finished)})


Message = (
    Started | Progress | Epoch | Usage | Paused | Resumed | Checkpoint | Routing | Gradients | Regions | Statistics
    | Warning | Error | Finished | Test
)  # fmt: skip
MESSAGE_TYPES: dict[str, type[_Message]] = {
    cls.type: cls
    for cls in (
        Started, Progress, Epoch, Usage, Paused, Resumed, Checkpoint, Routing, Gradients, Regions, Statistics,
        Warning, Error, Finished, Test,
    )
}  # fmt: skip


@functools.cache
def _adapter(cls: type[_Message]) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(cls)


def message_from_dict(data: Any) -> Message:
    """The message a JSON dict holds; ProtocolError (one sentence) for anything else."""
    if not isinstance(data, dict):
        raise ProtocolError(f"a message is a JSON object, not {type(data).__name__}")
    kind = data.get("type")
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(sorted(MESSAGE_TYPES))
        raise ProtocolError(f"unknown message type {kind!r} (known: {known})")
    try:
        return _adapter(cls).validate_python({k: v for k, v in data.items() if k != "type"})  # type: ignore[no-any-return]
    except pydantic.ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise ProtocolError(f"the {kind!r} message {problems}") from None


def messages_from_dicts(records: list[dict[str, Any]]) -> tuple[list[Message], list[str]]:
    """The messages among ``records`` (lines of a run file) and, for each one skipped, why."""
    out: list[Message] = []
    skipped: list[str] = []
    for number, record in enumerate(records, 1):
        try:
            out.append(message_from_dict(record))
        except ProtocolError as exc:
            skipped.append(f"record {number} skipped: {exc}")
    return out, skipped


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())) or "?"
    if error.get("type") == "missing":
        return f"lacks {where!r}"
    return f"has a wrong {where!r} ({error.get('msg', 'invalid')}, got {error.get('input')!r:.40})"


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


__all__ = [
    "MESSAGE_TYPES",
    "Checkpoint",
    "Epoch",
    "Error",
    "Finished",
    "Gradients",
    "Histogram",
    "Message",
    "ModuleStatistics",
    "Paused",
    "Progress",
    "ProtocolError",
    "Regions",
    "Resumed",
    "Routing",
    "Started",
    "Statistics",
    "Test",
    "Usage",
    "Warning",
    "message_from_dict",
    "messages_from_dicts",
]
