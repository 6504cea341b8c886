"""The whole job's routing under torchrun: every rank's facts summed with one all-reduce per report.

Each rank's probes count the tokens it routed; at a report every rank packs its facts (the layers
and names in one order: every rank runs the same model) into one float64 vector, one ``all_reduce``
sums them, and rank 0 writes the result. Counts (tokens per expert, class x expert, ...) are the sum
over ranks; per-step rates (entropy, mean probability, auxiliary losses) their mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from modstudio.blocks.layers.routing import _SUMMED as SUMMED  # the facts that are counts, not rates


def world() -> tuple[int, int]:
    """(rank, processes) of the default process group, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def summed_over_ranks(
    facts: dict[str, dict[str, Any]], device: torch.device | None = None
) -> dict[str, dict[str, Any]]:
    """``facts`` (path -> name -> number or array) of every rank, summed (counts) or averaged (rates)."""
    _, processes = world()
    if processes == 1:
        return facts
    slots: list[tuple[str, str, tuple[int, ...]]] = []
    values: list[np.ndarray] = []
    for path in sorted(facts):
        for name in sorted(facts[path]):
            value = facts[path][name]
            if name in ("kind", "num_experts", "steps") or isinstance(value, (str, bool)):
                continue
            array = np.asarray(value, dtype=np.float64)
            slots.append((path, name, array.shape))
            values.append(array.reshape(-1))
    if not values:
        return facts
    flat = torch.from_numpy(np.concatenate(values))
    if dist.get_backend() == "nccl":
        flat = flat.to(device if device is not None else torch.device("cuda", torch.cuda.current_device()))
    dist.all_reduce(flat)
    total = flat.cpu().numpy()
    out = {path: dict(entry) for path, entry in facts.items()}
    start = 0
    for path, name, shape in slots:
        size = int(np.prod(shape)) if shape else 1
        part = total[start : start + size].reshape(shape)
        start += size
        part = part if name in SUMMED else part / processes
        out[path][name] = float(part) if part.ndim == 0 else part
    return out
