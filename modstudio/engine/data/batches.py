"""Fast batching of in-memory tensors: one permutation per epoch, then slices; augmentation; curriculum.

No DataLoader and no worker processes: the data is small and already a tensor, so a
batch is a slice of a permuted copy, which is as fast as a hand-written loop.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from modstudio.engine.errors import DataError

from .dataset import TensorData


class Batch(NamedTuple):
    x: torch.Tensor
    y: torch.Tensor
    regions: torch.Tensor | None  # per-sample region ids (regimes data), for the routing probes


@dataclass(frozen=True)
class Augmentation:
    """Random changes to training batches: images get crop (with padding), flip and noise; other data noise."""

    crop_padding: int = 0
    flip: bool = False
    noise: float = 0.0

    @classmethod
    def from_section(cls, spec: Mapping[str, Any], is_image: bool) -> Augmentation:
        allowed = {"crop_padding": int, "flip": bool, "noise": float} if is_image else {"noise": float}
        for key, value in spec.items():
            if key not in allowed:
                what = "image" if is_image else "non-image"
                raise DataError(
                    f"data.augmentation.{key}: not available for {what} data (options: {', '.join(allowed)})"
                )
            kind = allowed[key]
            ok = (
                isinstance(value, bool)
                if kind is bool
                else isinstance(value, (int, float)) and not isinstance(value, bool)
            )
            if kind is int and ok:
                ok = float(value).is_integer()
            if not ok or (kind is not bool and value < 0):
                raise DataError(
                    f"data.augmentation.{key}: must be {'true or false' if kind is bool else 'a number >= 0'}, not {value!r}"
                )
        return cls(int(spec.get("crop_padding", 0)), bool(spec.get("flip", False)), float(spec.get("noise", 0.0)))

    @property
    def active(self) -> bool:
        return bool(self.crop_padding or self.flip or self.noise)

    def apply(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        if self.crop_padding:
            p = self.crop_padding
            h, w = x.shape[-2:]
            padded = torch.nn.functional.pad(x, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (n, 1, 1), generator=generator).to(x.device)
            dx = torch.randint(0, 2 * p + 1, (n, 1, 1), generator=generator).to(x.device)
            rows = dy + torch.arange(h, device=x.device)[None, :, None]
            cols = dx + torch.arange(w, device=x.device)[None, None, :]
            batch = torch.arange(n, device=x.device)[:, None, None]
            x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()
        if self.flip:
            flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
            x = torch.where(flip.view(n, *([1] * (x.dim() - 1))), x.flip(-1), x)
        if self.noise:
            x = x + self.noise * torch.randn(x.shape, generator=generator).to(x.device)
        return x


@dataclass(frozen=True)
class Curriculum:
    """Easy samples first: epoch 1 uses the easiest ``start`` share, growing linearly to all by epoch ``epochs``."""

    start: float = 0.3
    epochs: int = 5
    score: str = "auto"  # "auto": the dataset's own score if it has one, else "centroid"

    @classmethod
    def from_section(cls, spec: Mapping[str, Any] | None) -> Curriculum | None:
        if spec is None:
            return None
        for key in spec:
            if key not in ("start", "epochs", "score"):
                raise DataError(f"data.curriculum.{key}: unknown option (options: start, epochs, score)")
        start, epochs, score = spec.get("start", 0.3), spec.get("epochs", 5), spec.get("score", "auto")
        if isinstance(start, bool) or not isinstance(start, (int, float)) or not 0 < start <= 1:
            raise DataError(f"data.curriculum.start: must be a share in (0, 1], not {start!r}")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise DataError(f"data.curriculum.epochs: must be a whole number >= 1, not {epochs!r}")
        if score not in ("auto", "centroid"):
            raise DataError(f"data.curriculum.score: must be auto or centroid, not {score!r}")
        return cls(float(start), epochs, score)

    def pool_size(self, epoch: int, n: int) -> int:
        """How many of the easiest samples epoch ``epoch`` (0-based) draws from."""
        share = 1.0 if self.epochs <= 1 else min(1.0, self.start + (1 - self.start) * epoch / (self.epochs - 1))
        return max(1, math.ceil(n * share))


def difficulty(data: TensorData, score: str = "auto") -> torch.Tensor:
    """Higher is harder: the dataset's own score, or the distance to the class centroid (relative to the class mean)."""
    if score == "auto" and data.difficulty is not None:
        return data.difficulty
    flat = data.x.reshape(len(data), -1).float()
    if data.target == "regression":
        return (flat - flat.mean(dim=0)).norm(dim=1)
    out = torch.zeros(len(data))
    for c in data.y.unique():
        mask = data.y == c
        dist = (flat[mask] - flat[mask].mean(dim=0)).norm(dim=1)
        out[mask] = dist / dist.mean().clamp_min(1e-12)
    return out


class BatchStream:
    """The training batches of each epoch, reproducible from the generator's state."""

    def __init__(
        self,
        data: TensorData,
        batch_size: int,
        *,
        shuffle: bool = True,
        augmentation: Augmentation | None = None,
        curriculum: Curriculum | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.x = data.x.to(self.device)
        self.y = data.y.to(self.device)
        regions = data.regions
        self.regions = None if regions is None else regions.to(self.device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augmentation = augmentation if augmentation is not None and augmentation.active else None
        self.curriculum = curriculum
        self.generator = generator or torch.Generator().manual_seed(0)
        self.order: torch.Tensor | None = None
        if curriculum is not None:
            self.order = torch.argsort(difficulty(data, curriculum.score), stable=True).to(self.device)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def pool(self, epoch: int) -> int:
        return len(self) if self.curriculum is None else self.curriculum.pool_size(epoch, len(self))

    def steps(self, epoch: int) -> int:
        return math.ceil(self.pool(epoch) / self.batch_size)

    def epoch(self, epoch: int) -> Iterator[Batch]:
        n = self.pool(epoch)
        index: torch.Tensor | None = None
        if self.shuffle:
            index = torch.randperm(n, generator=self.generator).to(self.device)
        if self.order is not None:
            index = self.order[:n] if index is None else self.order[:n][index]
        x, y, regions = self.x, self.y, self.regions
        if index is not None:
            x, y = x[index], y[index]
            regions = None if regions is None else regions[index]
        size = self.batch_size
        for start in range(0, n, size):
            xb = x[start : start + size]
            if self.augmentation is not None:
                xb = self.augmentation.apply(xb, self.generator)
            yield Batch(xb, y[start : start + size], None if regions is None else regions[start : start + size])


def eval_batches(data: TensorData, batch_size: int, device: torch.device | str) -> Iterator[Batch]:
    """The samples in order, no augmentation (for validation and test)."""
    stream = BatchStream(data, batch_size, shuffle=False, device=device)
    return stream.epoch(0)
