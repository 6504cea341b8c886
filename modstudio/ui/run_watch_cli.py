"""``modstudio watch RUN_DIR``: the dashboard alone in a window, following a run folder as it is written.

Qt loads only when the command runs (after the folder and the display are checked), so importing
this module from ``modstudio.cli`` keeps headless commands free of Qt.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modstudio.exits import EXIT_BAD_INPUT


def add_watch_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch", help="follow a run folder live in the dashboard (a Tracker's, torchrun's, the engine's)"
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run folder (it may still be empty: the run writes into it)")
    p.set_defaults(run=cmd_watch)


def cmd_watch(args: argparse.Namespace) -> int:
    folder = Path(args.run_dir)
    if not folder.exists():
        print(f"error: {folder} does not exist (give the folder the run writes, e.g. runs/my-run)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not folder.is_dir():
        print(f"error: {folder} is a file, not a run folder", file=sys.stderr)
        return EXIT_BAD_INPUT
    from .preflight import display_problem

    problem = display_problem()
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from .app import create_app
    from .run_watch import WatchWindow

    app = create_app()
    window = WatchWindow(folder)
    window.show()
    return app.exec()
