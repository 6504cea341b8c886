"""Python's cycle collector runs in the GUI thread only, while a window is open.

A collection runs in whichever thread happens to allocate when a threshold is passed: a background
worker (the analysis, the evaluation) could then free Qt objects that had become cyclic garbage,
destroying them outside the GUI thread while the GUI thread destroyed others. That deadlocked (seen:
the worker held Qt's object mutex and waited for the GIL, the GUI thread held the GIL and waited for
the mutex). While a window is open, automatic collection is off and pyqtgraph's ``GarbageCollector``
collects on a timer in the GUI thread, by the same thresholds; the last window to close turns
automatic collection back on.
"""

from __future__ import annotations

import gc

from pyqtgraph.util.garbage_collector import GarbageCollector
from PySide6.QtCore import QObject

INTERVAL = 0.5  # seconds between the GUI thread's checks of the thresholds

_collector: GarbageCollector | None = None
_windows: set[int] = set()


def collect_in_gui_thread(window: QObject) -> None:
    """From now until ``window`` is released (:func:`release`) or destroyed, collect only in the GUI thread."""
    global _collector
    if id(window) in _windows:
        return
    if not _windows:
        _collector = GarbageCollector(interval=INTERVAL)
    _windows.add(id(window))
    key = id(window)
    window.destroyed.connect(lambda *_: _release(key))


def release(window: QObject) -> None:
    """``window`` no longer needs it (closed); automatic collection is back once no window does."""
    _release(id(window))


def _release(key: int) -> None:
    global _collector
    if key not in _windows:
        return
    _windows.discard(key)
    if not _windows and _collector is not None:
        _collector.timer.stop()
        _collector = None
        gc.enable()
        gc.collect()
