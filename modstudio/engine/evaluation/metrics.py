"""Classification and regression metrics on plain arrays (numpy only, no torch).

Confusion matrix rows are the true classes, columns the predicted ones. Precision of class c
is TP / (TP + FP), recall TP / (TP + FN), F1 their harmonic mean; a class never predicted (or
never present) gets 0 where the ratio has no denominator, as scikit-learn's ``zero_division=0``.
Calibration: the samples are put in ``bins`` equal-width bins of confidence (the top
probability); ECE = Σ_b (n_b / N) · |accuracy_b − confidence_b| (Guo et al. 2017).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(targets: np.ndarray, predictions: np.ndarray, classes: int) -> np.ndarray:
    """Counts [classes, classes]: row = true class, column = predicted class."""
    targets = np.asarray(targets, dtype=np.int64).reshape(-1)
    predictions = np.asarray(predictions, dtype=np.int64).reshape(-1)
    flat = np.bincount(targets * classes + predictions, minlength=classes * classes)
    return flat[: classes * classes].reshape(classes, classes)


def normalized(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total (the share of a true class that went to each prediction); empty rows stay 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    return np.divide(top, bottom, out=np.zeros_like(top, dtype=np.float64), where=bottom > 0)


def per_class(matrix: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support of each class from a confusion matrix."""
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    precision = _ratio(tp, matrix.sum(axis=0))
    recall = _ratio(tp, matrix.sum(axis=1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return [
        {
            "class": names[c] if c < len(names) else str(c),
            "precision": float(precision[c]),
            "recall": float(recall[c]),
            "f1": float(f1[c]),
            "support": int(matrix[c].sum()),
        }
        for c in range(matrix.shape[0])
    ]


def averages(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Macro (plain mean over classes) and weighted (by support) precision, recall and F1."""
    support = np.array([r["support"] for r in rows], dtype=np.float64)
    out: dict[str, float] = {}
    for key in ("precision", "recall", "f1"):
        values = np.array([r[key] for r in rows], dtype=np.float64)
        out[f"macro_{key}"] = float(values.mean()) if values.size else 0.0
        out[f"weighted_{key}"] = float((values * support).sum() / support.sum()) if support.sum() > 0 else 0.0
    return out


def calibration(confidences: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Reliability bins (lower, upper, count, mean confidence, accuracy) and the expected calibration error."""
    confidences = np.asarray(confidences, dtype=np.float64).reshape(-1)
    correct = np.asarray(correct, dtype=np.float64).reshape(-1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin b holds (edges[b], edges[b+1]]; a confidence of exactly 0 goes to the first bin
    index = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, bins - 1)
    rows, ece, n = [], 0.0, max(confidences.size, 1)
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        confidence = float(confidences[mask].mean()) if count else 0.0
        accuracy = float(correct[mask].mean()) if count else 0.0
        ece += count / n * abs(accuracy - confidence)
        rows.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "confidence": confidence,
                "accuracy": accuracy,
            }
        )
    return {"bins": rows, "ece": float(ece)}


def classification_report(
    targets: np.ndarray, predictions: np.ndarray, confidences: np.ndarray, names: list[str], bins: int = 10
) -> dict[str, Any]:
    """Everything about class predictions: accuracy, the matrix (counts and row shares), per class, calibration."""
    targets = np.asarray(targets, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    matrix = confusion_matrix(targets, predictions, len(names))
    rows = per_class(matrix, names)
    return {
        "accuracy": float((targets == predictions).mean()) if targets.size else 0.0,
        "confusion": matrix.tolist(),
        "confusion_normalized": normalized(matrix).tolist(),
        "per_class": rows,
        "averages": averages(rows),
        "calibration": calibration(confidences, targets == predictions, bins),
    }


def regression_report(targets: np.ndarray, predictions: np.ndarray) -> dict[str, Any]:
    """R² (1 − SSE/SST over all outputs, as training reports it), MAE, and the residuals (predicted − true)."""
    targets = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    predictions = np.asarray(predictions, dtype=np.float64).reshape(len(predictions), -1)
    residuals = predictions - targets
    sse = float((residuals**2).sum())
    sst = float(((targets - targets.mean(axis=0)) ** 2).sum())
    return {
        "r2": 1.0 - sse / sst if sst > 0 else 0.0,
        "mae": float(np.abs(residuals).mean()) if residuals.size else 0.0,
        "rmse": float(np.sqrt((residuals**2).mean())) if residuals.size else 0.0,
        "outputs": int(targets.shape[1]),
    }


def disagreement(predictions: list[np.ndarray]) -> list[list[float]]:
    """Share of samples on which members i and j predict different classes."""
    n = len(predictions)
    out = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            value = float((predictions[i] != predictions[j]).mean()) if predictions[i].size else 0.0
            out[i][j] = out[j][i] = value
    return out
