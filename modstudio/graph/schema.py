"""What the document needs to know about a block type, without torch.

The catalogue in :mod:`modstudio.blocks` provides full BlockSpecs (with shape rules and
``build``); the document layer only relies on this declarative part: the ports and the
typed parameters with defaults and ranges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .expressions import ExpressionError, is_expression, names_used
from .numbers import number_problem, shown

ParamKind = Literal["int", "float", "bool", "choice", "ints", "str", "module", "modules"]

INPUT_BLOCK = "input"
OUTPUT_BLOCK = "output"


@dataclass(frozen=True)
class ParamSpec:
    """A typed parameter of a block: default, range, allowed choices and a line of help."""

    name: str
    kind: ParamKind
    default: Any
    doc: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False  # None is allowed (and means "not set")
    min_length: int = 0
    max_length: int | None = None
    max_exclusive: bool = False  # the value must stay below max (a probability < 1, say)
    unset_label: str = ""  # what an unset optional value means, for the inspector ("same")
    # (param, values): this param matters only while that other param has one of these values
    # ("k" only for top-k gates); otherwise the inspector hides it and its value stays in the file
    visible_when: tuple[str, tuple[Any, ...]] | None = None

    @property
    def accepts_expression(self) -> bool:
        return self.kind in ("int", "float")

    def matters(self, values: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> bool:
        """Whether this param has an effect given the node's other values (a missing value: its default)."""
        if self.visible_when is None:
            return True
        other, allowed = self.visible_when
        value = values[other] if other in values else (defaults or {}).get(other)
        return value in allowed

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not acceptable, or None. Expressions are checked for syntax."""
        if value is None:
            return None if self.optional else "must be set"
        if is_expression(value):
            if not self.accepts_expression:
                return f"a {self.kind} parameter cannot be an expression"
            try:
                names_used(value)
            except ExpressionError as exc:
                return str(exc)
            return None
        return self.check_value(value)

    def check_value(self, value: Any) -> str | None:
        """Check a plain (already evaluated) value against the type and range."""
        kind = self.kind
        if kind == "bool":
            return None if isinstance(value, bool) else f"must be true or false, not {shown(value)}"
        if kind == "str":
            return None if isinstance(value, str) else f"must be a string, not {shown(value)}"
        if kind == "choice":
            if value in self.choices:
                return None
            return f"must be one of {', '.join(self.choices)}, not {shown(value)}"
        if kind == "module":
            return None if isinstance(value, str) and value else f"must name a module, not {shown(value)}"
        if kind == "modules":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                return f"must be a list of module names, not {shown(value)}"
            if len(value) < self.min_length:
                return f"must name at least {self.min_length} module{'s' if self.min_length != 1 else ''}"
            if self.max_length is not None and len(value) > self.max_length:
                return f"must name at most {self.max_length} modules"
            return None
        if kind == "ints":
            if not isinstance(value, list) or not all(_is_int(v) for v in value):
                return f"must be a list of whole numbers, not {shown(value)}"
            if len(value) < self.min_length:
                return f"must have at least {self.min_length} entries"
            if self.max_length is not None and len(value) > self.max_length:
                return f"must have at most {self.max_length} entries"
            return self._range(value)
        if kind == "int":
            if not _is_int(value):
                return f"must be a whole number, not {shown(value)}"
            return self._range([value])
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"must be a number, not {shown(value)}"
            return self._range([value])
        return f"unknown parameter kind {kind}"

    def _range(self, values: Sequence[float]) -> str | None:
        for v in values:
            if self.min is not None and v < self.min:
                return f"must be >= {shown(self.min)}, not {shown(v)}"
            if self.max is not None and (v >= self.max if self.max_exclusive else v > self.max):
                bound = "<" if self.max_exclusive else "<="
                return f"must be {bound} {shown(self.max)}, not {shown(v)}"
            why = number_problem(v)  # NaN passes every comparison above; no maximum still means within ±10^15
            if why:
                return why
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class PortSpec:
    """An input or output of a block. A ``multi`` input accepts several edges, in edge order."""

    name: str
    doc: str = ""
    multi: bool = False
    optional: bool = False


def params_that_matter(specs: Sequence[ParamSpec], values: Mapping[str, Any]) -> list[ParamSpec]:
    """The params of a block that have an effect with these values (unset ones count as their defaults)."""
    defaults = {p.name: p.default for p in specs}
    return [p for p in specs if p.matters(values, defaults)]


def values_that_matter(specs: Sequence[ParamSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """A node's own values without those its chosen options ignore (names the block does not know are kept)."""
    ignored = {p.name for p in specs} - {p.name for p in params_that_matter(specs, values)}
    return {name: value for name, value in values.items() if name not in ignored}


def visible_when_problem(specs: Sequence[ParamSpec]) -> str | None:
    """Why a block's ``visible_when`` declarations cannot work (an unknown param, a value it can never
    have, a chain), or None."""
    by_name = {p.name: p for p in specs}
    for param in specs:
        if param.visible_when is None:
            continue
        rule = param.visible_when
        if not (isinstance(rule, tuple) and len(rule) == 2 and isinstance(rule[1], tuple) and rule[1]):
            return f"param '{param.name}': visible_when must be (param name, (values...)), not {shown(rule)}"
        other, allowed = rule
        target = by_name.get(other) if isinstance(other, str) else None
        if target is None or target is param:
            return f"param '{param.name}': visible_when names {shown(other)}, which is not another param of the block"
        if target.kind not in ("choice", "bool"):
            return f"param '{param.name}': visible_when names '{other}', a param of kind {target.kind} (only choice or bool)"
        if target.visible_when is not None:
            return f"param '{param.name}': visible_when names '{other}', which is itself shown only sometimes"
        for value in allowed:
            why = target.check_value(value)
            if why:
                return f"param '{param.name}': visible_when value {shown(value)} for '{other}' {why}"
    return None


class BlockSchema(Protocol):
    """The declarative face of a block type, enough to validate a document."""

    id: str
    version: int
    title: str
    aliases: tuple[str, ...]
    params: tuple[ParamSpec, ...]
    inputs: tuple[PortSpec, ...]
    outputs: tuple[PortSpec, ...]


class BlockCatalog(Protocol):
    """Looks up block types by id or alias."""

    def lookup(self, block_id: str) -> BlockSchema | None: ...
