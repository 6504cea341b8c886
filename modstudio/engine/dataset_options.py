"""Dataset options (``data.options`` in a project): declared per dataset, checked with clear errors.

Torch-free, outside the ``data`` package (whose loaders import torch), so the GUI's settings
panel and the pre-start check read the same tables the loaders check against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modstudio.engine.errors import DataError


@dataclass(frozen=True)
class OptionSpec:
    """One option of a dataset: its type, default and allowed range."""

    name: str
    kind: type  # int, float, str or bool
    default: Any
    min: float | None = None
    max: float | None = None
    doc: str = ""
    choices: tuple[str, ...] = ()


def check_options(dataset: str, specs: tuple[OptionSpec, ...], given: Mapping[str, Any]) -> dict[str, Any]:
    """The options with defaults filled in, or a DataError naming the bad option."""
    by_name = {spec.name: spec for spec in specs}
    for name in given:
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise DataError(f"data.options.{name}: the {dataset} dataset has no option '{name}' (options: {known})")
    out: dict[str, Any] = {}
    for spec in specs:
        value = given.get(spec.name, spec.default)
        where = f"data.options.{spec.name}"
        if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if value is not None and (
            not isinstance(value, spec.kind) or (spec.kind is not bool and isinstance(value, bool))
        ):
            raise DataError(f"{where}: must be {_kind_word(spec.kind)}, not {value!r} (dataset '{dataset}')")
        if spec.min is not None and value is not None and value < spec.min:
            raise DataError(f"{where}: must be >= {spec.min}, not {value} (dataset '{dataset}')")
        if spec.max is not None and value is not None and value > spec.max:
            raise DataError(f"{where}: must be <= {spec.max}, not {value} (dataset '{dataset}')")
        if spec.choices and value not in spec.choices:
            raise DataError(f"{where}: must be one of {', '.join(spec.choices)}, not {value!r} (dataset '{dataset}')")
        out[spec.name] = value
    return out


def _kind_word(kind: type) -> str:
    return {int: "a whole number", float: "a number", str: "text", bool: "true or false"}.get(kind, kind.__name__)


SAMPLES = OptionSpec("samples", int, 1000, min=10, max=10_000_000, doc="number of samples")
NOISE = OptionSpec("noise", float, 0.1, min=0.0, doc="standard deviation of added noise")
CLASSES = OptionSpec("classes", int, 3, min=2, max=1000, doc="number of classes")
LENGTH = OptionSpec("length", int, 20, min=2, max=100_000, doc="sequence length T")
PATH = OptionSpec("path", str, "", doc="file or folder, relative to the project file")
TASK = OptionSpec("task", str, "auto", choices=("auto", "classification", "regression"))

# Every dataset's options, in the order the settings panel lists the datasets.
DATASET_OPTIONS: dict[str, tuple[OptionSpec, ...]] = {
    "moons": (SAMPLES, NOISE),
    "circles": (SAMPLES, NOISE, OptionSpec("factor", float, 0.5, min=0.01, max=0.99)),
    "blobs": (
        SAMPLES,
        CLASSES,
        OptionSpec("features", int, 2, min=1, max=10_000),
        OptionSpec("spread", float, 1.0, min=0.0),
    ),
    "spirals": (
        SAMPLES,
        OptionSpec("classes", int, 2, min=2, max=100),
        OptionSpec("noise", float, 0.05, min=0.0),
        OptionSpec("turns", float, 1.5, min=0.1, max=20),
    ),
    "xor": (SAMPLES, OptionSpec("noise", float, 0.0, min=0.0)),
    "checkerboard": (SAMPLES, OptionSpec("cells", int, 4, min=2, max=100), OptionSpec("noise", float, 0.0, min=0.0)),
    "regimes": (
        SAMPLES,
        OptionSpec("regions", int, 4, min=1, max=64),
        OptionSpec("noise", float, 0.0, min=0.0),
        OptionSpec("target", str, "class", choices=("class", "value")),
    ),
    "parity": (OptionSpec("samples", int, 2000, min=10), LENGTH),
    "adding": (OptionSpec("samples", int, 2000, min=10), LENGTH),
    "digits": (),
    "csv": (PATH, OptionSpec("target", str, ""), OptionSpec("delimiter", str, ","), TASK),
    "numpy": (PATH, OptionSpec("targets", str, ""), TASK),
    "image_folder": (
        PATH,
        OptionSpec("image_size", int, 32, min=1, max=4096),
        OptionSpec("channels", int, 3, min=1, max=3),
    ),
}
