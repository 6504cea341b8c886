"""A trained run on one split: predictions, metrics, the gallery of mistakes and the per-expert tables.

``evaluate_run(run_folder, split)`` loads the run's best (else last) weights through the checked
readers, rebuilds the split the run was trained with (same data, options, fractions and seed),
runs it in eval mode on ``device`` (``auto``, ``cpu``, ``cuda``, ``mps``: the engine's
:func:`~modstudio.engine.devices.pick_device`) and returns one JSON-ready dict; ``explain`` adds
Captum attributions (computed on the CPU).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modstudio.blocks.catalog import Catalog, default_catalog
from modstudio.compile.shapes import ShapeInference
from modstudio.engine.analysis.report import load_run, project_dir_of
from modstudio.engine.data import Splits, TensorData, make_splits
from modstudio.engine.devices import pick_device
from modstudio.engine.errors import EngineError
from modstudio.engine.task import Task, check_task, task_of
from modstudio.graph.model import Project

from .metrics import classification_report, confusion_matrix, disagreement, regression_report
from .routes import RoutedLayer, recording, removed, routed_layers

SPLITS = ("test", "val", "train")
BATCH = 256
GALLERY = 48  # misclassified samples (or largest residuals) kept with their inputs


def split_of(project: Project, run_folder: Path, split: str, catalog: Catalog) -> tuple[Task, TensorData, Splits]:
    """The task and the samples of ``split`` exactly as the run split them."""
    if split not in SPLITS:
        raise EngineError(f"--split must be one of {', '.join(SPLITS)}, not '{split}'", "settings")
    shapes = ShapeInference(project, catalog).run()
    if shapes.errors:
        raise EngineError(f"the run's network cannot be built: {shapes.errors[0].message}", "shape")
    task = task_of(project, shapes)
    splits = make_splits(project.data, project_dir_of(run_folder), task.input_shape)
    data = getattr(splits, split)
    if data is None:
        fraction = "test_fraction" if split == "test" else "val_fraction"
        raise EngineError(f"the run has no {split} split (its data.{fraction} is 0); choose another --split", "data")
    check_task(task, data)
    if task.input_dtype == "long":
        data.x = data.x.long()
    return task, data, splits


@torch.no_grad()
def outputs_of(net: torch.nn.Module, task: Task, x: torch.Tensor) -> torch.Tensor:
    """The task's output for every sample, in batches (each moved to the network's device), as float32
    [N, width] on the CPU."""
    device = next((t.device for t in itertools.chain(net.parameters(), net.buffers())), torch.device("cpu"))
    parts = []
    for start in range(0, x.shape[0], BATCH):
        out = net(x[start : start + BATCH].to(device))
        if isinstance(out, tuple):
            out = out[task.index]
        parts.append(out.float().reshape(out.shape[0], -1).cpu())
    return torch.cat(parts) if parts else torch.zeros(0, task.width)


def sample_kind(data: TensorData) -> str:
    """How a sample is shown: an image, a point of the plane, or a row of numbers."""
    if data.x.dim() == 4:  # [N, channels, height, width]
        return "image"
    if data.x.dim() == 2 and data.x.shape[1] == 2:
        return "points"
    return "rows"


def _shown_inputs(data: TensorData, splits: Splits, index: np.ndarray) -> list[Any]:
    x = data.x[torch.as_tensor(index, dtype=torch.long)].float()
    if splits.mean is not None and splits.std is not None:  # rows as the file has them, not standardised
        x = x * splits.std + splits.mean
    return x.tolist()


def _per_unit(
    layer: RoutedLayer, task: Task, targets: np.ndarray, predictions: np.ndarray, score: Callable[[np.ndarray], float]
) -> list[dict[str, Any]]:
    units = []
    choice = layer.choice()
    member = layer.member_predictions() if layer.kind == "ensemble" else []
    for u, name in enumerate(layer.names):
        if layer.kind == "ensemble":  # every member handles every sample: its own predictions
            mask = np.ones(len(targets), dtype=bool)
            own = member[u] if member and task.kind == "classification" else predictions
        else:
            mask = choice == u
            own = predictions
        row: dict[str, Any] = {
            "name": name,
            "samples": int(mask.sum()),
            "share": float(mask.mean()) if mask.size else 0.0,
        }
        if task.kind == "classification":
            row["accuracy"] = float((own[mask] == targets[mask]).mean()) if mask.any() else None
            row["confusion"] = confusion_matrix(targets[mask], own[mask], task.width).tolist()
        else:
            row["mae"] = score(mask) if mask.any() else None
        units.append(row)
    return units


def evaluate_run(
    run_folder: Path,
    split: str = "test",
    catalog: Catalog | None = None,
    explain: str | None = None,
    gallery: int = GALLERY,
    what_if: bool = True,
    sample: tuple[int, int | None] | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Everything about the run on one split; raises EngineError naming the problem.

    ``explain``: an attribution method (``integrated_gradients``, ``saliency``) for the gallery and
    the per-class and per-expert averages; ``sample``: (index in the split, class or None for the
    predicted one) to explain on its own; ``device``: where the network runs (``auto``: CUDA, else
    MPS, else the CPU; a device that is not there is an EngineError)."""
    catalog = catalog or default_catalog()
    run_folder = Path(run_folder)
    target = pick_device(device)  # first: an unavailable device is named before anything loads
    project, net = load_run(run_folder, catalog)
    net.to(target)
    task, data, splits = split_of(project, run_folder, split, catalog)
    layers = routed_layers(net, project)
    with recording(layers):
        out = outputs_of(net, task, data.x)
    kind = sample_kind(data)
    notes = []
    for layer in list(layers):
        counted = len(layer.choice()) if layer.kind != "ensemble" else sum(len(b[0]) for b in layer.member_outputs)
        if counted != len(data):  # a layer run more (or less) than once per sample: no one route per sample
            notes.append(f"'{layer.path}' routed {counted} samples for the {len(data)} of the split; left out")
            layers.remove(layer)
    result: dict[str, Any] = {
        "run": str(run_folder),
        "project": project.name,
        "weights": "best" if (run_folder / "best.safetensors").is_file() else "last",
        "split": split,
        "device": str(target),
        "dataset": data.name,
        "task": task.kind,
        "samples": len(data),
        "sample_kind": kind,
        "notes": notes,
    }
    if task.kind == "classification":
        probs = out.softmax(-1).numpy()
        predictions, confidences = probs.argmax(-1), probs.max(-1)
        targets = data.y.long().numpy()
        names = data.class_names if len(data.class_names) == task.width else [str(c) for c in range(task.width)]
        result.update(class_names=names, **classification_report(targets, predictions, confidences, names))
        wrong = np.flatnonzero(predictions != targets)
        chosen = wrong[np.argsort(-confidences[wrong], kind="stable")][:gallery]
        score = _accuracy_of(net, task, data)
    else:
        predictions = out.numpy()
        targets = data.y.float().reshape(len(data), -1).numpy()
        confidences = np.zeros(len(data))
        result.update(regression_report(targets, predictions))
        error = np.abs(predictions - targets).mean(axis=1)
        result["residuals"] = {"predicted": predictions.tolist(), "true": targets.tolist()}
        chosen = np.argsort(-error, kind="stable")[:gallery]
        score = _r2_of(net, task, data)
    routes = {layer.path: layer.choice() for layer in layers if layer.kind != "ensemble"}
    result["gallery"] = [
        {
            "index": int(i),
            "true": _plain(targets[i]),
            "predicted": _plain(predictions[i]),
            "confidence": float(confidences[i]),
            "routes": {
                path: _unit_name(layers, path, int(choice[i])) for path, choice in routes.items() if choice.size
            },
        }
        for i in chosen
    ]
    result["gallery_inputs"] = _shown_inputs(data, splits, chosen)
    if kind == "points":
        result["points"] = {
            "x": _shown_inputs(data, splits, np.arange(len(data))),
            "true": _plain(targets),
            "predicted": _plain(predictions),
        }
    mae_of = (
        (lambda mask: float(np.abs(predictions[mask] - targets[mask]).mean()))
        if task.kind == "regression"
        else (lambda mask: 0.0)
    )
    result["experts"] = [
        _layer_report(layer, task, targets, predictions, mae_of, net, score if what_if else None) for layer in layers
    ]
    if explain and not data.x.dtype.is_floating_point:
        notes.append("no attributions: this network takes token ids, and attributions need real-valued inputs")
        explain = None
    if explain or sample is not None:
        net.cpu()  # attributions take the split's tensors as they are, on the CPU
    if explain:
        from .attribution import attributions

        result["attributions"] = attributions(net, task, data, result, layers, explain)
    if sample is not None:
        from .attribution import explain_sample

        index, target = sample
        if target is None:
            target = int(predictions[index]) if task.kind == "classification" and 0 <= index < len(data) else 0
        result["explained"] = explain_sample(net, task, data, index, target, explain or "integrated_gradients")
        result["explained"]["input"] = (
            _shown_inputs(data, splits, np.array([index]))[0] if 0 <= index < len(data) else None
        )
    return result


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value.item() if isinstance(value, np.generic) else value


