"""The digits ModStudio ships in resources/data are scikit-learn's, byte for byte the file the script writes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from modstudio.engine.data import load_dataset
from modstudio.engine.data.files import DIGITS_FILE, digits_arrays
from modstudio.graph.model import DataSection
from modstudio.library import resources_dir

SHA256 = "7bb1b9a5db685666d0004fadc98357dc5730a41852e9d4f3efc151dd3423d3cd"  # as resources/data/README.md says


def test_the_shipped_file_is_the_one_the_script_wrote():
    data = (resources_dir() / "data" / DIGITS_FILE).read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256
    assert len(data) < 64_000  # small: about 45 kB


def test_digits_dataset_is_the_file_scaled_to_unit_range_in_the_files_order():
    pixels, labels = digits_arrays()
    assert pixels.shape == (1797, 64) and pixels.dtype == np.uint8 and pixels.max() == 16
    data = load_dataset(DataSection(dataset="digits"))
    assert data.x.shape == (1797, 1, 8, 8) and data.x.dtype == torch.float32
    assert torch.equal(data.x.reshape(1797, 64), torch.as_tensor(pixels / 16.0, dtype=torch.float32))
    assert data.y.tolist() == labels.astype(int).tolist()
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_same_samples_same_order_as_scikit_learns_load_digits():
    datasets = pytest.importorskip("sklearn.datasets")  # a dev/test extra, not needed at run time
    bunch = datasets.load_digits()
    pixels, labels = digits_arrays()
    np.testing.assert_array_equal(pixels, bunch.data)
    np.testing.assert_array_equal(labels, bunch.target)
