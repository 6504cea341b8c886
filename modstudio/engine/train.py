"""The training loop: steps, metrics, checkpoints, early stopping, and what it reports on the way.

:class:`Trainer` runs a prepared :class:`Session` in the current process and reports every
event as a typed message (:mod:`modstudio.engine.protocol`) through ``emit``; between steps it asks ``commands`` (pause,
resume, stop) without blocking. The worker process wraps it; tests and benchmarks call it
directly.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from modstudio.compile.probes import (
    aux_loss,
    aux_loss_values,
    enable_probes,
    probes_of,
    set_probe_labels,
)
from modstudio.engine.data import Batch, TensorData, eval_batches
from modstudio.engine.errors import EngineError
from modstudio.engine.live import GradientNorms, RegionGrid, is_plane
from modstudio.engine.metrics import Evaluation, evaluate
from modstudio.engine.protocol import (
    Checkpoint,
    Epoch,
    Finished,
    Gradients,
    Message,
    Paused,
    Progress,
    Resumed,
    Routing,
    Started,
    Usage,
    Warning,
)
from modstudio.engine.routing import CollapseDetector, normalized_mutual_information
from modstudio.engine.session import Session
from modstudio.engine.settings import lr_factor
from modstudio.engine.statistics import StatisticsRecorder
from modstudio.engine.statistics_watch import ActivationWatch
from modstudio.engine.train_reports import (
    finished_message,
    memory_mb,
    non_finite_message,
    started_message,
    write_failed,
    write_finished,
)


class Commands(Protocol):
    def poll(self) -> str | None: ...  # a command if one is waiting, else None (never blocks)
    def wait(self, timeout: float) -> str | None: ...  # the next command, or None after timeout


class NonFiniteLoss(EngineError):
    def __init__(self, message: str, step: int) -> None:
        super().__init__(message, "nan")
        self.step = step


class Trainer:
    """Runs a session to the end, or until stopped; returns the final summary (also sent as ``finished``)."""

    def __init__(
        self, session: Session, emit: Callable[[Message], None] | None = None, commands: Commands | None = None
    ) -> None:
        self.s = session
        self.emit = emit or (lambda message: None)
        self.commands = commands
        self.probes = probes_of(session.net)
        self.collapse = CollapseDetector(session.settings.collapse_reports, session.settings.collapse_share)
        self._labels = session.splits.train.regions is not None or session.task.kind == "classification"
        self._progress_gap = 1.0 / max(session.settings.progress_per_second, 1e-3)
        self._last_progress = self._last_routing = 0.0
        self._started = time.monotonic()
        self.status = "completed"
        self._aux: bool | None = None  # unknown until the first step
        self._total_steps = session.total_steps  # for the learning-rate schedule
        live = session.settings.live_views
        self.gradients = GradientNorms(session.net) if live else None
        self._grad_norms: dict[str, float] | None = None  # measured on the last report step
        self._report_due = False  # the step being taken feeds the routing and gradient reports
        self.regions: RegionGrid | None = None
        train = session.splits.train
        if live and is_plane(train.x):
            labels = train.y if session.task.kind == "classification" else None
            self.regions = RegionGrid(train.x, labels, session.device, session.settings.region_grid, session.seed)
        self._last_regions = time.monotonic()
        every = session.project.training.statistics_every  # off (None) by default: no hooks, no file
        self.statistics = StatisticsRecorder(session.net, every) if every else None
        self._activation_watch = ActivationWatch()

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> Finished:
        s = self.s
        enable_probes(s.net, bool(self.probes))
        self.emit(self._started_message())
        if self.statistics is not None and self.statistics.left_out:
            kept = len(self.statistics.modules)
            self.emit(Warning(kind="statistics", message=f"statistics cover the first {kept} modules; "
                              f"{self.statistics.left_out} more are not recorded", step=s.step))  # fmt: skip
        if s.epoch == 0 and s.step == 0:
            self.checkpoint(best=False)  # a good checkpoint exists before the first step
        try:
            for epoch in range(s.epoch, s.epochs):
                if not self.train_epoch(epoch):
                    self.status = "stopped"
                    self.checkpoint(best=False)
                    break
                s.epoch = epoch + 1
                if self._end_of_epoch(epoch):
                    self.status = "early_stopped"
                    break
        except NonFiniteLoss as exc:
            write_failed(self.s, exc)
            raise
        return self._finish()

    def train_epoch(self, epoch: int) -> bool:
        """One epoch; False when a stop command arrived."""
        s = self.s
        s.net.train()
        steps = s.stream.steps(epoch)
        loss_sum = 0.0
        correct = torch.zeros((), device=s.device, dtype=torch.long)
        seen = 0
        self._epoch_started = time.monotonic()
        period = s.settings.routing_period
        reporting = bool(self.probes) or bool(self.gradients)
        for i, batch in enumerate(s.stream.epoch(epoch)):
            if self.commands is not None and not self._obey(self.commands.poll()):
                return False
            report = reporting and time.monotonic() - self._last_routing >= period  # this step feeds the reports
            self._report_due = report
            out, value = self._step(batch, epoch)
            n = batch.y.shape[0]
            loss_sum += value * n
            if s.task.kind == "classification":
                correct += (out.argmax(dim=1) == batch.y).sum()
            seen += n
            now = time.monotonic()
            if now - self._last_progress >= self._progress_gap or i == steps - 1:
                self._last_progress = now
                accuracy = float(correct) / seen if s.task.kind == "classification" else None
                self._report_progress(epoch, i + 1, steps, value, seen, now, accuracy)
            if report:
                self._last_routing = now
                if self.probes:
                    self._report_routing(epoch)
                self._report_gradients(epoch)
            if self.regions is not None and now - self._last_regions >= s.settings.regions_period:
                self._report_regions(epoch)
        self._train_loss = loss_sum / max(seen, 1)
        self._train_accuracy = float(correct) / max(seen, 1) if s.task.kind == "classification" else None
        self._train_samples = seen
        return True

    def _step(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, float]:
        s = self.s
        schedule = s.project.training.schedule
        if schedule != "none":
            factor = lr_factor(schedule, s.step, self._total_steps, epoch, s.epochs)
            for group, base in zip(s.optimizer.param_groups, s.base_lrs):
                group["lr"] = base * factor
        if self.probes and self._labels:
            self._label_batch(batch)
        recorder = self.statistics if self.statistics is not None and self.statistics.due(s.step + 1) else None
        with (
            self._autocast(),
            recorder.watching() if recorder is not None else contextlib.nullcontext(),
        ):  # this forward only
            out = s.net(batch.x)
            if isinstance(out, tuple):
                out = out[s.task.index]
        out = out.float()
        loss = task_loss(s.task.kind, out, batch.y)
        if self._aux is not False:  # weighted auxiliary losses of conditional layers (MoE load balance, z-loss)
            extra = aux_loss(s.net)
            if isinstance(extra, torch.Tensor):
                loss = loss + extra
            if self._aux is None:  # after the first forward: does any layer keep auxiliary losses at all?
                self._aux = bool(self.probes) or any(hasattr(m, "aux_losses") for m in s.net.modules())
        value = loss.item()
        if not math.isfinite(value):  # checked before the update: the weights stay as they were
            if recorder is not None:  # the activations of the failing step say which layer blew up
                self._report_statistics(s.step + 1, epoch)
            raise NonFiniteLoss(non_finite_message(s, value, epoch), s.step + 1)
        s.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self._report_due and self.gradients:  # before clipping: the gradients as the loss made them
            self._grad_norms = self.gradients.measure()
        if recorder is not None:
            recorder.after_backward()
        clip = s.project.training.grad_clip
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(s.net.parameters(), clip)
        s.optimizer.step()
        s.step += 1
        if recorder is not None:
            self._report_statistics(s.step, epoch)
        return out, value

    def _end_of_epoch(self, epoch: int) -> bool:
        """Validate, report, checkpoint; True when early stopping ends the run."""
        s = self.s
        val = self.evaluate(s.splits.val) if s.splits.val is not None else None
        watched = val.loss if val is not None else self._train_loss
        improved = watched < s.best_val
        if improved:
            s.best_val, s.bad_epochs = watched, 0
        else:
            s.bad_epochs += 1
        seconds = time.monotonic() - self._epoch_started
        record = Epoch(
            epoch=epoch + 1, epochs=s.epochs, step=s.step, train_loss=self._train_loss,
            train_accuracy=self._train_accuracy, val_loss=None if val is None else val.loss,
            val_accuracy=None if val is None else val.accuracy, val_r2=None if val is None else val.r2,
            lr=s.optimizer.param_groups[0]["lr"], seconds=seconds, aux_losses=aux_loss_values(s.net),
        )  # fmt: skip
        s.folder.append("metrics.jsonl", record.to_dict())
        self.emit(record)
        self.emit(Usage(epoch=epoch + 1, samples_per_second=self._train_samples / max(seconds, 1e-9),
                        memory_mb=memory_mb(s.device), device=str(s.device)))  # fmt: skip
        if self.regions is not None:
            self._report_regions(epoch)
        self.checkpoint(best=improved)
        patience = s.project.training.early_stopping_patience
        return patience is not None and s.bad_epochs >= patience

    # -- commands, reports, checkpoints ----------------------------------------------------
    def _obey(self, command: str | None) -> bool:
        """Handle a command between steps; False means stop now. Pausing blocks here until resume or stop."""
        if command == "stop":
            return False
        if command != "pause":
            return True
        self.emit(Paused(step=self.s.step))
        while True:
            command = self.commands.wait(0.1) if self.commands is not None else "resume"
            if command == "stop":
                return False
            if command == "resume":
                self.emit(Resumed(step=self.s.step))
                return True

    def _report_progress(
        self, epoch: int, step: int, steps: int, loss: float, seen: int, now: float, accuracy: float | None = None
    ) -> None:
        """``accuracy``: the running training accuracy of this epoch so far (classification)."""
        rate = seen / max(now - self._epoch_started, 1e-9)
        record = Progress(epoch=epoch + 1, step=step, steps=steps, global_step=self.s.step, loss=loss,
                          accuracy=accuracy, samples_per_second=rate)  # fmt: skip
        self.s.folder.append("metrics.jsonl", record.to_dict())
        self.emit(record)

    def _report_routing(self, epoch: int, kind: str = "train") -> dict[str, Any]:
        facts = {path: probe.take() for path, probe in self.probes.items()}
        message = Routing(kind=kind, epoch=epoch + 1, step=self.s.step, probes=facts)
        self.s.folder.append("routing.jsonl", message.to_dict())
        self.emit(message)
        for path, probe_facts in facts.items():  # one layer at a time, so each warning names its layer
            for warning in self.collapse.check({path: probe_facts}):
                self.emit(Warning(kind="collapse", message=warning, step=self.s.step, path=path))
        return facts

    def _report_gradients(self, epoch: int) -> None:
        if self._grad_norms:
            self.emit(Gradients(epoch=epoch + 1, step=self.s.step, norms=self._grad_norms))
        self._grad_norms = None

    def _report_statistics(self, step: int, epoch: int) -> None:
        assert self.statistics is not None
        message = self.statistics.finish(step, epoch + 1)
        self.s.folder.append("statistics.jsonl", message.to_dict())
        self.emit(message)
        for found in self._activation_watch.check(message):
            self.emit(Warning(kind=found.kind, message=found.text, step=found.step, path=found.path))

    def _report_regions(self, epoch: int) -> None:
        """Decision and expert regions on the plane (2-D inputs); a network the grid cannot run turns them off."""
        assert self.regions is not None
        try:
            message = self.regions.picture(self.s.net, self.probes, self.s.task, epoch + 1, self.s.step)
        except (RuntimeError, ValueError, TypeError) as exc:
            self.regions = None
            self.emit(Warning(kind="regions", message=f"decision regions turned off: {exc}", step=self.s.step))
            return
        self._last_regions = time.monotonic()
        self.emit(message)

    def checkpoint(self, best: bool) -> None:
        s = self.s
        state = s.net.state_dict()
        path = s.folder.save_weights("last", state)
        info = {
            "epoch": s.epoch,
            "step": s.step,
            "best_val": s.best_val,
            "bad_epochs": s.bad_epochs,
            "base_lrs": s.base_lrs,
            "seed": s.seed,
        }
        s.folder.save_training_state(s.optimizer.state_dict(), s.rng_tensors(), info)
        if best:
            s.folder.save_weights("best", state)
        self.emit(Checkpoint(path=str(path), epoch=s.epoch, step=s.step, best=best))

    def evaluate(self, data: TensorData | None, on_batch: Callable[[Batch], None] | None = None) -> Evaluation | None:
        if data is None:
            return None
        s = self.s
        batches = eval_batches(data, max(s.project.data.batch_size, 256), s.device)
        return evaluate(s.net, s.task, batches, data, self._autocast, on_batch)

    def _label_batch(self, batch: Batch) -> None:
        """Hand the batch's region ids (regimes data) or classes to the routing probes."""
        set_probe_labels(self.s.net, batch.regions if batch.regions is not None else batch.y, self._label_count())

    # -- the end ---------------------------------------------------------------------------
    def _finish(self) -> Finished:
        s = self.s
        if s.folder.has("best.safetensors"):
            s.net.load_state_dict(s.folder.load_weights("best"))
        nmi: dict[str, float] = {}
        on_batch = None
        if self.probes:
            self._report_routing(max(s.epoch - 1, 0))  # flush the training facts
            on_batch = self._label_batch if self._labels else None
        test = self.evaluate(s.splits.test, on_batch)
        if self.probes:
            facts = self._report_routing(max(s.epoch - 1, 0), kind="test")
            nmi = {p: normalized_mutual_information(f["class_expert"]) for p, f in facts.items() if "class_expert" in f}
        summary = finished_message(s, self.status, time.monotonic() - self._started, test, nmi)
        write_finished(s, summary)
        self.emit(summary)
        return summary

    def _started_message(self) -> Started:
        modules = tuple(name for name, _ in self.gradients.groups) if self.gradients else ()
        return started_message(self.s, self.probes, modules, self.regions is not None)

    def _label_count(self) -> int:
        train = self.s.splits.train
        return int(train.regions.max()) + 1 if train.regions is not None else train.num_classes

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.s.amp is None:
            return _NO_AUTOCAST
        return torch.autocast(self.s.device.type, dtype=self.s.amp)


_NO_AUTOCAST = contextlib.nullcontext()


def task_loss(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if kind == "classification":
        return F.cross_entropy(out, y)
    return F.mse_loss(out, y)
