"""Reading a run folder's ``.jsonl`` files as they grow: only the new bytes, whole lines only.

A :class:`JsonTail` keeps how far it has read a file; :meth:`JsonTail.read` returns the objects of
the lines completed since, and leaves a half-written last line for the next read (a writer appends
it in pieces). A file that got shorter was replaced (a run started again in the same folder): the
tail says so and starts from its beginning. Torch-free, for the GUI thread; nothing read is run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class JsonTail:
    file: Path
    offset: int = 0  # bytes read: always just after a newline
    skipped: list[str] = field(default_factory=list)  # "metrics.jsonl line 7: not valid JSON", for the log
    _lines: int = 0

    def read(self) -> tuple[list[dict[str, Any]], bool]:
        """(the objects of the lines completed since the last read, whether the file started over)."""
        try:
            with Path(self.file).open("rb") as handle:
                size = handle.seek(0, 2)
                restarted = size < self.offset
                if restarted:
                    self.offset, self._lines = 0, 0
                if size == self.offset:
                    return [], restarted
                handle.seek(self.offset)
                chunk = handle.read(size - self.offset)
        except OSError:  # not there yet, or gone for a moment while replaced
            return [], False
        end = chunk.rfind(b"\n")
        if end < 0:
            return [], restarted  # a line still being written
        self.offset += end + 1
        records: list[dict[str, Any]] = []
        for line in chunk[:end].split(b"\n"):
            self._lines += 1
            if not line.strip():
                continue
            try:
                value = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                self.skipped.append(
                    f"{Path(self.file).name} line {self._lines}: not a JSON line ({type(exc).__name__})"
                )
                continue
            if isinstance(value, dict):
                records.append(value)
            else:
                self.skipped.append(f"{Path(self.file).name} line {self._lines}: not a JSON object")
        return records, restarted
