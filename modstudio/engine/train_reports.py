"""What a training run says and writes at its start and its end.

The ``started`` message; at the end the ``finished`` summary, the test record in ``metrics.jsonl``
and ``run.json`` (a finished or a failed run); the loss message that stops a run; the memory figure
of ``usage``. :class:`modstudio.engine.train.Trainer` calls these; they read the session and write
its run folder, nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from modstudio.compile.probes import probe_layout
from modstudio.engine.errors import EngineError
from modstudio.engine.metrics import Evaluation
from modstudio.engine.protocol import Finished, Started, Test
from modstudio.engine.session import Session


def started_message(s: Session, probes: Iterable[str], modules: tuple[str, ...], regions: bool) -> Started:
    """The ``started`` message: the run's folder, device, data sizes, network and what it will report."""
    parts = (("train", s.splits.train), ("val", s.splits.val), ("test", s.splits.test))
    return Started(
        run_folder=str(s.folder.path), device=str(s.device), precision=str(s.amp or "fp32"), epochs=s.epochs,
        start_epoch=s.epoch, steps_per_epoch=s.stream.steps(s.epoch), task=s.task.kind,
        dataset=s.project.data.dataset, samples={k: 0 if v is None else len(v) for k, v in parts},
        parameters=sum(p.numel() for p in s.net.parameters()), probes=tuple(sorted(probes)), seed=s.seed,
        probe_layout=probe_layout(s.net), modules=modules,
        regions=regions, routing_labels="region" if s.splits.train.regions is not None else "class",
    )  # fmt: skip


def finished_message(
    s: Session, status: str, seconds: float, test: Evaluation | None, routing_nmi: dict[str, float]
) -> Finished:
    """The run's summary: how it ended, the test result and the best validation loss."""
    return Finished(
        status=status, epochs=s.epoch, steps=s.step, run_folder=str(s.folder.path),
        seconds=seconds, task=s.task.kind, test_loss=None if test is None else test.loss,
        test_accuracy=None if test is None else test.accuracy, test_r2=None if test is None else test.r2,
        best_val_loss=s.best_val if math.isfinite(s.best_val) else None, routing_nmi=routing_nmi,
    )  # fmt: skip


def write_finished(s: Session, summary: Finished) -> None:
    """The test record in ``metrics.jsonl`` and ``run.json``; the run folder is closed."""
    s.folder.append("metrics.jsonl", Test.of(summary).to_dict())
    s.folder.write_info({**run_info(s), **run_json_summary(summary)})
    s.folder.close()


def write_failed(s: Session, exc: EngineError) -> None:
    """``run.json`` of a run that failed (status, the error, how far it got); the run folder is closed."""
    s.folder.write_info({**run_info(s), "status": "failed", "error": exc.message, "epochs": s.epoch, "steps": s.step})
    s.folder.close()


def run_info(s: Session) -> dict[str, Any]:
    """What ``run.json`` holds of every run: settings, device, seed, dataset, project, precision."""
    return {"settings": s.settings.to_dict(), "device": str(s.device), "seed": s.seed, "dataset": s.project.data.dataset,
            "project": s.project.name, "precision": str(s.amp or "fp32")}  # fmt: skip


def run_json_summary(summary: Finished) -> dict[str, Any]:
    """The summary as ``run.json`` has always held it (the ``finished`` keys, ``type`` included; no failure keys)."""
    return {k: v for k, v in summary.to_dict().items() if k not in ("error", "kind")}


def non_finite_message(s: Session, value: float, epoch: int) -> str:
    """Why the run stopped when the loss became NaN or infinite, and where its last good checkpoint is."""
    return (
        f"the loss became {value} at step {s.step + 1} (epoch {epoch + 1}); training stopped. The last good "
        f"checkpoint is kept: {s.folder.path / 'last.safetensors'} (after {s.epoch} epochs). Lower the learning "
        "rate, clip gradients, or check the data for NaN values"
    )


def memory_mb(device: torch.device) -> float:
    """The peak memory of the run so far: the device's (CUDA) or the process's resident size, in MB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except (ImportError, OSError):
        return 0.0