def _unit_name(layers: list[RoutedLayer], path: str, unit: int) -> str:
    layer = next(layer for layer in layers if layer.path == path)
    return layer.names[unit] if 0 <= unit < len(layer.names) else str(unit)


def _layer_report(
    layer: RoutedLayer,
    task: Task,
    targets: np.ndarray,
    predictions: np.ndarray,
    mae_of: Callable[[np.ndarray], float],
    net: torch.nn.Module,
    score: Callable[[], float] | None,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "path": layer.path,
        "kind": layer.kind,
        "units": _per_unit(layer, task, targets, predictions, mae_of),
    }
    if layer.kind == "ensemble" and task.kind == "classification":
        report["disagreement"] = disagreement(layer.member_predictions())
    if score is not None and len(layer.names) > 1:
        metric = "accuracy" if task.kind == "classification" else "r2"
        report["what_if"] = {"metric": metric, "removed": []}
        for unit, name in enumerate(layer.names):
            with removed(layer, unit):
                report["what_if"]["removed"].append({"name": name, metric: score()})
    return report


def _accuracy_of(net: torch.nn.Module, task: Task, data: TensorData) -> Callable[[], float]:
    targets = data.y.long()

    def score() -> float:
        return float((outputs_of(net, task, data.x).argmax(-1) == targets).float().mean())

    return score


def _r2_of(net: torch.nn.Module, task: Task, data: TensorData) -> Callable[[], float]:
    targets = data.y.float().reshape(len(data), -1).numpy()

    def score() -> float:
        return float(regression_report(targets, outputs_of(net, task, data.x).numpy())["r2"])

    return score
