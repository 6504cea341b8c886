"""Real data: the handwritten digits shipped in resources/, and the user's CSV files, numpy files and image folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from modstudio.engine.dataset_facts import (
    DatasetProblem,
    class_label_problem,
    csv_table,
    number_or_none,
    numpy_arrays,
    too_many_classes,
)
from modstudio.engine.dataset_options import DATASET_OPTIONS, OptionSpec
from modstudio.engine.errors import DataError

from .dataset import TensorData

DIGITS_FILE = "digits.npz"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def digits(o: dict[str, Any], seed: int, base: Path) -> TensorData:
    """The 1,797 handwritten 8x8 digits (UCI, as scikit-learn ships them), scaled to [0, 1], shape [1, 8, 8].

    Read from ``resources/data/digits.npz`` (see its README and scripts/make_digits.py).
    """
    pixels, target = digits_arrays()
    x = torch.as_tensor(pixels / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.as_tensor(target.astype(np.int64))
    return TensorData("digits", x, y, "classification", num_classes=10, class_names=[str(i) for i in range(10)])


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The shipped digits file's pixels (uint8 [1797, 64], 0..16) and labels (uint8 [1797])."""
    from modstudio.library import resources_dir

    with np.load(resources_dir() / "data" / DIGITS_FILE, allow_pickle=False) as archive:
        return archive["pixels"], archive["labels"]


def _resolve(o: dict[str, Any], key: str, base: Path, dataset: str) -> Path:
    value = o.get(key) or ""
    if not value:
        raise DataError(f"data.options.{key}: the {dataset} dataset needs a file or folder path")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise DataError(f"data.options.{key}: {path} does not exist")
    return path


def _targets(name: str, labels: list[str], where: str, classes: bool) -> tuple[torch.Tensor, str, list[str]]:
    """Class ids for text labels or whole numbers (or always, with ``classes``); values for other numbers."""
    numbers = [number_or_none(v) for v in labels]
    fractional = all(v is not None for v in numbers) and not all(float(v).is_integer() for v in numbers)  # type: ignore[arg-type]
    if fractional and not classes:
        return torch.tensor(numbers, dtype=torch.float32)[:, None], "regression", []
    distinct = set(labels)
    problem = too_many_classes(Path(name), len(distinct), f"{where} holds")
    if problem:
        raise DataError(problem)
    names = sorted(distinct, key=lambda v: (number_or_none(v) is None, number_or_none(v) or 0.0, v))
    index = {label: i for i, label in enumerate(names)}
    if len(names) < 2:
        raise DataError(f"{name}: {where} holds only one class ({names[0]!r}); a classifier needs at least two")
    return torch.tensor([index[v] for v in labels], dtype=torch.long), "classification", names


def csv_file(o: dict[str, Any], seed: int, base: Path) -> TensorData:
    """A CSV file with a header row; ``target`` names the target column (default: the last one).

    Feature columns must hold numbers; they are standardised with the training split's
    statistics. A target of text (or whole numbers, unless ``task`` is regression) becomes
    classes in sorted order.
    """
    path = _resolve(o, "path", base, "csv")
    try:
        table = csv_table(path, o)
    except DatasetProblem as exc:
        raise DataError(str(exc)) from None
    header, t = table.header, table.target_index
    features: list[list[float]] = []
    for line, row in table.rows:
        values = []
        for c, cell in enumerate(row):
            if c == t:
                continue
            number = number_or_none(cell.strip())
            if number is None:
                what = "is empty" if not cell.strip() else f"is not a number: {cell.strip()!r}"
                raise DataError(f"{path}, line {line}, column '{header[c]}': {what}; feature columns must hold numbers")
            values.append(number)
        features.append(values)
    labels = table.labels
    if o["task"] == "regression":
        for line, label in labels:
            if number_or_none(label) is None:
                raise DataError(
                    f"{path}, line {line}, column '{table.target}': regression needs a number, not {label!r}"
                )
        y, kind, names = torch.tensor([float(v) for _, v in labels])[:, None], "regression", []
    else:
        y, kind, names = _targets(
            path.name, [v for _, v in labels], f"column '{table.target}'", o["task"] == "classification"
        )
    x = torch.tensor(features, dtype=torch.float32)
    return TensorData(path.name, x, y, kind, num_classes=len(names), class_names=names, standardize=True)


def numpy_file(o: dict[str, Any], seed: int, base: Path) -> TensorData:
    """An ``.npz`` with arrays ``x`` and ``y``, or an ``.npy`` of samples with ``targets`` another ``.npy``."""
    try:
        path, x, y = numpy_arrays(o, base)
    except DatasetProblem as exc:
        raise DataError(str(exc)) from None
    if x.dtype.kind not in "fiub" or y.dtype.kind not in "fiub":
        raise DataError(f"{path}: x and y must hold numbers, not {x.dtype} and {y.dtype}")
    xt = torch.as_tensor(x.astype(np.float32))
    if y.dtype.kind in "iub" and o["task"] != "regression":
        problem = class_label_problem(y, path)
        if problem:
            raise DataError(problem)
        k = int(y.max()) + 1
        return TensorData(
            path.name,
            xt,
            torch.as_tensor(y.astype(np.int64)).reshape(-1),
            "classification",
            num_classes=k,
            class_names=[str(i) for i in range(k)],
        )
    yt = torch.as_tensor(y.astype(np.float32))
    return TensorData(path.name, xt, yt[:, None] if yt.dim() == 1 else yt, "regression")


def image_folder(o: dict[str, Any], seed: int, base: Path) -> TensorData:
    """One subfolder per class of images (read with Pillow), resized to ``image_size``, scaled to [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    root = _resolve(o, "path", base, "image_folder")
    if not root.is_dir():
        raise DataError(f"data.options.path: {root} is not a folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{root}: needs one subfolder per class (at least two); found {len(classes)}")
    problem = too_many_classes(root, len(classes), "one subfolder per class makes")
    if problem:
        raise DataError(problem)
    size, mode = o["image_size"], ("L" if o["channels"] == 1 else "RGB")
    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{root / name}: no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        for file in files:
            try:
                with Image.open(file) as image:
                    pixels = np.asarray(image.convert(mode).resize((size, size)), dtype=np.float32) / 255.0
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"{file}: not a readable image ({exc})") from None
            images.append(pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
            labels.append(label)
    x = torch.as_tensor(np.stack(images))
    return TensorData(
        root.name, x, torch.tensor(labels), "classification", num_classes=len(classes), class_names=classes
    )


LOADERS: dict[str, tuple[Any, tuple[OptionSpec, ...], str]] = {
    name: (load, DATASET_OPTIONS[name], doc)
    for name, load, doc in (
        ("digits", digits, "1,797 handwritten 8x8 digits (UCI, as in scikit-learn) [1, 8, 8], 10 classes"),
        ("csv", csv_file, "a CSV file with a header row"),
        ("numpy", numpy_file, ".npz with x and y, or .npy files"),
        ("image_folder", image_folder, "a folder with one subfolder of images per class"),
    )
}
