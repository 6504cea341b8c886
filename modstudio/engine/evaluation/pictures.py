"""The evaluation's pictures as PNG bytes, drawn with numpy and Pillow only (no torch, no Qt, no
matplotlib): the confusion matrix, the reliability diagram, residuals, the 2-D points with the
mistakes ringed, samples as images, and attribution maps over them. The HTML report embeds them
and the Evaluation dock shows them."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

INK = (40, 44, 52)
GRID = (210, 214, 222)
BLUE = (70, 120, 220)
RED = (220, 60, 50)
GREEN = (60, 160, 90)


def _font(size: int = 12) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _blues(share: float) -> tuple[int, int, int]:
    share = float(np.clip(share, 0.0, 1.0))
    return (int(247 - 200 * share), int(251 - 150 * share), int(255 - 80 * share))


def confusion_png(matrix: Sequence[Sequence[float]], names: Sequence[str], title: str = "confusion matrix") -> bytes:
    """Rows true, columns predicted; each cell shaded by its share of the row, with its count written in it."""
    counts = np.asarray(matrix, dtype=np.float64)
    n = counts.shape[0]
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    cell = max(22, min(48, 420 // max(n, 1)))
    font, small = _font(12), _font(max(8, min(12, cell // 3)))
    label = max((int(font.getlength(str(x)[:14])) for x in names), default=10) + 10
    left, top = label + 24, 40
    image = Image.new("RGB", (left + n * cell + 16, top + n * cell + label + 30), "white")
    draw = ImageDraw.Draw(image)
    draw.text((left, 8), title, fill=INK, font=font)
    for r in range(n):
        for c in range(n):
            x0, y0 = left + c * cell, top + r * cell
            draw.rectangle([x0, y0, x0 + cell, y0 + cell], fill=_blues(shares[r, c]), outline=GRID)
            if counts[r, c]:
                text = f"{counts[r, c]:.0f}"
                ink = "white" if shares[r, c] > 0.6 else INK
                w = small.getlength(text)
                draw.text((x0 + (cell - w) / 2, y0 + cell / 2 - 6), text, fill=ink, font=small)
        draw.text((24, top + r * cell + cell / 2 - 6), str(names[r])[:14], fill=INK, font=font)
    for c in range(n):
        text = str(names[c])[:14]
        layer = Image.new("RGBA", (int(font.getlength(text)) + 4, 16), (255, 255, 255, 0))
        ImageDraw.Draw(layer).text((0, 0), text, fill=INK, font=font)
        rotated = layer.rotate(90, expand=True)
        image.paste(rotated, (left + c * cell + cell // 2 - 8, top + n * cell + 4), rotated)
    _vertical_text(image, "true", (4, top + n * cell // 2 - 12), font)
    draw.text((left + n * cell // 2 - 24, image.height - 18), "predicted", fill=INK, font=font)
    return png(image)


def _vertical_text(image: Image.Image, text: str, at: tuple[int, int], font: Any) -> None:
    layer = Image.new("RGBA", (int(font.getlength(text)) + 4, 16), (255, 255, 255, 0))
    ImageDraw.Draw(layer).text((0, 0), text, fill=INK, font=font)
    rotated = layer.rotate(90, expand=True)
    image.paste(rotated, at, rotated)


class _Axes:
    """A plain x-y frame: data coordinates to pixels, ticks at the ends."""

    def __init__(self, size: tuple[int, int], x: tuple[float, float], y: tuple[float, float], title: str) -> None:
        self.image = Image.new("RGB", size, "white")
        self.draw = ImageDraw.Draw(self.image)
        self.font = _font(12)
        self.box = (52, 34, size[0] - 16, size[1] - 40)
        self.x, self.y = x, y
        x0, y0, x1, y1 = self.box
        self.draw.rectangle(self.box, outline=GRID)
        self.draw.text((x0, 10), title, fill=INK, font=self.font)
        for value, anchor in ((x[0], x0), (x[1], x1)):
            self.draw.text((anchor - 12, y1 + 6), f"{value:.3g}", fill=INK, font=self.font)
        for value, anchor in ((y[0], y1), (y[1], y0)):
            self.draw.text((4, anchor - 7), f"{value:.3g}", fill=INK, font=self.font)

    def at(self, x: float, y: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        fx = (x - self.x[0]) / ((self.x[1] - self.x[0]) or 1.0)
        fy = (y - self.y[0]) / ((self.y[1] - self.y[0]) or 1.0)
        return x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)

    def labels(self, bottom: str, left: str) -> None:
        x0, _, x1, y1 = self.box
        self.draw.text(((x0 + x1) / 2 - self.font.getlength(bottom) / 2, y1 + 20), bottom, fill=INK, font=self.font)
        _vertical_text(self.image, left, (2, (self.box[1] + y1) // 2 - 20), self.font)


def reliability_png(calibration: dict[str, Any]) -> bytes:
    """Accuracy per confidence bin (bars) against the diagonal of perfect calibration; the ECE in the title."""
    axes = _Axes((360, 320), (0.0, 1.0), (0.0, 1.0), f"reliability (ECE {calibration['ece']:.3f})")
    axes.draw.line([axes.at(0, 0), axes.at(1, 1)], fill=GRID, width=2)
    for b in calibration["bins"]:
        if not b["count"]:
            continue
        x0, y0 = axes.at(b["lower"], b["accuracy"])
        x1, y1 = axes.at(b["upper"], 0.0)
        axes.draw.rectangle([x0 + 1, y0, x1 - 1, y1], fill=BLUE, outline="white")
        cx, cy = axes.at((b["lower"] + b["upper"]) / 2, b["confidence"])
        axes.draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=RED)
    axes.labels("confidence (red: mean in bin)", "accuracy")
    return png(axes.image)


def _range(values: np.ndarray) -> tuple[float, float]:
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    pad = (high - low) * 0.05 or 0.5
    return low - pad, high + pad


def residuals_png(predicted: Sequence[Any], true: Sequence[Any]) -> bytes:
    """Residual (predicted − true) against the predicted value, all outputs together."""
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    r = p - np.asarray(true, dtype=np.float64).reshape(-1)
    axes = _Axes((360, 320), _range(p), _range(r), "residuals")
    axes.draw.line([axes.at(axes.x[0], 0), axes.at(axes.x[1], 0)], fill=GRID, width=1)
    for x, y in zip(p, r):
        cx, cy = axes.at(x, y)
        axes.draw.ellipse([cx - 2, cy - 2, cx + 2, cy + 2], fill=BLUE)
    axes.labels("predicted", "predicted − true")
    return png(axes.image)


PALETTE = [(70, 120, 220), (230, 140, 40), (60, 160, 90), (170, 90, 200), (200, 70, 120), (90, 180, 190)]


def points_png(points: Sequence[Sequence[float]], true: Sequence[int], predicted: Sequence[int]) -> bytes:
    """2-D samples coloured by true class; the misclassified ones ringed in red."""
    xy = np.asarray(points, dtype=np.float64)
    true_a, pred_a = np.asarray(true), np.asarray(predicted)
    axes = _Axes((360, 320), _range(xy[:, 0]), _range(xy[:, 1]), "samples (red ring: misclassified)")
    for (x, y), t, p in zip(xy, true_a, pred_a):
        cx, cy = axes.at(x, y)
        axes.draw.ellipse([cx - 2, cy - 2, cx + 2, cy + 2], fill=PALETTE[int(t) % len(PALETTE)])
        if t != p:
            axes.draw.ellipse([cx - 5, cy - 5, cx + 5, cy + 5], outline=RED, width=2)
    axes.labels("x0", "x1")
    return png(axes.image)


def _gray(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return np.zeros_like(values) if high <= low else (values - low) / (high - low)


def sample_png(sample: Any, size: int = 96, overlay: Any = None) -> bytes:
    """An image sample ([C, H, W] or [H, W]) scaled up; ``overlay`` (a [H, W] map) drawn over it in
    red (positive) and blue (negative), scaled by its largest magnitude."""
    x = np.asarray(sample, dtype=np.float64)
    if x.ndim == 3:
        x = x[0] if x.shape[0] == 1 else np.moveaxis(x[:3], 0, -1)
    rgb = np.repeat(_gray(x)[..., None], 3, axis=-1) if x.ndim == 2 else _gray(x)
    if overlay is not None:
        heat = np.asarray(overlay, dtype=np.float64)
        heat = heat / (np.abs(heat).max() or 1.0)
        color = np.zeros((*heat.shape, 3))
        color[..., 0] = np.clip(heat, 0, 1)
        color[..., 2] = np.clip(-heat, 0, 1)
        alpha = np.abs(heat)[..., None] * 0.75
        rgb = rgb * 0.6 * (1 - alpha) + color * alpha + 0.4 * (1 - alpha) * rgb
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    return png(image.resize((size, max(1, round(size * image.height / image.width))), Image.Resampling.NEAREST))


def map_png(values: Any, size: int = 96) -> bytes:
    """A map alone ([H, W] image attribution, or one value per feature as a row of cells): white at 0,
    red for positive and blue for negative values, scaled by the largest magnitude."""
    heat = np.asarray(values, dtype=np.float64)
    if heat.ndim == 1:
        heat = heat[None, :]
    heat = heat / (np.abs(heat).max() or 1.0)
    rgb = np.ones((*heat.shape, 3))
    rgb[..., 1] -= np.abs(heat) * 0.85
    rgb[..., 2] -= np.clip(heat, 0, 1) * 0.85
    rgb[..., 0] -= np.clip(-heat, 0, 1) * 0.85
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    return png(image.resize((size, max(1, round(size * image.height / image.width))), Image.Resampling.NEAREST))
