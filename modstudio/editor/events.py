"""Plain callbacks for the session's events (no Qt): ``connect`` returns a function that disconnects."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Event:
    """A list of callbacks called in order with the event's arguments.

    A failing callback is logged and the others still run: a broken view must not stop the session."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[[], None]:
        self._callbacks.append(callback)

        def disconnect() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return disconnect

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            try:
                callback(*args)
            except Exception:
                log.exception("a callback of the session event %r failed", self.name)

    def clear(self) -> None:
        self._callbacks.clear()
