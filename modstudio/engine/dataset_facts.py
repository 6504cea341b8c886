"""What a project's dataset will be, known without torch and without building it.

The GUI's settings panel and the pre-start check (:mod:`modstudio.engine.precheck`) need
each dataset's options and its shape, task and size before any tensor exists; importing
:mod:`modstudio.engine.data` loads torch, which takes seconds. The option tables are the
loaders' own (:mod:`modstudio.engine.dataset_options`); tests/engine/test_precheck.py checks
that the facts match the real datasets.
"""

from __future__ import annotations

import csv
import math
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modstudio.engine.dataset_options import DATASET_OPTIONS, OptionSpec, check_options
from modstudio.engine.errors import DataError
from modstudio.graph.model import DataSection
from modstudio.sizes import human_size

__all__ = ["OPTIONS", "DatasetFacts", "DatasetProblem", "OptionSpec", "checked_options", "dataset_facts"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
DIGITS_SAMPLES = 1797
MAX_CLASSES = 100_000  # more is a mistake in the data (a label of 2**40 would make 2**40 class names)
NPZ_DAMAGED = "not a readable .npz file (truncated or damaged zip)"
NUMPY_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


@dataclass(frozen=True)
class DatasetFacts:
    """A dataset's sample shape, task and size; ``None`` where it cannot be known cheaply."""

    name: str
    sample_shape: tuple[int, ...] | None
    target: str  # "classification" or "regression"
    classes: int  # 0 for regression
    outputs: int  # values per sample for regression, 1 for classification
    samples: int | None


class DatasetProblem(ValueError):
    """The dataset cannot be used as configured; the message says why in a sentence."""


OPTIONS = DATASET_OPTIONS  # every dataset and its options (the loaders check the same table)
FILE_DATASETS = ("csv", "numpy", "image_folder")
TWO_D = ("moons", "circles", "xor", "checkerboard", "spirals", "regimes")


def checked_options(dataset: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The options with defaults filled in, or a DatasetProblem naming the bad option."""
    if dataset not in OPTIONS:
        raise DatasetProblem(f"data.dataset: no dataset named '{dataset}' (datasets: {', '.join(OPTIONS)})")
    try:
        return check_options(dataset, OPTIONS[dataset], given)
    except DataError as exc:
        raise DatasetProblem(exc.message) from None


def dataset_facts(
    section: DataSection, base_dir: Path | None = None, input_shape: tuple[int, ...] | None = None
) -> DatasetFacts:
    """The facts of the dataset a DataSection names (reading only file headers and folder listings)."""
    name = section.dataset
    o = checked_options(name, section.options)
    if name in ("moons", "circles", "xor", "checkerboard"):
        return DatasetFacts(name, (2,), "classification", 2, 1, o["samples"])
    if name == "spirals":
        return DatasetFacts(name, (2,), "classification", o["classes"], 1, o["samples"])
    if name == "blobs":
        return DatasetFacts(name, (o["features"],), "classification", o["classes"], 1, o["samples"])
    if name == "regimes":
        if o["target"] == "value":
            return DatasetFacts(name, (2,), "regression", 0, 1, o["samples"])
        return DatasetFacts(name, (2,), "classification", 2, 1, o["samples"])
    if name == "parity":
        return DatasetFacts(name, (o["length"], 1), "classification", 2, 1, o["samples"])
    if name == "adding":
        return DatasetFacts(name, (o["length"], 2), "regression", 0, 1, o["samples"])
    if name == "digits":
        return DatasetFacts(name, (1, 8, 8), "classification", 10, 1, DIGITS_SAMPLES)
    base = base_dir or Path.cwd()
    if name == "csv":
        return _csv_facts(o, base)
    if name == "numpy":
        return _numpy_facts(o, base)
    return _image_folder_facts(o, section.options, base, input_shape)


def resolve_path(o: Mapping[str, Any], key: str, base: Path, dataset: str) -> Path:
    """An option's file or folder, relative to ``base``; a DatasetProblem when it is not there."""
    value = o.get(key) or ""
    if not value:
        raise DatasetProblem(f"data.options.{key}: the {dataset} dataset needs a file or folder path")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise DatasetProblem(f"data.options.{key}: the {dataset} file or folder {path} does not exist")
    return path


def number_or_none(text: str) -> float | None:
    """A CSV cell's number; None for text, an empty cell, inf or nan."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def numpy_read_problem(path: Path, exc: BaseException) -> str:
    """What is wrong with a numpy file that ``np.load`` could not read."""
    if path.suffix == ".npz" and isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError)):
        return f"{path}: {NPZ_DAMAGED}"
    return f"{path}: not a readable numpy file ({exc or type(exc).__name__})"


def class_label_problem(y: np.ndarray, path: Path) -> str | None:
    """Why whole-number labels ``y`` are not classes 0..k-1 (k at most MAX_CLASSES), naming the label
    found and where; None when they are. Checked before anything per class is built."""
    flat = y.reshape(-1)
    if flat.size == 0:
        return f"{path}: y holds no labels"
    low, high = flat.min(), flat.max()
    if low < 0:
        return f"{path}: class labels in y must be 0 or more; y[{int(np.argmax(flat == low))}] is {low}"
    if high >= MAX_CLASSES:
        return (
            f"{path}: y[{int(np.argmax(flat == high))}] is {high}, which would make {int(high) + 1:,} classes "
            f"(at most {MAX_CLASSES:,}); class labels must be 0..k-1"
        )
    present = np.zeros(int(high) + 1, dtype=bool)
    present[flat.astype(np.int64)] = True
    if not present.all():
        missing = int(np.argmin(present))
        return (
            f"{path}: class labels must be 0..k-1, but y has no label {missing} while y[{int(np.argmax(flat == high))}] "
            f"is {high} ({int(present.sum())} different labels)"
        )
    return None


def too_many_classes(path: Path, count: int, what: str) -> str | None:
    """A problem when ``count`` classes (``what``: where they come from) are more than MAX_CLASSES."""
    if count <= MAX_CLASSES:
        return None
    return f"{path}: {what} {count:,} classes, more than {MAX_CLASSES:,}"


@dataclass(frozen=True)
class CsvTable:
    """A CSV dataset file read once: its header, target column and rows of data (blank rows left out)."""

    path: Path
    header: list[str]
    target: str  # the target column's name
    rows: list[tuple[int, list[str]]]  # (line, cells), every row as long as the header

    @property
    def target_index(self) -> int:
        return self.header.index(self.target)

    @property
    def labels(self) -> list[tuple[int, str]]:
        """(line, target text) per row; never empty text."""
        t = self.target_index
        return [(line, row[t].strip()) for line, row in self.rows]

    def fractional(self) -> bool:
        """True when every target is a number and some are not whole: a regression target by default."""
        numbers = [number_or_none(v) for _, v in self.labels]
        return all(v is not None for v in numbers) and not all(float(v).is_integer() for v in numbers)  # type: ignore[arg-type]


def csv_table(path: Path, o: Mapping[str, Any]) -> CsvTable:
    """The ``csv`` dataset's file ``path`` (found by the caller) read with the ``delimiter`` and ``target``
    options, checked for what a loader needs before it looks at values: a header, the target column, rows
    as long as the header, no empty target. The loader and the facts both read here; a DatasetProblem
    says what is wrong, with the line."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            records = list(csv.reader(handle, delimiter=o["delimiter"]))
    except UnicodeDecodeError as exc:
        raise DatasetProblem(f"{path}: not a text file (bad UTF-8 at byte {exc.start})") from None
    except (OSError, csv.Error) as exc:
        raise DatasetProblem(f"{path}: cannot read it: {exc}") from None
    filled = [i for i, row in enumerate(records) if any(cell.strip() for cell in row)]
    if len(records) - (filled[0] if filled else 0) < 2:
        raise DatasetProblem(f"{path}: needs a header row and at least one row of data")
    header = [h.strip() for h in records[filled[0]]]
    target = o["target"] or header[-1]
    if target not in header:
        raise DatasetProblem(f"{path}: no column named '{target}' (columns: {', '.join(header)})")
    t = header.index(target)
    rows: list[tuple[int, list[str]]] = []
    for i in filled[1:]:
        line, row = i + 1, records[i]
        if len(row) != len(header):
            raise DatasetProblem(f"{path}, line {line}: {len(row)} values but the header has {len(header)} columns")
        if not row[t].strip():
            raise DatasetProblem(f"{path}, line {line}, column '{target}': the target is empty")
        rows.append((line, row))
    if not rows:
        raise DatasetProblem(f"{path}: no rows of data")
    return CsvTable(path, header, target, rows)


def _csv_facts(o: dict[str, Any], base: Path) -> DatasetFacts:
    table = csv_table(resolve_path(o, "path", base, "csv"), o)
    regression = o["task"] == "regression" or (table.fractional() and o["task"] != "classification")
    shape, samples = (len(table.header) - 1,), len(table.rows)
    if regression:
        return DatasetFacts(table.path.name, shape, "regression", 0, 1, samples)
    classes = len({label for _, label in table.labels})
    problem = too_many_classes(table.path, classes, f"column '{table.target}' holds")
    if problem:
        raise DatasetProblem(problem)
    return DatasetFacts(table.path.name, shape, "classification", classes, 1, samples)


def numpy_arrays(o: Mapping[str, Any], base: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """The ``x`` and ``y`` arrays of a numpy dataset (an ``.npz``, or an ``.npy`` and its ``targets``),
    read without pickles, each file first checked to hold the data its header declares (a header may
    declare terabytes that numpy would try to allocate). The loader and the facts both read here."""
    path = resolve_path(o, "path", base, "numpy")
    try:
        if path.suffix == ".npz":
            _check_npz(path)
            with np.load(path, allow_pickle=False) as archive:
                missing = [k for k in ("x", "y") if k not in archive.files]
                if missing:
                    raise DatasetProblem(
                        f"{path}: no array named {', '.join(missing)} (arrays: {', '.join(archive.files)})"
                    )
                return path, archive["x"], archive["y"]
        targets = resolve_path(o, "targets", base, "numpy")
        for file in (path, targets):
            with file.open("rb") as handle:
                _check_declared_size(file, "", handle, file.stat().st_size)
        return path, np.load(path, allow_pickle=False, mmap_mode="r"), np.load(targets, allow_pickle=False)
    except NUMPY_READ_ERRORS as exc:
        raise DatasetProblem(numpy_read_problem(path, exc)) from None


def _check_npz(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            if member.filename.endswith(".npy"):
                with archive.open(member) as handle:
                    _check_declared_size(path, member.filename[:-4], handle, member.file_size)


def _check_declared_size(path: Path, array: str, handle: Any, stored: int) -> None:
    """Raise DatasetProblem when the array's header declares more data than the file holds."""
    version = np.lib.format.read_magic(handle)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in read_header:
        return  # format 3.0 (rare): numpy's own checks apply
    shape, _, dtype = read_header[version](handle)
    declared = math.prod(shape) * dtype.itemsize
    holds = stored - handle.tell()
    if declared > holds:
        what = f"array '{array}'" if array else "the array"
        raise DatasetProblem(
            f"{path}: {what} declares shape {list(shape)} of {dtype} ({human_size(declared)}) but the file holds "
            f"{human_size(holds)} of data (truncated or damaged)"
        )


def _numpy_facts(o: dict[str, Any], base: Path) -> DatasetFacts:
    path, x, y = numpy_arrays(o, base)
    if y.dtype.kind in "iub" and o["task"] != "regression":
        problem = class_label_problem(y, path)
        if problem:
            raise DatasetProblem(problem)
        classes = int(y.max()) + 1 if y.size else 0
        return DatasetFacts(path.name, tuple(x.shape[1:]), "classification", classes, 1, int(x.shape[0]))
    outputs = 1 if y.ndim == 1 else int(np.prod(y.shape[1:]))
    return DatasetFacts(path.name, tuple(x.shape[1:]), "regression", 0, outputs, int(x.shape[0]))


def _image_folder_facts(
    o: dict[str, Any], given: Mapping[str, Any], base: Path, input_shape: tuple[int, ...] | None
) -> DatasetFacts:
    root = resolve_path(o, "path", base, "image_folder")
    if not root.is_dir():
        raise DatasetProblem(f"data.options.path: {root} is not a folder")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DatasetProblem(f"{root}: needs one subfolder of images per class (at least two); found {len(classes)}")
    problem = too_many_classes(root, len(classes), "one subfolder per class makes")
    if problem:
        raise DatasetProblem(problem)
    count = 0
    for folder in classes:
        files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise DatasetProblem(f"{folder}: no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        count += len(files)
    channels, size = o["channels"], o["image_size"]
    if input_shape is not None and len(input_shape) == 3:  # unless set, the loader fits the images to the Input
        channels = given.get("channels", input_shape[0])
        size = given.get("image_size", input_shape[1])
    return DatasetFacts(root.name, (channels, size, size), "classification", len(classes), 1, count)
