"""In-memory datasets and their seeded train/val/test split (the data is small: keep it in tensors)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import torch

from modstudio.engine.errors import DataError

Target = Literal["classification", "regression"]


@dataclass
class TensorData:
    """Samples ``x`` [N, ...], targets ``y`` (class ids [N] or values [N, outputs]) and per-sample metadata.

    ``meta`` holds extra per-sample tensors, e.g. ``regions`` (which function governs a
    sample of the regimes data). ``difficulty`` (optional, higher is harder) orders a
    curriculum; without it the distance to the class centroid is used.
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    target: Target
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)
    meta: dict[str, torch.Tensor] = field(default_factory=dict)
    difficulty: torch.Tensor | None = None
    standardize: bool = False  # standardise features with statistics of the training split

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise DataError(f"{self.name}: {self.x.shape[0]} samples but {self.y.shape[0]} targets")
        if self.x.shape[0] == 0:
            raise DataError(f"{self.name}: the dataset is empty")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.x.dim() == 4

    @property
    def regions(self) -> torch.Tensor | None:
        return self.meta.get("regions")

    def subset(self, index: torch.Tensor) -> TensorData:
        meta = {key: value[index] for key, value in self.meta.items()}
        difficulty = None if self.difficulty is None else self.difficulty[index]
        return replace(self, x=self.x[index], y=self.y[index], meta=meta, difficulty=difficulty)


@dataclass
class Splits:
    train: TensorData
    val: TensorData | None
    test: TensorData | None
    mean: torch.Tensor | None = None  # feature statistics of the training split (when standardised)
    std: torch.Tensor | None = None


def split_data(data: TensorData, val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """A seeded random split; features standardised with the training split's statistics if asked."""
    n = len(data)
    n_test = round(n * test_fraction)
    n_val = round(n * val_fraction)
    if n - n_test - n_val < 1:
        raise DataError(
            f"data: val_fraction {val_fraction} and test_fraction {test_fraction} leave no training "
            f"samples of the {n} in '{data.name}'"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    test = data.subset(order[:n_test]) if n_test else None
    val = data.subset(order[n_test : n_test + n_val]) if n_val else None
    train = data.subset(order[n_test + n_val :])
    splits = Splits(train, val, test)
    if data.standardize:
        mean = train.x.mean(dim=0)
        std = train.x.std(dim=0, unbiased=False).clamp_min(1e-8)
        splits.mean, splits.std = mean, std
        for part in (train, val, test):
            if part is not None:
                part.x = (part.x - mean) / std
    return splits
