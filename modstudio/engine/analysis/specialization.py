"""Specialization of conditional nodes and ensembles.

A mixture of experts is specialized when its routing depends on the class (or, on the
regimes data, the region) of the sample: the class x expert count matrix the routing probes
record, its normalized mutual information (0: routing ignores the class, 1: one expert per
class) and each expert's top classes. Members of an ensemble are diverse when they disagree:
the share of test samples on which two members predict different classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from modstudio.blocks.layers.compositions import Ensemble
from modstudio.engine.routing import normalized_mutual_information

MATRIX_KEYS = ("region_expert", "class_expert")


def routing_matrices(records: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, np.ndarray]]:
    """(where from, {probe path: count matrix}) from routing.jsonl records: the test records,
    else the sum of the train records of the last epoch. A ValueError says which value is wrong."""
    routing = [r for r in records if r.get("type", "routing") == "routing" and isinstance(r.get("probes"), Mapping)]
    chosen = [r for r in routing if r.get("kind") == "test"]
    source = "test"
    if not chosen:
        train = [r for r in routing if r.get("kind", "train") == "train"]
        if not train:
            return "none", {}
        last = max(_epoch(r) for r in train)
        chosen, source = [r for r in train if _epoch(r) == last], f"train, epoch {last}"
    out: dict[str, np.ndarray] = {}
    for record in chosen:
        for path, facts in record["probes"].items():
            for key in MATRIX_KEYS:
                value = facts.get(key) if isinstance(facts, Mapping) else None
                if value is None:
                    continue
                try:
                    matrix = np.asarray(value, dtype=np.float64)
                except (ValueError, TypeError):
                    raise ValueError(
                        f"the {key} of '{path}' (epoch {_epoch(record)}) is not a table of numbers"
                    ) from None
                if matrix.ndim != 2:
                    continue
                out[path] = out[path] + matrix if path in out and out[path].shape == matrix.shape else matrix
                break
    return source, out


def _epoch(record: Mapping[str, Any]) -> int:
    epoch = record.get("epoch", 0)
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise ValueError(f"a routing record's epoch is {epoch!r}, not a whole number")
    return epoch


def top_classes(matrix: np.ndarray, count: int = 3) -> list[list[dict[str, float]]]:
    """Per expert (column): its most frequent classes (rows) with their share of its tokens."""
    matrix = np.asarray(matrix, dtype=np.float64)
    out = []
    for expert in range(matrix.shape[1]):
        column = matrix[:, expert]
        total = column.sum()
        order = np.argsort(-column, kind="stable")[:count]
        out.append([{"class": int(c), "share": float(column[c] / total)} for c in order if total > 0 and column[c] > 0])
    return out


def specialization(matrix: np.ndarray) -> dict[str, Any]:
    matrix = np.asarray(matrix, dtype=np.float64)
    total = matrix.sum()
    return {
        "nmi": normalized_mutual_information(matrix),
        "matrix": matrix.tolist(),
        "tokens": float(total),
        "expert_share": (matrix.sum(axis=0) / total).tolist() if total > 0 else [],
        "top_classes": top_classes(matrix),
    }


def pairwise_disagreement(predictions: Sequence[torch.Tensor]) -> list[list[float]]:
    """Share of samples on which members i and j predict different classes."""
    n = len(predictions)
    out = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            value = float((predictions[i] != predictions[j]).float().mean()) if predictions[i].numel() else 0.0
            out[i][j] = out[j][i] = value
    return out


@torch.no_grad()
def ensemble_disagreement(net: nn.Module, x: torch.Tensor, batch: int = 512) -> list[dict[str, Any]]:
    """For every Ensemble in ``net``: its members' predictions on ``x`` and their pairwise disagreement.

    The members are run on what reaches the ensemble (a forward hook captures its input).
    """
    ensembles = [(path, m) for path, m in net.named_modules() if isinstance(m, Ensemble)]
    if not ensembles:
        return []
    captured: dict[str, list[torch.Tensor]] = {path: [] for path, _ in ensembles}
    handles = [
        m.register_forward_hook(lambda mod, args, out, p=path: captured[p].append(args[0].detach()))
        for path, m in ensembles
    ]
    was_training = net.training
    net.eval()
    try:
        for start in range(0, x.shape[0], batch):
            net(x[start : start + batch])
    finally:
        for handle in handles:
            handle.remove()
        net.train(was_training)
    results = []
    for path, module in ensembles:
        inputs = torch.cat(captured[path]) if captured[path] else x[:0]
        predictions = [member(inputs).argmax(-1).reshape(-1) for member in module.members]
        results.append(
            {
                "path": path,
                "members": len(predictions),
                "combine": module.combine,
                "disagreement": pairwise_disagreement(predictions),
                "samples": int(inputs.shape[0]),
            }
        )
    return results
