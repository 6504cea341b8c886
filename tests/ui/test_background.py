"""Background work: results come back on the GUI thread, errors are handed over, and the
worker threads never call into Qt."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QObject

from modstudio.ui.app import create_app
from modstudio.ui.background import Background


@pytest.fixture
def owner(qtbot) -> QObject:  # type: ignore[no-untyped-def]
    create_app()
    return QObject()


def test_the_result_arrives_on_the_gui_thread_in_order(owner, qtbot) -> None:
    background = Background(owner)
    got: list[tuple[str, bool]] = []
    gui = threading.current_thread()

    def slow(text: str, seconds: float):  # type: ignore[no-untyped-def]
        def work() -> str:
            time.sleep(seconds)
            assert threading.current_thread() is not gui
            return text

        return work

    background.run(slow("first", 0.05), lambda text: got.append((text, threading.current_thread() is gui)))
    background.run(slow("second", 0.0), lambda text: got.append((text, threading.current_thread() is gui)))
    assert background.busy() and got == []  # nothing is handed back before the event loop runs
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    assert sorted(got) == [("first", True), ("second", True)]
    assert not background.busy()


def test_an_exception_is_handed_to_the_callback(owner, qtbot) -> None:
    background = Background(owner)
    got: list[object] = []

    def broken() -> None:
        raise ValueError("the file is empty")

    background.run(broken, got.append)
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert isinstance(got[0], ValueError) and str(got[0]) == "the file is empty"


def test_wait_blocks_until_handed_back_and_times_out(owner) -> None:
    background = Background(owner)
    got: list[int] = []
    release = threading.Event()
    background.run(lambda: release.wait(10) and 7, got.append)
    assert background.wait(timeout=0.1) is False and got == []
    release.set()
    assert background.wait(timeout=5) is True and got == [7]


def test_a_result_after_the_owner_is_gone_is_dropped(qtbot) -> None:
    create_app()
    owner = QObject()
    background = Background(owner)
    got: list[int] = []
    release = threading.Event()
    background.run(lambda: release.wait(10) and 1, got.append)
    owner.deleteLater()
    qtbot.wait(50)
    release.set()
    qtbot.wait(100)
    assert got == []
