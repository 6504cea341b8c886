"""What can stop an import, in sentences (never a traceback)."""

from __future__ import annotations

from dataclasses import dataclass


class ImportProblem(ValueError):
    """A bad input (a missing file, no such name, bad JSON, a shape that does not fit) or an import
    that cannot finish; the message says which and why."""


@dataclass(frozen=True)
class Unmapped:
    """An op or layer of the model that no block stands for: what it is, where, and why."""

    what: str
    where: str  # "model.py:88", or "" when torch recorded no source line
    reason: str = "has no block"

    def __str__(self) -> str:
        at = f" at {self.where}" if self.where else ""
        return f"{self.what}{at} {self.reason}"


class NotMappable(ImportProblem):
    """Some ops or layers have no block: the import writes nothing and lists each one."""

    def __init__(self, unmapped: list[Unmapped]) -> None:
        self.unmapped = unmapped
        count = len(unmapped)
        lines = "".join(f"\n  {u}" for u in unmapped)
        super().__init__(
            f"{count} op{'s' if count != 1 else ''} or layer{'s' if count != 1 else ''} cannot be imported:{lines}"
        )
