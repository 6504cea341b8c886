"""ModStudio's NMI over a class x expert count table is scikit-learn's normalized_mutual_info_score."""

from __future__ import annotations

import numpy as np
import pytest

from modstudio.engine.routing import normalized_mutual_information


def _labels(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(counts)
    reps = counts[rows, cols]
    return np.repeat(rows, reps), np.repeat(cols, reps)


@pytest.mark.parametrize("seed", range(8))
def test_nmi_of_a_count_table_matches_scikit_learn(seed):
    metrics = pytest.importorskip("sklearn.metrics")  # a dev/test extra, not needed at run time
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(2, 11)), int(rng.integers(2, 9)))
    counts = rng.integers(0, 30, size=shape) * (rng.random(shape) < 0.7)  # some empty cells, as routing makes
    counts[0, 0] += 1
    counts[1, 1] += 1  # at least two classes and two experts in use
    classes, experts = _labels(counts)
    expected = metrics.normalized_mutual_info_score(classes, experts, average_method="geometric")
    assert normalized_mutual_information(counts) == pytest.approx(expected, abs=1e-12)


def test_nmi_ends_one_expert_per_class_and_routing_that_ignores_the_class():
    assert normalized_mutual_information(np.eye(4) * 10) == pytest.approx(1.0)
    assert normalized_mutual_information(np.ones((4, 3))) == pytest.approx(0.0)
    assert normalized_mutual_information(np.array([[5.0, 5.0], [0.0, 0.0]])) == 0.0  # one class only
    assert normalized_mutual_information(np.zeros((3, 3))) == 0.0  # nothing routed yet
