"""Built-in generated datasets: 2-D toy problems, the regimes data for MoE, and sequence tasks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from modstudio.engine.dataset_options import DATASET_OPTIONS, OptionSpec

from .dataset import TensorData


def _classes(name: str, x: np.ndarray, y: np.ndarray, k: int, **extra: Any) -> TensorData:
    return TensorData(
        name,
        torch.as_tensor(x, dtype=torch.float32),
        torch.as_tensor(y, dtype=torch.long),
        "classification",
        num_classes=k,
        class_names=[str(i) for i in range(k)],
        **extra,
    )


def moons(o: dict[str, Any], seed: int) -> TensorData:
    """Two interleaving half circles, as scikit-learn's make_moons draws them (without importing it)."""
    rng = np.random.default_rng(seed)
    n = o["samples"]
    y = np.arange(n) % 2
    t = rng.uniform(0, math.pi, n)
    x = np.where(y[:, None] == 0, np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    return _classes("moons", x + rng.normal(0, o["noise"], (n, 2)), y, 2)


def circles(o: dict[str, Any], seed: int) -> TensorData:
    """A circle of radius ``factor`` inside the unit circle."""
    rng = np.random.default_rng(seed)
    n = o["samples"]
    y = np.arange(n) % 2
    t = rng.uniform(0, 2 * math.pi, n)
    radius = np.where(y == 1, o["factor"], 1.0)
    x = np.stack([radius * np.cos(t), radius * np.sin(t)], 1)
    return _classes("circles", x + rng.normal(0, o["noise"], (n, 2)), y, 2)


def blobs(o: dict[str, Any], seed: int) -> TensorData:
    """One isotropic Gaussian blob per class, centres drawn in [-10, 10]^features."""
    rng = np.random.default_rng(seed)
    n, k = o["samples"], o["classes"]
    centres = rng.uniform(-10, 10, (k, o["features"]))
    y = np.arange(n) % k
    x = centres[y] + rng.normal(0, o["spread"], (n, o["features"]))
    return _classes("blobs", x, y, k)


def spirals(o: dict[str, Any], seed: int) -> TensorData:
    """``classes`` interleaved spiral arms; the difficulty of a sample is how far out on its arm it lies."""
    rng = np.random.default_rng(seed)
    n, k = o["samples"], o["classes"]
    y = np.arange(n) % k
    t = rng.uniform(0.0, 1.0, n)
    angle = t * o["turns"] * 2 * math.pi + y * 2 * math.pi / k
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) + rng.normal(0, o["noise"], (n, 2))
    return _classes("spirals", x, y, k, difficulty=torch.as_tensor(t, dtype=torch.float32))


def xor(o: dict[str, Any], seed: int) -> TensorData:
    """Points in [-1, 1]^2, class 1 where the signs of the two coordinates differ."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (o["samples"], 2))
    y = (np.sign(x[:, 0]) != np.sign(x[:, 1])).astype(np.int64)
    x = x + rng.normal(0, o["noise"], x.shape)
    return _classes("xor", x, y, 2)


def checkerboard(o: dict[str, Any], seed: int) -> TensorData:
    """A ``cells`` x ``cells`` board on [-1, 1]^2 coloured like a chessboard."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (o["samples"], 2))
    cell = np.floor((x + 1) / 2 * o["cells"]).clip(0, o["cells"] - 1).astype(np.int64)
    y = (cell[:, 0] + cell[:, 1]) % 2
    return _classes("checkerboard", x + rng.normal(0, o["noise"], x.shape), y, 2)


