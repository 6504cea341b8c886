"""Task decomposition: which classes each branch of a tree or one-vs-rest network sees, and its targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from modstudio.engine.errors import DataError


@dataclass(frozen=True)
class ClassSubsets:
    """Groups of classes, one per branch: e.g. [[0, 1, 2], [3, 4]] for a two-branch tree.

    ``coarse(y)`` is the branch id of each label (the router's target); ``local(y, b)``
    keeps the samples of branch ``b`` and renumbers their labels 0..len(group)-1.
    """

    groups: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, groups: Sequence[Sequence[int]], num_classes: int) -> ClassSubsets:
        seen: dict[int, int] = {}
        for b, group in enumerate(groups):
            if not group:
                raise DataError(f"class subsets: branch {b} has no classes")
            for c in group:
                if not 0 <= c < num_classes:
                    raise DataError(f"class subsets: branch {b} names class {c}, but classes are 0..{num_classes - 1}")
                if c in seen:
                    raise DataError(f"class subsets: class {c} is in branch {seen[c]} and branch {b}")
                seen[c] = b
        missing = sorted(set(range(num_classes)) - set(seen))
        if missing:
            raise DataError(f"class subsets: classes {missing} belong to no branch")
        return cls(tuple(tuple(int(c) for c in g) for g in groups))

    def _table(self, values: list[int]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.long)

    def coarse(self, y: torch.Tensor) -> torch.Tensor:
        size = 1 + max(c for g in self.groups for c in g)
        table = [0] * size
        for b, group in enumerate(self.groups):
            for c in group:
                table[c] = b
        return self._table(table).to(y.device)[y]

    def local(self, y: torch.Tensor, branch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(mask of the samples that belong to ``branch``, their labels renumbered within the branch)."""
        group = self.groups[branch]
        size = 1 + max(c for g in self.groups for c in g)
        table = [-1] * size
        for i, c in enumerate(group):
            table[c] = i
        mapped = self._table(table).to(y.device)[y]
        mask = mapped >= 0
        return mask, mapped[mask]


def one_vs_rest(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Binary targets [N, num_classes]: column c is 1.0 where the label is c (one branch per class)."""
    return torch.nn.functional.one_hot(y, num_classes).float()
