"""Write ``resources/data/digits.npz``: the 1,797 handwritten 8x8 digits ModStudio's ``digits`` dataset reads.

Run once, by hand, with scikit-learn installed (``pip install scikit-learn``)::

    python scripts/make_digits.py

Where the data comes from: the test set of the UCI "Optical Recognition of Handwritten Digits"
data set (E. Alpaydin, C. Kaynak, 1998; https://archive.ics.uci.edu/dataset/80, licensed
CC BY 4.0), as scikit-learn ships it in ``sklearn/datasets/data/digits.csv.gz`` (scikit-learn is
BSD-3-Clause) and returns it from ``sklearn.datasets.load_digits()``. The file keeps scikit-learn's
samples in scikit-learn's order: ``pixels`` [1797, 64] uint8 with values 0..16 (a count of set
bits in a 4x4 block of a 32x32 bitmap) and ``labels`` [1797] uint8 0..9.

The file is written deterministically (fixed zip timestamps), so running this again gives the
same bytes and the checksum in tests/engine/test_digits_file.py stays valid.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

TARGET = Path(__file__).resolve().parent.parent / "resources" / "data" / "digits.npz"


def digits_arrays() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.asarray(bunch.data)
    if pixels.shape != (1797, 64) or pixels.min() < 0 or pixels.max() > 16 or not np.all(pixels == np.round(pixels)):
        raise SystemExit(f"unexpected digits data from scikit-learn: {pixels.shape}, {pixels.min()}..{pixels.max()}")
    return {"pixels": pixels.astype(np.uint8), "labels": np.asarray(bunch.target).astype(np.uint8)}


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed``, but with a fixed timestamp in the zip so the bytes repeat."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1998, 7, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue(), compresslevel=9)


def main() -> None:
    write_npz(TARGET, digits_arrays())
    digest = hashlib.sha256(TARGET.read_bytes()).hexdigest()
    print(f"{TARGET}: {TARGET.stat().st_size:,} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
