"""What every worker message shares (torch-free and Qt-free): its JSON form and its one line of text.

:mod:`modstudio.engine.protocol` builds the messages on it; a message that lives in a module of its
own (:mod:`modstudio.engine.statistics_message`) does too, and ``protocol`` imports it from there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


class ProtocolError(ValueError):
    """A dict that is not a message: unknown type, missing key or a value of the wrong kind."""


@dataclass(frozen=True)
class MessageBase:
    type: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``type`` first, then every field (tuples as lists; arrays are left as they are)."""
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def describe(self) -> str:
        return self.type
