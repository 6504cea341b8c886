"""While a window is open, Python's cycle collector runs in the GUI thread only: a worker thread that
allocates cyclic garbage never collects (a collection there could destroy Qt objects outside the GUI
thread, which deadlocked the evaluation and analysis workers); closing the window turns it back on."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QSettings

from modstudio.blocks import default_catalog
from modstudio.ui.main_window import MainWindow


def _cycles(count: int) -> None:
    for _ in range(count):
        a: list = []
        a.append(a)  # garbage only the cycle collector frees


def test_a_worker_never_collects_while_a_window_is_open_and_the_gui_thread_does(qtbot, tmp_path) -> None:
    collected_in: list[int] = []

    def note(phase: str, info: dict) -> None:
        if phase == "start":
            collected_in.append(threading.get_ident())

    window = MainWindow(default_catalog(), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert not gc.isenabled()
    gc.callbacks.append(note)
    try:
        worker = threading.Thread(target=_cycles, args=(20_000,))  # far past the first threshold (700)
        worker.start()
        worker.join()
        assert collected_in == []  # the worker allocated, and never collected
        qtbot.waitUntil(lambda: bool(collected_in), timeout=5000)  # the GUI thread's timer did
        assert set(collected_in) == {threading.main_thread().ident}
    finally:
        gc.callbacks.remove(note)
    window.close()
    assert gc.isenabled()
