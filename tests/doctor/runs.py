"""Constructed run folders for the doctor's tests: routing and loss records with chosen numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modstudio.graph.io import save_project
from modstudio.graph.model import Project


def moe_facts(load: list[float], **extra: Any) -> dict[str, Any]:
    """One layer's facts for a report of 20 steps: tokens per expert and healthy defaults."""
    experts = len(load)
    routed = float(sum(load))
    facts: dict[str, Any] = {
        "kind": "moe",
        "num_experts": experts,
        "steps": 20,
        "tokens_per_expert": load,
        "dropped_tokens": 0.0,
        "routed_tokens": routed,
        "slots": routed,
        "entropy": 0.8,
        "confidence": 0.7,
        "saturated": 0.1,
        "router_z": 2.0,
        "aux_load_balance": 0.01,
        "aux_z_loss": 0.002,
    }
    return facts | extra


def write_run(
    folder: Path,
    reports: list[dict[str, Any]],
    loss: float = 0.5,
    project: Project | None = None,
    layer: str = "moe",
) -> Path:
    """A run folder whose routing.jsonl has one report per item of ``reports`` (every 20 steps) and
    whose metrics.jsonl has a progress line with ``loss`` at each of those steps."""
    folder.mkdir(parents=True, exist_ok=True)
    routing, metrics = [], []
    for i, facts in enumerate(reports, start=1):
        step = 20 * i
        routing.append({"type": "routing", "probes": {layer: facts}, "kind": "train", "epoch": 1, "step": step})
        metrics.append({"type": "progress", "epoch": 1, "step": step, "steps": 100, "loss": loss, "global_step": step})
    (folder / "routing.jsonl").write_text("".join(json.dumps(r) + "\n" for r in routing))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    if project is not None:
        save_project(project, folder / "project.msproj")
    else:
        (folder / "project.msproj").write_text("{}")
    return folder
