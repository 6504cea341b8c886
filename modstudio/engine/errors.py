"""What can go wrong before or during training, in words a person understands."""

from __future__ import annotations


class EngineError(Exception):
    """A problem the user can fix (bad data, options or wiring); ``kind`` says which part.

    ``kind`` is one of ``data``, ``shape``, ``task``, ``settings`` (bad input: the CLI
    exits 2) or ``nan``, ``oom``, ``crash`` (something went wrong while training).
    """

    def __init__(self, message: str, kind: str = "data") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class DataError(EngineError):
    """The dataset or its options cannot be used; the message names the file, line, column or option."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "data")


BAD_INPUT_KINDS = frozenset({"data", "shape", "task", "settings"})
