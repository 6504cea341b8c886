"""Routing over sequences, torch-free: by position, by token, and Mixtral's repetition measure.

Mixtral of Experts (Jiang et al. 2024, section 5, table 5): how often two consecutive tokens get
the same expert. "First choice": token t+1's first expert is token t's; with random routing that
happens with probability 1/E. "Any choice" (Mixtral's "first or second choice" for top-2): the k
experts of t and of t+1 share at least one; with random k-subsets of E that is
1 − C(E−k, k) / C(E, k) (46.4% for E = 8, k = 2). A rate well above its baseline means the
router follows the sequence (neighbouring tokens go to the same expert), as Mixtral found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import comb
from typing import Any

import numpy as np

MAX_POSITIONS = 64  # the by-position table keeps this many positions
MAX_TOKENS = 20  # the by-token table lists the most frequent token ids


def random_baselines(experts: int, k: int) -> tuple[float, float]:
    """(first-choice, any-choice) repetition rates of random routing over ``experts`` with top-``k``."""
    k = max(1, min(k, experts))
    return 1.0 / experts, 1.0 - comb(experts - k, k) / comb(experts, k)


@dataclass
class SequenceRouting:
    """One layer's routing over sequences: ``choices`` [sequences, positions, k] expert ids, best first."""

    layer: str
    experts: int
    k: int
    first_same: float  # share of consecutive pairs whose first choice is the same
    any_same: float  # share of consecutive pairs sharing at least one of their k experts
    baseline_first: float
    baseline_any: float
    pairs: int
    by_position: list[list[int]] = field(default_factory=list)  # [position][expert] first-choice counts
    by_token: dict[int, list[int]] = field(default_factory=dict)  # token id -> first-choice counts per expert

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__) | {"by_token": {str(k): v for k, v in self.by_token.items()}}

    def lines(self) -> list[str]:
        name = self.layer or "network"
        out = [
            f"{name}: consecutive tokens on the same first expert {self.first_same:.1%} "
            f"(random routing {self.baseline_first:.1%}, {self.pairs} pairs)"
        ]
        if self.k > 1:
            out.append(
                f"{name}: consecutive tokens sharing one of their {self.k} experts {self.any_same:.1%} "
                f"(random routing {self.baseline_any:.1%})"
            )
        if self.by_position:
            top = [int(np.argmax(row)) if sum(row) else -1 for row in self.by_position]
            out.append(f"{name}: first expert by position: " + " ".join(str(e) for e in top[:32]))
        for token, counts in list(self.by_token.items())[:8]:
            total = sum(counts) or 1
            best = int(np.argmax(counts))
            out.append(f"{name}: token {token} → expert {best} ({counts[best] / total:.0%} of {total})")
        return out


def sequence_routing(
    layer: str, choices: np.ndarray, experts: int, tokens: np.ndarray | None = None
) -> SequenceRouting:
    """The measures of one layer from ``choices`` [sequences, positions, k] (and the input token ids
    [sequences, positions] when the network reads token ids)."""
    choices = np.asarray(choices, dtype=np.int64)
    if choices.ndim == 2:
        choices = choices[:, :, None]
    n, length, k = choices.shape
    first = choices[:, :, 0]
    pairs = n * max(length - 1, 0)
    if pairs:
        first_same = float((first[:, 1:] == first[:, :-1]).mean())
        shared = (choices[:, 1:, :, None] == choices[:, :-1, None, :]).any(axis=(2, 3))
        any_same = float(shared.mean())
    else:
        first_same = any_same = 0.0
    base_first, base_any = random_baselines(experts, k)
    positions = min(length, MAX_POSITIONS)
    by_position = np.zeros((positions, experts), dtype=np.int64)
    for p in range(positions):
        by_position[p] = np.bincount(first[:, p], minlength=experts)[:experts]
    by_token: dict[int, list[int]] = {}
    if tokens is not None:
        ids = np.asarray(tokens).reshape(n, length).astype(np.int64)
        values, counts = np.unique(ids, return_counts=True)
        for token in values[np.argsort(-counts, kind="stable")][:MAX_TOKENS]:
            by_token[int(token)] = np.bincount(first[ids == token], minlength=experts)[:experts].tolist()
    return SequenceRouting(
        layer, experts, k, first_same, any_same, base_first, base_any, pairs, by_position.tolist(), by_token
    )
