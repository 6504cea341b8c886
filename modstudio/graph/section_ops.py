"""Edit the project's data and training sections, one field at a time, with an exact inverse.

A new value is checked with the section's own rules (the same pydantic rules a project
file is loaded with), so a value the editor accepts is one the file accepts. A refused
value raises :class:`OperationError` with a sentence that names the field and the rule:
"training.learning_rate must be > 0, not -1". Each applied edit emits a
``section_changed`` Change whose ``param`` is ``"<section>.<field>"`` (``module`` is "").
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from .document import Change, ChangeKind, Document, Operation, OperationError
from .model import DataSection, SearchSection, TrainingSection

Section = Literal["data", "training"]
SECTIONS: dict[str, type] = {"data": DataSection, "training": TrainingSection}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def section_of(doc: Document, section: str) -> DataSection | TrainingSection:
    if section not in SECTIONS:
        raise OperationError(f"a project has no section '{section}' (sections: data, training)")
    return getattr(doc.project, section)  # type: ignore[no-any-return]


def check_section_value(section: str, current: DataSection | TrainingSection, field: str, value: Any) -> Any:
    """The value as the section stores it (1 becomes 1.0 for a float field), or an OperationError."""
    names = [f.name for f in fields(SECTIONS[section])]
    if field not in names:
        raise OperationError(f"{section} has no field '{field}' (fields: {', '.join(names)})")
    if _has_bad_number(value):
        raise OperationError(f"{section}.{field} must be a finite number, not {value!r}")
    data = asdict(current)
    data[field] = copy.deepcopy(value)
    adapter = _ADAPTERS.get(section)
    if adapter is None:
        adapter = _ADAPTERS[section] = TypeAdapter(SECTIONS[section])
    try:
        checked = adapter.validate_json(json.dumps(data))
    except (ValidationError, TypeError, ValueError) as exc:
        raise OperationError(_sentence(section, field, value, exc)) from None
    return getattr(checked, field)


def _has_bad_number(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_bad_number(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_bad_number(v) for v in value)
    return False


_RULES = {
    "greater_than": ("gt", "must be > {}"),
    "greater_than_equal": ("ge", "must be >= {}"),
    "less_than": ("lt", "must be < {}"),
    "less_than_equal": ("le", "must be <= {}"),
    "literal_error": ("expected", "must be one of {}"),
}
_KINDS = {
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "dict_type": "must be a table of names and values",
    "none_required": "must be empty",
    "string_too_short": "must not be empty",
}


def _sentence(section: str, field: str, value: Any, exc: Exception) -> str:
    if not isinstance(exc, ValidationError):
        return f"{section}.{field} cannot hold {value!r} ({exc})"
    errors = exc.errors()
    # An optional field reports its rule and then "must be empty": the rule is the one to tell.
    err = next((e for e in errors if e["type"] != "none_required"), errors[0])
    where = ".".join([section, *(str(part) for part in err["loc"] if part not in ("int", "float", "dict"))])
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _RULES:
        key, text = _RULES[kind]
        bound = ctx.get(key)
        rule = text.format(_number_text(bound) if key != "expected" else bound)
    else:
        rule = _KINDS.get(kind, str(err.get("msg", "is not allowed")).replace("Input should be", "must be"))
    shown = err.get("input", value)
    return f"{where} {rule}, not {_number_text(shown) if not isinstance(shown, str) else repr(shown)}"


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if not isinstance(value, (int, float)) else str(value)


@dataclass
class SetSectionField(Operation):
    """Set one field of the data or training section; the inverse puts the old value back."""

    section: Section
    field: str
    value: Any

    def apply(self, doc: Document) -> None:
        target = section_of(doc, self.section)
        new = check_section_value(self.section, target, self.field, self.value)
        old = copy.deepcopy(getattr(target, self.field))
        setattr(target, self.field, new)
        name = f"{self.section}.{self.field}"
        doc.emit(Change(ChangeKind.SECTION_CHANGED, "", param=name))
        self._done(f"Set {self.field.replace('_', ' ')}", SetSectionField(self.section, self.field, old))


@dataclass
class RestoreSearch(Operation):
    """Put back a whole search section (None: no search); the inverse of the edits below."""

    section: SearchSection | None
    text: str = "Set search"
    target: str = ""

    def apply(self, doc: Document) -> None:
        before = copy.deepcopy(doc.project.search)
        doc.project.search = copy.deepcopy(self.section)
        doc.emit(Change(ChangeKind.SEARCH_CHANGED, "", param=self.target or None))
        self._done(self.text, RestoreSearch(before, self.text, self.target))
