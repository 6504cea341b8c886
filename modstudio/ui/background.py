"""Work off the GUI thread whose worker threads never touch Qt.

A worker thread that emits a Qt signal holds the GIL while it takes Qt's signal-slot lock;
a GUI thread that holds that lock (connecting, deleting an object) and then needs the GIL
waits for it: the two wait for each other and the app freezes (seen as a hang in the test
suite, once in several runs). So work here runs in a plain daemon thread that only fills a
``concurrent.futures.Future``, and a QTimer in the GUI thread collects finished futures and
calls their ``done`` callback there. The timer runs only while something is pending.

When the owner is deleted its timer goes with it, so a late result is simply dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from PySide6.QtCore import QObject, QTimer

POLL_MS = 15


class Background(QObject):
    """``run(work, done)``: ``work()`` in a thread, then ``done(result)`` in the GUI thread.

    ``done`` receives the value ``work`` returned, or the exception it raised (an instance of
    ``Exception``), so a failing worker always reports and never dies silently.
    """

    def __init__(self, parent: QObject | None = None, name: str = "background") -> None:
        super().__init__(parent)
        self.name = name
        self._pending: list[tuple[Future[Any], Callable[[Any], None]]] = []
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.collect)

    def run(self, work: Callable[[], Any], done: Callable[[Any], None]) -> Future[Any]:
        future: Future[Any] = Future()

        def target() -> None:
            try:
                future.set_result(work())
            except Exception as exc:  # handed to ``done``: the GUI thread says what went wrong
                future.set_exception(exc)

        self._pending.append((future, done))
        threading.Thread(target=target, name=f"{self.name}-worker", daemon=True).start()
        if not self._timer.isActive():
            self._timer.start()
        return future

    def busy(self) -> bool:
        """Whether some work has not been handed back yet."""
        return bool(self._pending)

    def collect(self) -> None:
        """Hand every finished result to its callback (in the order the work was started)."""
        finished = [(f, done) for f, done in self._pending if f.done()]
        if finished:
            self._pending = [(f, done) for f, done in self._pending if not f.done()]
        if not self._pending:
            self._timer.stop()
        for future, done in finished:
            error = future.exception()
            done(error if error is not None else future.result())

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until all pending work is done and handed back (tests, closing); False on timeout."""
        end = time.monotonic() + timeout
        while self._pending:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return False
            try:
                self._pending[0][0].exception(timeout=remaining)  # waits without raising the work's error
            except TimeoutError:
                return False
            self.collect()
        return True
