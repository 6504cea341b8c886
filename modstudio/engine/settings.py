"""What one run is asked to do beyond the project's own training section (CLI flags, GUI choices).

Torch-free: the GUI thread builds these settings (the devices they name are found in
:mod:`modstudio.engine.devices`, in the worker)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class TrainSettings:
    """Overrides and reporting rates for one run; ``None`` keeps the project's value."""

    epochs: int | None = None
    device: str | None = None  # auto, cpu, cuda, mps
    seed: int | None = None
    runs_root: str | None = None  # folder that receives the run folder (default: beside the project)
    resume: str | None = None  # a run folder to continue
    progress_per_second: float = 20.0
    routing_period: float = 0.5  # seconds between routing reports
    collapse_reports: int = 5
    collapse_share: float = 0.9
    live_views: bool = True  # gradient norms and, for 2-D inputs, decision regions for the dashboard
    regions_period: float = 2.0  # seconds between decision-region pictures within an epoch
    region_grid: int = 64  # grid points per side of the decision-region picture
    threads: int | None = None  # CPU threads for torch in the worker (None: engine/threads.py decides)
    keep_cores_free: int = 0  # cores the worker leaves to the caller (the editor keeps one for its window)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def lr_factor(schedule: str, step: int, total: int, epoch: int, epochs: int) -> float:
    """Learning-rate multiplier at global step ``step`` of ``total`` (epoch 0-based).

    cosine: half a cosine from 1 to 0 over all steps; step: x0.1 after each third of the
    epochs; one_cycle: cosine warm-up from 1/25 to 1 over the first 30% of steps, then a
    cosine down to 1/25e4 (the defaults of torch's OneCycleLR, without momentum cycling).
    """
    progress = min(step / max(total, 1), 1.0)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "step":
        return 0.1 ** (epoch // max(1, math.ceil(epochs / 3)))
    if schedule == "one_cycle":
        warm = 0.3
        if progress < warm:
            start = 1 / 25
            return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * progress / warm))
        end = 1 / 25e4
        return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * (progress - warm) / (1 - warm)))
    return 1.0
