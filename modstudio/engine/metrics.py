"""Loss and task metric over a whole split: accuracy for classification, R² for regression."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from modstudio.engine.data import Batch, TensorData
from modstudio.engine.task import Task


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float | None = None  # classification
    r2: float | None = None  # regression: 1 - SSE / SST

    @property
    def score(self) -> float | None:
        return self.accuracy if self.accuracy is not None else self.r2


def r2_score(sse: float, y: torch.Tensor) -> float:
    sst = float(((y.float() - y.float().mean(dim=0)) ** 2).sum())
    return 1.0 - sse / sst if sst > 0 else 0.0


@torch.no_grad()
def evaluate(
    net: nn.Module,
    task: Task,
    batches: Iterable[Batch],
    data: TensorData,
    autocast: Callable[[], Any],
    on_batch: Callable[[Batch], None] | None = None,
) -> Evaluation:
    """``on_batch`` runs before each forward (the trainer hands the batch labels to the routing probes)."""
    was_training = net.training
    net.eval()
    total_loss, correct, sse, n = 0.0, 0, 0.0, 0
    for batch in batches:
        if on_batch is not None:
            on_batch(batch)
        with autocast():
            out = net(batch.x)
            if isinstance(out, tuple):
                out = out[task.index]
        out = out.float()
        if task.kind == "classification":
            total_loss += float(F.cross_entropy(out, batch.y, reduction="sum"))
            correct += int((out.argmax(dim=1) == batch.y).sum())
        else:
            squared = float(F.mse_loss(out, batch.y, reduction="sum"))
            total_loss += squared / out.shape[1]
            sse += squared
        n += batch.y.shape[0]
    net.train(was_training)
    if task.kind == "classification":
        return Evaluation(total_loss / max(n, 1), accuracy=correct / max(n, 1))
    return Evaluation(total_loss / max(n, 1), r2=r2_score(sse, data.y))
