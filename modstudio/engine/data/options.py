"""Dataset options (``data.options`` in a project): declared per dataset, checked with clear errors."""

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
