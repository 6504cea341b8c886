"""What a surgery measures on the run's validation data: the task metric before and after, and
each expert's importance (NLLB's measure: routed share x mean gate confidence).

The routing is read from the mixture's own gate in eval mode (``router_scores`` and ``_combine``
of ``MixtureOfExpertsLayer``, through a forward hook), so it is the routing the network uses.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from modstudio.blocks import default_catalog
from modstudio.compile.shapes import ShapeInference
from modstudio.engine.data import TensorData, eval_batches, make_splits
from modstudio.engine.errors import EngineError
from modstudio.engine.metrics import Evaluation, evaluate
from modstudio.engine.task import Task, task_of
from modstudio.graph.model import Project

from .errors import SurgeryError


@dataclass(frozen=True)
class Validation:
    """The data a surgery measures on, and the task that says how."""

    task: Task
    data: TensorData
    split: str  # "validation" or "test"


def validation_data(project: Project, base_dir: Path | None) -> Validation:
    """The project's validation split (its test split when it has none), as training cuts it."""
    shapes = ShapeInference(project, default_catalog()).run()
    if shapes.errors:
        raise SurgeryError(f"the project cannot be built: {'; '.join(p.message for p in shapes.errors)}")
    try:
        task = task_of(project, shapes)
        splits = make_splits(project.data, base_dir, task.input_shape)
    except EngineError as exc:
        raise SurgeryError(exc.message) from None
    data, split = (splits.val, "validation") if splits.val is not None else (splits.test, "test")
    if data is None:
        raise SurgeryError("the project's data has no validation or test split to measure on (raise its fractions)")
    if task.input_dtype == "long":
        data.x = data.x.long()
    return Validation(task, data, split)


def measure(net: nn.Module, validation: Validation) -> Evaluation:
    batches = eval_batches(validation.data, 256, "cpu")
    return evaluate(net, validation.task, batches, validation.data, contextlib.nullcontext)


@dataclass(frozen=True)
class Importance:
    """Per expert, over the validation tokens: share of the routed slots, mean gate weight of the
    tokens routed to it, and their product (the importance)."""

    share: list[float]
    confidence: list[float]
    tokens: int

    @property
    def importance(self) -> list[float]:
        return [s * c for s, c in zip(self.share, self.confidence, strict=True)]


def routing_of(net: nn.Module, paths: list[str], validation: Validation) -> tuple[torch.Tensor, int]:
    """The summed combine weights and routed-slot counts per expert [2, E] over the mixtures at
    ``paths`` on the validation data, and the number of tokens."""
    totals: list[torch.Tensor] = []
    tokens = [0]

    def hook(layer: nn.Module, inputs: tuple[torch.Tensor, ...], output: object) -> None:
        x = inputs[0]
        flat = x.reshape(-1, x.shape[-1])
        _, scores, _ = layer.router_scores(flat)
        combine, _ = layer._combine(scores, scores.softmax(dim=-1))
        totals.append(torch.stack([combine.sum(dim=0), (combine > 0).sum(dim=0).to(combine.dtype)]))
        tokens[0] += flat.shape[0]

    handles = [net.get_submodule(path).register_forward_hook(hook) for path in paths]
    try:
        measure(net, validation)
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack(totals).sum(dim=0), tokens[0]


def importance_of(net: nn.Module, paths: list[str], validation: Validation) -> Importance:
    sums, tokens = routing_of(net, paths, validation)
    weight, count = sums[0].double(), sums[1].double()
    slots = float(count.sum()) or 1.0
    share = (count / slots).tolist()
    confidence = torch.where(count > 0, weight / count.clamp_min(1.0), 0.0).tolist()
    return Importance(share, confidence, tokens)


def score_text(evaluation: Evaluation) -> str:
    if evaluation.accuracy is not None:
        return f"accuracy {evaluation.accuracy:.4f}, loss {evaluation.loss:.4f}"
    return f"R² {evaluation.r2:.4f}, loss {evaluation.loss:.4f}"
