"""The README's evaluation screenshots: the Evaluation dock and the HTML report.

    python scripts/evaluation_screenshots.py [OUT_DIR]      (needs Xvfb and ImageMagick's `import`)

Trains the digits CNN (cnn_digits) and the class tree (class_tree) for a few epochs into a
temporary folder, writes the HTML report of each (``modstudio evaluate --report``), then on a
virtual X display opens the class tree in the real main window, opens its run from the Runs
dock, shows the Evaluation dock and captures the screen (the Mistakes tab and the Experts tab).
The HTML report is rendered by Qt's QTextBrowser (QtWebEngine is not part of PySide6-Essentials)
into a PNG of its top part: the summary, the confusion matrix and the per-class table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DISPLAY = ":96"
SIZE = (1440, 900)


def settle(app, seconds: float = 0.6) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def shoot(path: Path) -> None:
    subprocess.run(["import", "-window", "root", "-depth", "8", str(path)], check=True)
    subprocess.run(["convert", str(path), "+dither", "-colors", "256", "-strip", f"PNG8:{path}"], check=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def train(folder: Path, template: str, epochs: int) -> tuple[Path, Path]:
    from modstudio.blocks import default_catalog
    from modstudio.engine.session import prepare
    from modstudio.engine.settings import TrainSettings
    from modstudio.engine.train import Trainer
    from modstudio.graph.io import save_project
    from modstudio.library import load_template

    project = load_template(template, default_catalog())
    project.training.epochs = epochs
    path = folder / f"{template}.msproj"
    save_project(project, path)
    session = prepare(project, TrainSettings(device="cpu"), path)
    Trainer(session, lambda message: None).run()
    return path, session.folder.path


def render_report(page: Path, out: Path, width: int = 1100) -> None:
    """The report as Qt's rich-text engine lays it out: its top (summary, confusion matrix, per-class
    table) and the part from the misclassified samples on (gallery, attributions, Grad-CAM)."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QTextBrowser

    browser = QTextBrowser()
    browser.setSource(QUrl.fromLocalFile(str(page)))
    document = browser.document()
    document.setTextWidth(width)
    image = QImage(width, int(document.size().height()), QImage.Format.Format_RGB32)
    image.fill(0xFFFFFF)
    painter = QPainter(image)
    document.drawContents(painter)
    painter.end()
    found = document.find("Misclassified samples")
    top = int(document.documentLayout().blockBoundingRect(found.block()).top()) if not found.isNull() else 0
    for name, y, height in (("evaluation-report.png", 0, 1250), ("evaluation-report-mistakes.png", top, 1100)):
        image.copy(0, y, width, min(height, image.height() - y)).save(str(out / name))
        print(f"wrote {out / name}")


def child(out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import Qt

    from modstudio.blocks import default_catalog
    from modstudio.cli import main as cli
    from modstudio.ui.app import create_app
    from modstudio.ui.main_window import MainWindow

    app = create_app([])
    work = Path(tempfile.mkdtemp(prefix="modstudio-evaluation-"))
    runs = {name: train(work, name, epochs) for name, epochs in (("cnn_digits", 4), ("class_tree", 6))}
    for name, (project, run) in runs.items():
        cli(["evaluate", str(project), "--run", str(run), "--report", str(work / f"{name}-report")])
    render_report(work / "cnn_digits-report" / "index.html", out)
    window = MainWindow(default_catalog())
    window.ask = lambda title, text: True  # type: ignore[method-assign]
    window.setGeometry(0, 0, *SIZE)
    window.show()
    window.open_path(runs["class_tree"][0])
    settle(app, 1.0)
    panel = window.evaluation_dock.widget()
    done: list[bool] = []
    panel.shown.connect(lambda: done.append(True))
    window.evaluation_dock.show()
    window.training.runs.open_run.emit(runs["class_tree"][1])  # as a double click in the Runs dock
    window.evaluation_dock.raise_()
    window.resizeDocks([window.evaluation_dock], [470], Qt.Orientation.Vertical)
    end = time.monotonic() + 240
    while not done and time.monotonic() < end:
        settle(app, 0.2)
    panel.tabs.setCurrentIndex(1)
    panel.mistakes.gallery.setCurrentRow(0)
    settle(app, 1.0)
    shoot(out / "evaluation-dock.png")
    panel.tabs.setCurrentIndex(2)
    settle(app, 0.6)
    shoot(out / "evaluation-experts.png")
    window.close()
    shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    if os.environ.get("MODSTUDIO_SCREENSHOT_CHILD"):
        child(out)
        return 0
    for tool in ("Xvfb", "import", "convert"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed (apt-get install xvfb imagemagick)", file=sys.stderr)
            return 1
    xvfb = subprocess.Popen(["Xvfb", DISPLAY, "-screen", "0", f"{SIZE[0]}x{SIZE[1]}x24", "-nolisten", "tcp"])
    try:
        time.sleep(1.0)
        env = {**os.environ, "DISPLAY": DISPLAY, "QT_QPA_PLATFORM": "xcb", "MODSTUDIO_SCREENSHOT_CHILD": "1"}
        return subprocess.run([sys.executable, __file__, str(out)], env=env, timeout=900).returncode
    finally:
        xvfb.terminate()
        xvfb.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
