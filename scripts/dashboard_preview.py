"""Train a template briefly and save screenshots of the Dashboard widget alone, one per tab.

    QT_QPA_PLATFORM=offscreen python scripts/dashboard_preview.py [--template moe_2d] [--epochs 4] [--out DIR]

Training runs in this process (the engine's Trainer), its messages go to the Dashboard as
they would from the worker, and each tab is grabbed to ``DIR/dashboard_<tab>.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="moe_2d")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", default="dashboard_preview")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=760)
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from modstudio.blocks import default_catalog
    from modstudio.engine.protocol import Epoch, Message, Regions
    from modstudio.engine.session import prepare
    from modstudio.engine.settings import TrainSettings
    from modstudio.engine.train import Trainer
    from modstudio.library import load_template
    from modstudio.ui.dashboard import Dashboard
    from modstudio.ui.theme import STYLE_SHEET

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyleSheet(STYLE_SHEET)
    dashboard = Dashboard()
    dashboard.resize(args.width, args.height)
    dashboard.show()
    project = load_template(args.template, default_catalog())
    with tempfile.TemporaryDirectory() as runs:
        session = prepare(project, TrainSettings(epochs=args.epochs, runs_root=runs, routing_period=0.1))

        def emit(message: Message) -> None:
            dashboard.handle(message)
            if isinstance(message, (Epoch, Regions)):
                app.processEvents()

        Trainer(session, emit).run()
    dashboard.refresh()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for index in range(dashboard.tabs.count()):
        dashboard.tabs.setCurrentIndex(index)
        app.processEvents()
        dashboard.refresh()
        app.processEvents()
        name = dashboard.tabs.tabText(index).lower()
        target = out / f"dashboard_{name}.png"
        dashboard.grab().save(str(target))
        print(target)
    app.clipboard().clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())
