"""Tracker: ModStudio's run folder, routing probes and dashboard for a training loop of one's own.

    tracker = Tracker("runs/my-run", model)
    for epoch in range(epochs):
        for x, y in loader:
            loss = loss_fn(model(x), y)
            ...
            tracker.step(loss=loss)
        tracker.epoch(val_loss=validate(model))
    tracker.close()

The folder is the engine's (``run.json``, ``metrics.jsonl``, ``routing.jsonl``, ``project.msproj``
and the weights :meth:`Tracker.save_weights` writes; written by
:class:`modstudio.engine.runs.RunFolder`, lines in the protocol's form), so ``modstudio watch``,
``modstudio analyze``, ``evaluate``, ``doctor`` and the editor's Runs dock read it as they read one of
their own (evaluating it needs the project: see :mod:`modstudio.track.project`). Routing is
recorded by the layers' own probes (:mod:`modstudio.compile.probes`): references kept per step, the
facts computed every ``every`` steps. Under torchrun every rank counts and rank 0 writes the sum.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import torch
from torch import nn

from modstudio.compile.probes import aux_loss_values
from modstudio.engine.protocol import Epoch, Progress, Routing, Warning
from modstudio.engine.routing import CollapseDetector
from modstudio.engine.runs import RunFolder

from .distributed import summed_over_ranks, world
from .layers import Followed, RouterOutputs, TrackError, record_choices
from .project import given_project, project_beside, say_no_project, unwrapped, write_run_project

PROGRESS_PER_SECOND = 20  # as the engine writes them: a loss curve point at most this often


class Tracker:
    """Follows ``model``'s conditional layers and writes the run folder ``run_dir``.

    ``every``: training steps between routing reports (every rank reports at the same steps);
    ``layers``: user layers by path (or the module itself) -> adapter (:class:`RouterOutputs`,
    :func:`~modstudio.track.hugging_face`); ``epochs``: planned epochs, when known;
    ``tensorboard``: also write TensorBoard event files into ``run_dir``; ``name``: the run's name
    in ``run.json``; ``append``: continue the lines already in ``run_dir`` (a resumed run) instead of
    starting them anew (a folder that is used again holds the latest run, not two mixed); ``project``:
    the ModStudio project (.msproj) describing the model, copied into ``run_dir`` so that
    ``modstudio evaluate`` and ``doctor`` can rebuild it (None: one found beside the file defining
    the model's class, else a line on stderr). Call
    :meth:`step` after each optimizer step, :meth:`epoch` at the end of an epoch (on every rank),
    :meth:`close` at the end (or use ``with Tracker(...) as tracker:``).
    """

    def __init__(
        self,
        run_dir: str | Path,
        model: nn.Module,
        *,
        tensorboard: bool = False,
        every: int = 50,
        layers: dict[str | nn.Module, RouterOutputs] | None = None,
        epochs: int | None = None,
        name: str = "",
        append: bool = False,
        project: str | Path | None = None,
    ) -> None:
        if not isinstance(every, int) or every < 1:
            raise TrackError(f"every is {every!r}: give the training steps between routing reports (1 or more)")
        # on every rank, before anything is written: a bad project stops each rank alike
        run_project = given_project(project, model) if project is not None else None
        self.model, self.every, self.epochs, self.name = model, every, epochs, name
        self.rank, self.processes = world()
        self.folder: RunFolder | None = None
        self.path = Path(run_dir)
        self.writer: Any = None
        if self.rank == 0:
            self.path.mkdir(parents=True, exist_ok=True)
            if tensorboard:  # first: a missing TensorBoard stops the tracker before it touches the model
                from .tensorboard import event_writer

                self.writer = event_writer(self.path)
            if not append:
                for file in ("metrics.jsonl", "routing.jsonl"):
                    (self.path / file).unlink(missing_ok=True)
            self.folder = RunFolder(self.path)
            found = project_beside(model) if run_project is None else None
            if found is not None:
                run_project = found[0]
            if run_project is not None:
                write_run_project(run_project, self.path)
            else:
                say_no_project(model)
        self.followed = Followed()
        try:
            self._follow(model, layers or {})
        except BaseException:
            self.followed.detach()
            raise
        self.global_step = 0
        self.epoch_index = 0  # epochs finished
        self._epoch_steps = 0
        self._unreported = 0  # steps whose routing is not written yet
        self._losses: list[torch.Tensor | float] = []  # this epoch's (kept as references: no op per step)
        self._loss_count = 0
        self._last_progress = -math.inf
        self._started = self._epoch_started = time.monotonic()
        self._collapse = CollapseDetector()
        self._closed = False
        self._write_info("running")

    # -- the loop ---------------------------------------------------------------------------
    def step(self, loss: torch.Tensor | float | None = None, **metrics: float | torch.Tensor) -> None:
        """One training step done: ``loss`` and any other numbers (``accuracy`` is drawn beside the loss)."""
        self.global_step += 1
        self._epoch_steps += 1
        self._unreported += 1
        if loss is not None:
            self._loss_count += 1
            self._losses.append(loss.detach() if isinstance(loss, torch.Tensor) else float(loss))  # summed at epoch()
            if len(self._losses) >= 1024:
                self._losses = [_sum(self._losses)]
        report = self.global_step % self.every == 0
        if report:
            self.report_routing()
        now = time.monotonic()
        if (
            self.folder is not None
            and loss is not None
            and (report or now - self._last_progress >= 1 / PROGRESS_PER_SECOND)
        ):
            self._last_progress = now
            extra = {k: _number(v) for k, v in metrics.items()}
            accuracy = extra.pop("accuracy", None)
            record = Progress(epoch=self.epoch_index + 1, step=self._epoch_steps, steps=self._epoch_steps,
                              loss=_number(loss), global_step=self.global_step, accuracy=accuracy)  # fmt: skip
            self._append("metrics.jsonl", {**record.to_dict(), **({"metrics": extra} if extra else {})})
            self._scalars({"loss": record.loss, **({"accuracy": accuracy} if accuracy is not None else {}), **extra})

    def record_routing(self, layer: str, logits: torch.Tensor, chosen: torch.Tensor | None = None, k: int = 1) -> None:
        """A layer the tracker cannot find by itself: its router logits [..., experts] and the experts
        each token went to ([..., k] ids; None: the top ``k`` logits), once per training forward."""
        probe = self.followed.probes.get(layer)
        if probe is None:
            from modstudio.blocks.layers.routing import RoutingProbe

            probe = self.followed.add(layer, RoutingProbe(int(logits.shape[-1]), "moe"))
        record_choices(probe, logits, chosen, k)

    def label(self, labels: torch.Tensor, num_classes: int) -> None:
        """The classes of the batch about to go forward (one per sample), for the class x expert
        counts the dashboard draws; call it before the forward, as the engine does."""
        for probe in self.followed.probes.values():
            probe.labels, probe.num_classes = labels, num_classes

    def epoch(self, **metrics: float | torch.Tensor | None) -> None:
        """An epoch done: ``val_loss``, ``val_accuracy``, ``val_r2``, ``train_accuracy``, ``lr`` and any
        other numbers; ``train_loss`` is the mean of the steps' losses unless given. Call it on every rank."""
        self.epoch_index += 1
        values = {k: _number(v) for k, v in metrics.items() if v is not None}
        mean = _sum(self._losses) / self._loss_count if self._loss_count else math.nan
        known = {key: values.pop(key, None) for key in ("train_accuracy", "val_loss", "val_accuracy", "val_r2", "lr")}
        train_loss = values.pop("train_loss", mean)
        if self._unreported:
            self.report_routing()
        record = Epoch(epoch=self.epoch_index, epochs=max(self.epochs or 0, self.epoch_index), train_loss=train_loss,
                       step=self.global_step, seconds=time.monotonic() - self._epoch_started,
                       aux_losses=aux_loss_values(self.model), **known)  # fmt: skip
        self._append("metrics.jsonl", {**record.to_dict(), **({"metrics": values} if values else {})})
        self._scalars(
            {
                "epoch/train_loss": train_loss,
                **{f"epoch/{k}": v for k, v in {**known, **values}.items() if v is not None},
            }
        )
        self._epoch_steps, self._losses, self._loss_count = 0, [], 0
        self._epoch_started = time.monotonic()

    def report_routing(self) -> dict[str, dict[str, Any]]:
        """Write the routing facts since the last report (every rank must call it at the same steps)."""
        probes = self.followed.probes
        self._unreported = 0
        if not probes:
            return {}
        facts = summed_over_ranks({path: probe.take() for path, probe in probes.items()})
        message = Routing(kind="train", epoch=self.epoch_index + 1, step=self.global_step, probes=facts)
        self._append("routing.jsonl", message.to_dict())
        for path, layer_facts in facts.items():
            for text in self._collapse.check({path: layer_facts}):
                self._append(
                    "metrics.jsonl", Warning(kind="collapse", message=text, step=self.global_step, path=path).to_dict()
                )
        if self.writer is not None:
            from .tensorboard import write_routing

            write_routing(self.writer, facts, self.global_step)
        return facts

    def save_weights(self, name: str = "best") -> Path | None:
        """The model's current weights as the run folder's ``best`` or ``last`` weights (``<name>.safetensors``,
        read by ``modstudio evaluate``); written by rank 0, the path returned (None on other ranks)."""
        if name not in ("best", "last"):
            raise TrackError(f"save_weights({name!r}): the run folder keeps 'best' and 'last' weights")
        if self.folder is None:
            return None
        return self.folder.save_weights(name, unwrapped(self.model).state_dict())

    def close(self, status: str = "completed") -> None:
        """Report the last routing, write ``run.json`` with ``status`` and close the files (once)."""
        if self._closed:
            return
        self._closed = True
        if self._unreported:
            self.report_routing()
        self._write_info(status)
        self.followed.detach()
        if self.folder is not None:
            self.folder.close()
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close("completed" if kind is None else "stopped" if kind is KeyboardInterrupt else "failed")

    # -- inside -----------------------------------------------------------------------------
    def _follow(self, model: nn.Module, layers: dict[str | nn.Module, RouterOutputs]) -> None:
        self.followed.follow_model(model)
        paths = {module: path for path, module in model.named_modules()}
        for key, adapter in layers.items():
            module = model.get_submodule(key) if isinstance(key, str) else key
            if module not in paths:
                raise TrackError(f"{type(module).__name__} given in layers is not part of the model")
            self.followed.follow(key if isinstance(key, str) else paths[module], module, adapter)

    def _append(self, file: str, record: dict[str, Any]) -> None:
        if self.folder is not None:
            self.folder.append(file, record)

    def _scalars(self, values: dict[str, float | None]) -> None:
        if self.writer is not None:
            for key, value in values.items():
                if value is not None:
                    self.writer.add_scalar(key, value, self.global_step)

    def _write_info(self, status: str) -> None:
        if self.folder is None:
            return
        info: dict[str, Any] = {
            "type": "finished", "status": status, "epochs": self.epoch_index, "steps": self.global_step,
            "seconds": time.monotonic() - self._started, "run_folder": str(self.path), "project": self.name,
            "processes": self.processes, "probes": sorted(self.followed.probes), "probe_layout": self.followed.layout,
            "tracker": True,
        }  # fmt: skip
        if status == "running":  # no status while it runs: the runs list tells running from killed by the files' age
            info = {k: v for k, v in info.items() if k not in ("type", "status")}
        self.folder.write_info(info)


def _sum(values: list[torch.Tensor | float]) -> float:
    tensors = [v.float().reshape(()) for v in values if isinstance(v, torch.Tensor)]
    return sum(v for v in values if not isinstance(v, torch.Tensor)) + (
        float(torch.stack(tensors).sum()) if tensors else 0.0
    )


def _number(value: Any) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
