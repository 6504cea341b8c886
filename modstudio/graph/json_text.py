"""Reading a project file's JSON text with bounds, and finding a field in the user's own text.

Python's :mod:`json` accepts what a project must not hold: ``NaN`` and ``Infinity``, ``1e999``
(read as infinity), integers too long for Python to convert (more than 4300 digits), strings with
lone surrogates (``"\\ud800"``, which cannot be saved back as UTF-8) and nesting deep enough to
exhaust the interpreter's stack. :func:`parse` reads the text, :func:`check_values` names each
such value by its field path, and :class:`Locator` gives the line and column in the user's file
where a field path (or the too-deep nesting) starts, so no problem is reported against a
re-serialised copy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .numbers import MAX_MAGNITUDE, number_problem
from .problems import Problem, join_path

MAX_DEPTH = 64  # nesting of objects and arrays; the deepest shipped template needs 7
MAX_LISTED = 20  # problems of this kind listed before "... more"

Path = tuple[str | int, ...]

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_DIGITS = len(str(MAX_MAGNITUDE))


@dataclass(frozen=True)
class BadNumber:
    """A number in the text that cannot be read as one (kept as text, reported by its path)."""

    why: str


class TooDeep(Exception):
    """The text nests objects and arrays deeper than the interpreter's stack allows."""


def _parse_int(text: str) -> int | BadNumber:
    digits = len(text.lstrip("-"))
    if digits > _MAX_DIGITS:
        return BadNumber(f"a whole number with {digits} digits is too large: numbers in a project lie within ±10^15")
    return int(text)


def _parse_float(text: str) -> float | BadNumber:
    value = float(text)
    if number_problem(value):
        return BadNumber(f"{_short(text)} is too large: numbers in a project lie within ±10^15")
    return value


def _parse_constant(text: str) -> BadNumber:
    return BadNumber(f"{text} is not a number a project can hold (JSON has no {text})")


def _short(text: str) -> str:
    return text if len(text) <= 24 else text[:21] + "..."


def parse(text: str) -> Any:
    """The JSON value of ``text``; numbers out of bounds come back as :class:`BadNumber`.

    Raises :class:`json.JSONDecodeError`, or :class:`TooDeep` where the nesting exhausts the stack.
    """
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError:
        raise TooDeep from None


def check_values(data: Any, text: str = "") -> list[Problem]:
    """Problems with the values themselves: nesting, numbers and strings, each at its field path
    (and at its line and column in ``text``, the JSON the data was read from, when given)."""
    problems: list[Problem] = []
    locator = Locator(text)
    for path, why in _value_problems(data):
        if len(problems) == MAX_LISTED:
            problems.append(Problem("", "more values with problems are not listed"))
            break
        problems.append(Problem(_path_text(path), why + locator.at(path)))
    return problems


def _value_problems(data: Any) -> Iterator[tuple[Path, str]]:
    stack: list[tuple[Any, Path]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, (dict, list)):
            if len(path) >= MAX_DEPTH:
                yield path, f"nested more than {MAX_DEPTH} objects or arrays deep"
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            children = []
            for key, item in items:
                if isinstance(key, str) and _SURROGATE.search(key):
                    yield path, f"a key holds {_surrogate_text(key)}"
                children.append((item, (*path, key)))
            stack.extend(reversed(children))
        elif isinstance(value, BadNumber):
            yield path, value.why
        elif isinstance(value, str):
            if _SURROGATE.search(value):
                yield path, f"the text holds {_surrogate_text(value)}"
        else:
            why = number_problem(value)
            if why:
                yield path, why


def _path_text(path: Path) -> str:
    """A field path for a message; a very deep one is cut after its first steps."""
    return join_path(*path) if len(path) <= 10 else join_path(*path[:8]) + "..."


def _surrogate_text(text: str) -> str:
    found = _SURROGATE.search(text)
    code = ord(found.group()) if found else 0
    return f"a lone surrogate escape (\\u{code:04x}), which is not a character"


def _value_starts(text: str) -> Iterator[tuple[int, Path, bool]]:
    """(offset, field path, opens a container) for each value in the text, in order."""
    stack: list[list[Any]] = []  # per open container: [is_object, label, expecting_key]
    for match in _TOKEN.finditer(text):
        token = match.group()
        top = stack[-1] if stack else None
        if token in "}]":
            if stack:
                stack.pop()
        elif token == ",":
            if top is not None and top[0]:
                top[2] = True
            elif top is not None:
                top[1] += 1
        elif token == ":":
            pass
        elif top is not None and top[0] and top[2]:  # an object's key
            top[1], top[2] = _key(token), False
        else:
            opens = token in "{["
            yield match.start(), tuple(frame[1] for frame in stack), opens
            if opens:
                stack.append([token == "{", None if token == "{" else 0, token == "{"])


def _key(token: str) -> str:
    try:
        key = json.loads(token)
    except ValueError:
        return token
    return key if isinstance(key, str) else token


def _line_column(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    return f" (line {line}, column {column})"


class Locator:
    """Finds field paths in the user's JSON text (read once, when the first problem needs a place)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: dict[Path, int] | None = None

    def at(self, path: Path) -> str:
        """`` (line L, column C)`` where the field starts; for a field the text lacks (a missing one, or a
        schema error's path that goes on past the value), where its deepest enclosing field starts."""
        if not self.text:
            return ""
        if self._starts is None:
            self._starts = {}
            for offset, found, _ in _value_starts(self.text):
                self._starts.setdefault(found, offset)
        for end in range(len(path), 0, -1):
            if path[:end] in self._starts:
                return _line_column(self.text, self._starts[path[:end]])
        return ""


def too_deep(text: str) -> Problem:
    """The problem with text nested deeper than the stack allows, at the place it starts."""
    message = f"nested more than {MAX_DEPTH} objects or arrays deep"
    for offset, path, opens in _value_starts(text):
        if opens and len(path) >= MAX_DEPTH:
            return Problem(_path_text(path), message + _line_column(text, offset))
    return Problem("", message)
