"""Datasets for training: built-in generators, real small data, and the user's files.

``load_dataset(data_section, base_dir)`` gives a :class:`TensorData`; ``split_data`` cuts it
into seeded train/val/test parts; :class:`BatchStream` serves the training batches.
"""

from __future__ import annotations

from pathlib import Path

from modstudio.engine.dataset_options import OptionSpec, check_options
from modstudio.engine.errors import DataError
from modstudio.graph.model import DataSection

from .batches import Augmentation, Batch, BatchStream, Curriculum, difficulty, eval_batches
from .dataset import Splits, TensorData, split_data
from .decompose import ClassSubsets, one_vs_rest
from .files import LOADERS
from .synthetic import GENERATORS

__all__ = [
    "Augmentation",
    "Batch",
    "BatchStream",
    "ClassSubsets",
    "Curriculum",
    "OptionSpec",
    "Splits",
    "TensorData",
    "dataset_names",
    "difficulty",
    "eval_batches",
    "load_dataset",
    "make_splits",
    "one_vs_rest",
    "split_data",
]


def dataset_names() -> dict[str, str]:
    """Every dataset name with a line that says what it is."""
    return {name: entry[2] for name, entry in {**GENERATORS, **LOADERS}.items()}


def load_dataset(
    section: DataSection, base_dir: Path | None = None, input_shape: tuple[int, ...] | None = None
) -> TensorData:
    """The whole dataset a DataSection names, with its options checked (relative paths from ``base_dir``)."""
    name = section.dataset
    options = dict(section.options)
    if name == "image_folder" and input_shape is not None and len(input_shape) == 3:
        options.setdefault("channels", input_shape[0])
        options.setdefault("image_size", input_shape[1])
    if name in GENERATORS:
        make, specs, _ = GENERATORS[name]
        return make(check_options(name, specs, options), section.seed)
    if name in LOADERS:
        load, specs, _ = LOADERS[name]
        return load(check_options(name, specs, options), section.seed, base_dir or Path.cwd())
    raise DataError(f"data.dataset: no dataset named '{name}' (datasets: {', '.join(dataset_names())})")


def make_splits(
    section: DataSection, base_dir: Path | None = None, input_shape: tuple[int, ...] | None = None
) -> Splits:
    return split_data(
        load_dataset(section, base_dir, input_shape), section.val_fraction, section.test_fraction, section.seed
    )