def regimes(o: dict[str, Any], seed: int) -> TensorData:
    """Input regions governed by different functions, so that experts should specialise.

    Points in [-1, 1]^2 fall in ``regions`` angular sectors around the origin. In sector r
    the label is decided by its own linear rule: which side of a line through the sector's
    middle, at angle 2*pi*r/regions + pi/2 plus a per-sector twist, the point lies. One
    linear expert per sector solves the task; a gate must learn the sectors. With
    ``target: "value"`` each sector has its own function instead (regression). The sector
    of every sample is kept as ``regions`` metadata (the "region x expert" matrix).
    """
    rng = np.random.default_rng(seed)
    n, r = o["samples"], o["regions"]
    x = rng.uniform(-1, 1, (n, 2))
    angle = np.mod(np.arctan2(x[:, 1], x[:, 0]), 2 * math.pi)
    region = np.floor(angle / (2 * math.pi / r)).astype(np.int64).clip(0, r - 1)
    mid = (region + 0.5) * 2 * math.pi / r
    centre = 0.5 * np.stack([np.cos(mid), np.sin(mid)], axis=1)
    twist = rng.uniform(0, math.pi, r)[region] if r > 1 else np.zeros(n)
    normal = np.stack([np.cos(mid + twist), np.sin(mid + twist)], axis=1)
    side = ((x - centre) * normal).sum(axis=1)
    meta = {"regions": torch.as_tensor(region)}
    if o["target"] == "value":
        funcs = [np.sin(3 * x[:, 0]), x[:, 0] * x[:, 1] * 2, np.abs(x[:, 0]) - x[:, 1], np.cos(3 * x[:, 1])]
        value = np.choose(region % 4, funcs) + (region // 4) * 0.5
        y = torch.as_tensor(value + rng.normal(0, o["noise"], n), dtype=torch.float32)[:, None]
        return TensorData("regimes", torch.as_tensor(x, dtype=torch.float32), y, "regression", meta=meta)
    label = (side > 0).astype(np.int64)
    flip = rng.uniform(0, 1, n) < o["noise"]
    label[flip] = 1 - label[flip]
    return _classes("regimes", x, label, 2, meta=meta, difficulty=torch.as_tensor(-np.abs(side), dtype=torch.float32))


def parity(o: dict[str, Any], seed: int) -> TensorData:
    """Sequences of ``length`` random bits [T, 1]; the class is 1 when the number of ones is odd."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, (o["samples"], o["length"], 1))
    y = bits.sum(axis=(1, 2)) % 2
    return _classes("parity", bits.astype(np.float32), y, 2)


def adding(o: dict[str, Any], seed: int) -> TensorData:
    """The adding problem (Hochreiter & Schmidhuber 1997): [T, 2] of values and two markers; target = sum of marked values."""
    rng = np.random.default_rng(seed)
    n, t = o["samples"], o["length"]
    values = rng.uniform(0, 1, (n, t))
    marks = np.zeros((n, t))
    first = rng.integers(0, t // 2, n)
    second = rng.integers(t // 2, t, n)
    marks[np.arange(n), first] = 1
    marks[np.arange(n), second] = 1
    x = np.stack([values, marks], axis=2).astype(np.float32)
    y = (values * marks).sum(axis=1, keepdims=True).astype(np.float32)
    return TensorData("adding", torch.as_tensor(x), torch.as_tensor(y), "regression")


GENERATORS: dict[str, tuple[Any, tuple[OptionSpec, ...], str]] = {
    name: (make, DATASET_OPTIONS[name], doc)
    for name, make, doc in (
        ("moons", moons, "two interleaving half circles (2-D, 2 classes)"),
        ("circles", circles, "a circle inside a circle"),
        ("blobs", blobs, "Gaussian blobs, one per class"),
        ("spirals", spirals, "interleaved spiral arms"),
        ("xor", xor, "the four XOR quadrants (2-D, 2 classes)"),
        ("checkerboard", checkerboard, "a checkerboard on [-1, 1]^2"),
        ("regimes", regimes, "regions governed by different rules, region id kept (for mixtures of experts)"),
        ("parity", parity, "parity of a bit sequence [T, 1]"),
        ("adding", adding, "the adding problem [T, 2] (regression)"),
    )
}
