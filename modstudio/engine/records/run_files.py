"""The one checked reader of a run folder's files, without torch: a damaged file is a named error.

Every problem names the file and says what is wrong with it ("best.safetensors: truncated (its
header says 4.2 MB, the file holds 1.0 MB)", "routing.jsonl line 7: not a JSON object (found a
list)"), so ``modstudio analyze``, the Runs dock and a resumed run can say which file is damaged
and keep showing what can still be read. Nothing here runs what a file holds: JSON is parsed,
a ``.safetensors`` header is checked before its tensors are read (by
:func:`modstudio.engine.runs.RunFolder.load_weights`), and a pickle is refused by its first bytes.

A half-written last line of a ``.jsonl`` file is normal (a run still writing, or killed while
writing): it is skipped and counted, never an error. A broken line anywhere else is.
"""

from __future__ import annotations

import json
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modstudio.engine.errors import EngineError
from modstudio.sizes import human_size

MAX_HEADER_BYTES = 100_000_000  # safetensors refuses headers larger than this too
PICKLE_NOTE = "ModStudio never unpickles files: save weights as .safetensors"


class RunFileError(EngineError):
    """A file of a run folder that is missing or damaged; ``file`` is its name, ``problem`` what is wrong."""

    def __init__(self, file: str, problem: str) -> None:
        super().__init__(f"{file}: {problem}", "settings")
        self.file = file
        self.problem = problem


@dataclass
class JsonLines:
    """What a ``.jsonl`` file holds: its objects, the half-written last line skipped, the damaged lines."""

    records: list[dict[str, Any]] = field(default_factory=list)
    half_written: int = 0  # a last line cut short (a run writing it, or killed while writing): skipped
    problems: list[str] = field(default_factory=list)  # "metrics.jsonl line 7: not a JSON object (found a list)"


def read_json_lines(file: Path) -> JsonLines:
    """The objects of a ``.jsonl`` file; never raises. A missing file holds nothing."""
    file = Path(file)
    out = JsonLines()
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        return out
    except OSError as exc:
        out.problems.append(f"{file.name}: cannot be read ({exc.strerror or exc})")
        return out
    lines = raw.split(b"\n")
    complete = raw.endswith(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        last = number == len(lines)  # no newline after it: the writer had not finished it
        value, problem = _parse_line(line)
        if problem is None and not isinstance(value, dict):
            problem = f"not a JSON object (found {_kind(value)})"
        if problem is None:
            out.records.append(value)
        elif last and not complete:
            out.half_written += 1
        else:
            out.problems.append(f"{file.name} line {number}: {problem}")
    return out


def check_json_lines(file: Path) -> JsonLines:
    """Like :func:`read_json_lines`, but a damaged line (other than a half-written last one) is a RunFileError."""
    lines = read_json_lines(file)
    if lines.problems:
        more = len(lines.problems) - 1
        first = lines.problems[0]
        name, problem = first.split(": ", 1) if ": " in first else (Path(file).name, first)
        raise RunFileError(
            name, problem + (f" (and {more} more damaged line{'s' if more > 1 else ''})" if more else "")
        )
    return lines


def read_json_object(file: Path, name: str | None = None) -> dict[str, Any]:
    """The JSON object a file holds, or a RunFileError naming the file (``name``: how to call it)."""
    file = Path(file)
    name = name or file.name
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise RunFileError(name, "missing") from None
    except OSError as exc:
        raise RunFileError(name, f"cannot be read ({exc.strerror or exc})") from None
    value, problem = _parse_line(raw)
    if problem is not None:
        raise RunFileError(name, problem)
    if not isinstance(value, dict):
        raise RunFileError(name, f"not a JSON object (found {_kind(value)})")
    return value


def _parse_line(raw: bytes) -> tuple[Any, str | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (bad byte at {exc.start})"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    except RecursionError:
        return None, f"nested deeper than {sys.getrecursionlimit()} levels"


def _kind(value: Any) -> str:
    names = {list: "a list", str: "a string", bool: "true or false", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def check_safetensors(file: Path, name: str | None = None) -> None:
    """A RunFileError unless ``file`` looks like a whole ``.safetensors`` file: its header read and
    checked against the file's size, a pickle or ``torch.save`` zip refused by its first bytes."""
    file = Path(file)
    name = name or file.name
    try:
        size = file.stat().st_size
        with file.open("rb") as handle:
            start = handle.read(8)
            length = struct.unpack("<Q", start)[0] if len(start) == 8 else None
            header = handle.read(length) if length is not None and length <= min(size - 8, MAX_HEADER_BYTES) else b""
    except FileNotFoundError:
        raise RunFileError(name, "missing") from None
    except OSError as exc:
        raise RunFileError(name, f"cannot be read ({exc.strerror or exc})") from None
    if start[:1] == b"\x80" and start[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise RunFileError(name, f"a Python pickle, not a .safetensors file; {PICKLE_NOTE}")
    if start[:4] == b"PK\x03\x04":
        raise RunFileError(
            name, f"a zip archive (torch.save's format, a pickle inside), not .safetensors; {PICKLE_NOTE}"
        )
    if length is None:
        raise RunFileError(name, f"truncated ({size} bytes; a .safetensors file starts with an 8-byte header size)")
    if length > MAX_HEADER_BYTES:
        raise RunFileError(name, f"not a .safetensors file (its first bytes give a header of {length:,} bytes)")
    if length > size - 8:
        raise RunFileError(
            name, f"truncated (its header alone takes {human_size(8 + length)}, the file holds {human_size(size)})"
        )
    value, problem = _parse_line(header.rstrip(b" "))
    if problem is not None or not isinstance(value, dict):
        raise RunFileError(name, f"not a .safetensors file (its header is {problem or 'not a JSON object'})")
    end = 0
    for key, entry in value.items():
        if key == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_whole(v) for v in offsets)):
            raise RunFileError(name, f"not a .safetensors file (tensor '{key}' has no data offsets in the header)")
        end = max(end, offsets[1])
    if 8 + length + end > size:
        raise RunFileError(
            name, f"truncated (its header says {human_size(8 + length + end)}, the file holds {human_size(size)})"
        )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


JSON_FILES = ("project.msproj", "run.json", "optimizer.json")
WEIGHT_FILES = ("best.safetensors", "last.safetensors", "optimizer.safetensors")


def read_json_files(folder: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The run's JSON files that are there, each parsed once (by file name), and what is wrong with the others."""
    objects: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for name in JSON_FILES:
        if (folder / name).exists():
            try:
                objects[name] = read_json_object(
                    folder / name, f"{name} (the run's snapshot)" if name == "project.msproj" else name
                )
            except RunFileError as exc:
                problems.append(exc.message)
    return objects, problems


def damaged_weights(folder: Path) -> list[str]:
    """What is wrong with the run's weight files that are there (their headers only)."""
    problems: list[str] = []
    for name in WEIGHT_FILES:
        if (folder / name).exists():
            try:
                check_safetensors(folder / name)
            except RunFileError as exc:
                problems.append(exc.message)
    return problems


def damaged_files(folder: Path, metrics: bool = True) -> list[str]:
    """What is wrong with a run folder's files, one line each, reading only JSON and weight headers (cheap
    enough for the runs list; ``metrics``: read ``metrics.jsonl`` too). A missing file is not damage: a run
    writes its files as it goes."""
    folder = Path(folder)
    problems = read_json_files(folder)[1]
    if metrics:
        problems += read_json_lines(folder / "metrics.jsonl").problems
    return problems + damaged_weights(folder)
