"""Starting the editor: QApplication, the qasync event loop, the main window.

torch is not imported before the window is shown: the catalogue, shape inference and the
document are torch-free; the parameter count loads torch in a thread afterwards.
``MODSTUDIO_EXIT_AFTER_SHOW=1`` prints ``shown: SECONDS torch=BOOL`` after the first paint
and quits (what ``bench/startup.py`` measures).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

from . import theme


def create_app(argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    app = existing or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("ModStudio")
    app.setOrganizationName("ModStudio")
    if existing is None or app.styleSheet() != theme.STYLE_SHEET:  # setting them again re-polishes every widget
        app.setStyle("Fusion")
        app.setStyleSheet(theme.STYLE_SHEET)
    return app  # type: ignore[return-value]


def offer_recovery(window) -> None:  # type: ignore[no-untyped-def]
    """After a crash the recovery file is still there: offer to open it."""
    from .files import clear_recovery, recovery_path

    path = recovery_path()
    if not path.exists():
        return
    question = "ModStudio did not close cleanly. Open the work it saved automatically?"
    if window.ask("Recover unsaved work?", question) and window.open_path(path):
        window.session.forget_file()
        return
    clear_recovery()


def _tell_plugin_problems(window: QMainWindow) -> None:
    """Say in the status bar that some plugins did not load (Help > Plugins… says which and why)."""
    from modstudio.blocks.plugins import load_plugins

    count = len(load_plugins().problems)
    if count:
        noun = "plugin" if count == 1 else "plugins"
        window.statusBar().showMessage(f"{count} {noun} could not be loaded: see Help > Plugins…", 30000)


def run(path: str | None = None) -> int:
    """Open the main window (on ``path``, or on the default template) and run until it closes."""
    started = time.perf_counter()
    import qasync

    from modstudio.blocks import default_catalog

    from .files import default_project
    from .main_window import MainWindow

    app = create_app()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    catalog = default_catalog()
    window = MainWindow(catalog)
    if path is None or not window.open_path(Path(path)):
        window.load(default_project(catalog))
    window.show()
    _tell_plugin_problems(window)

    def after_shown() -> None:
        if os.environ.get("MODSTUDIO_EXIT_AFTER_SHOW"):
            shown = time.perf_counter() - started
            print(f"shown: {shown:.3f} torch={'torch' in sys.modules}", flush=True)
            window.stack.setClean()
            app.quit()
            return
        offer_recovery(window)
        window.start_counting()

    QTimer.singleShot(0, after_shown)
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    with loop:
        loop.run_until_complete(closed.wait())
    return 0
