"""Metrics against hand-computed values on constructed predictions (and against scikit-learn)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from modstudio.engine.evaluation.metrics import (
    calibration,
    classification_report,
    confusion_matrix,
    disagreement,
    normalized,
    regression_report,
)

TRUE = np.array([0, 0, 1, 1, 2, 2, 2])
PREDICTED = np.array([0, 1, 1, 1, 2, 0, 2])


def test_confusion_matrix_counts_rows_true_columns_predicted() -> None:
    assert confusion_matrix(TRUE, PREDICTED, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    shares = normalized(confusion_matrix(TRUE, PREDICTED, 3))
    np.testing.assert_allclose(shares, [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [1 / 3, 0.0, 2 / 3]])


def test_per_class_precision_recall_f1_support_by_hand() -> None:
    report = classification_report(TRUE, PREDICTED, np.full(7, 0.9), ["a", "b", "c"])
    rows = {r["class"]: r for r in report["per_class"]}
    # a: TP 1, predicted twice, present twice; b: TP 2, predicted 3 times; c: TP 2 of 3, predicted twice
    assert (rows["a"]["precision"], rows["a"]["recall"], rows["a"]["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    assert (rows["b"]["precision"], rows["b"]["recall"], rows["b"]["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))
    assert (rows["c"]["precision"], rows["c"]["recall"], rows["c"]["f1"]) == pytest.approx((1.0, 2 / 3, 0.8))
    assert [r["support"] for r in report["per_class"]] == [2, 2, 3]
    assert report["accuracy"] == pytest.approx(5 / 7)
    assert report["averages"]["macro_f1"] == pytest.approx(2.1 / 3)
    assert report["averages"]["macro_f1"] == pytest.approx(sk.f1_score(TRUE, PREDICTED, average="macro"))
    assert report["averages"]["weighted_f1"] == pytest.approx(sk.f1_score(TRUE, PREDICTED, average="weighted"))


def test_a_class_never_predicted_has_precision_zero_as_scikit_learn() -> None:
    true, predicted = np.array([0, 1, 2, 2]), np.array([0, 1, 1, 1])
    report = classification_report(true, predicted, np.ones(4), ["0", "1", "2"])
    ours = [r["precision"] for r in report["per_class"]]
    assert ours == pytest.approx(sk.precision_score(true, predicted, average=None, zero_division=0).tolist())
    assert ours[2] == 0.0 and report["per_class"][2]["recall"] == 0.0


def test_expected_calibration_error_by_hand() -> None:
    confidences = np.array([0.95, 0.95, 0.65, 0.65, 0.25])
    correct = np.array([1, 0, 1, 1, 0])
    result = calibration(confidences, correct, bins=10)
    # (0.9, 1]: 2 samples, confidence 0.95, accuracy 0.5; (0.6, 0.7]: 2, 0.65, 1.0; (0.2, 0.3]: 1, 0.25, 0.0
    assert result["ece"] == pytest.approx(2 / 5 * 0.45 + 2 / 5 * 0.35 + 1 / 5 * 0.25)
    filled = {round(b["lower"], 1): (b["count"], b["confidence"], b["accuracy"]) for b in result["bins"] if b["count"]}
    assert filled == {0.9: (2, pytest.approx(0.95), 0.5), 0.6: (2, pytest.approx(0.65), 1.0), 0.2: (1, 0.25, 0.0)}
    assert calibration(np.array([0.8, 0.8]), np.array([1, 1]))["ece"] == pytest.approx(0.2)


def test_regression_r2_and_mae_by_hand() -> None:
    report = regression_report(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 5.0]))
    # residuals 0, 1, 2: MAE 1; SSE 5, SST 2: R² = 1 - 5/2
    assert report["mae"] == pytest.approx(1.0)
    assert report["r2"] == pytest.approx(-1.5)
    assert report["rmse"] == pytest.approx(np.sqrt(5 / 3))


def test_member_disagreement_is_the_share_of_differing_predictions() -> None:
    table = disagreement([np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), np.array([1, 0, 0, 1])])
    assert table[0][1] == table[1][0] == 0.25
    assert table[0][2] == 1.0 and table[1][2] == 0.75 and table[2][2] == 0.0
