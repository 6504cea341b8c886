"""The only way text from a project reaches exported code: ``python_text``.

Project and module names and docs, string parameters, paths: anything a project file holds
is written into generated Python through ``python_text`` and nothing else, so that it stays
text (a string literal or a comment) whatever characters it holds: quotes, backslashes,
line breaks, NUL bytes, Unicode line separators, an encoding declaration on a line of its
own. (Names that become identifiers are checked in ``python_code`` instead: they must
already be plain identifiers.) tests/compile/test_export_hostile_text.py puts such text in
every field of a project and checks, in every format, that it reads back as it was and that
nothing of it ran.
"""

from __future__ import annotations

import ast
from typing import Literal

Form = Literal["string", "docstring", "comment"]


def python_text(text: str, form: Form = "string") -> str:
    """``text`` as inert Python source: the only way project text goes into exported code.

    ``"string"``: a one-line literal in double quotes that evaluates to exactly ``text``.
    ``"docstring"``: a triple-quoted literal that evaluates to exactly ``text``, keeping its
    line breaks as they are (every other character that is not printable, and a backslash,
    is written as an escape; so is whitespace at the end of a line).
    ``"comment"``: one comment line per line of ``text``, each starting with ``# `` (characters
    that are not printable are written as escapes, so no line break hides in a comment).
    """
    if form == "comment":
        lines = ("".join(_escaped(char, None) for char in line) for line in text.split("\n"))
        source = "\n".join(f"# {line}".rstrip() for line in lines)
        if any(char in source for char in "\r\0") or not all(line.startswith("#") for line in source.split("\n")):
            raise AssertionError(f"a comment was written from {text!r} that is not one")  # pragma: no cover
        return source
    if form == "docstring":
        lines = [_docstring_line(line) for line in text.split("\n")]
        if lines[-1][-1:] == ['"']:  # a quote just before the closing quotes
            lines[-1][-1] = '\\"'
        source = '"""' + "\n".join("".join(line) for line in lines) + '"""'
    else:
        source = '"' + "".join(_escaped(char, '"') for char in text) + '"'
    if ast.literal_eval(source) != text:  # a literal and nothing else, equal to the text
        raise AssertionError(f"python_text wrote {source!r} for {text!r}")  # pragma: no cover
    return source


def _docstring_line(line: str) -> list[str]:
    """One line of a docstring: no two quotes in a row (so no closing \"\"\"), escapes for the
    rest, and the whitespace at its end as escapes (so no tool strips it)."""
    kept = line.rstrip(" \t")
    out: list[str] = []
    for char in kept:
        if char == '"' and out and out[-1] == '"':
            out.append('\\"')
        else:
            out.append(_escaped(char, ""))
    return out + [_escape(char) for char in line[len(kept) :]]


def _escaped(char: str, quote: str | None) -> str:
    """``char`` as it goes between ``quote``s (None: in a comment, where a backslash is text)."""
    if quote is not None and char in ("\\", quote):
        return "\\" + char
    return char if char.isprintable() else _escape(char)


def _escape(char: str) -> str:
    """A character as an escape sequence: \\n, \\t, \\x00, \\u2028, \\U0001f600."""
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t", " ": "\\x20"}
    if char in named:
        return named[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
