"""The Search dock's screenshot: a finished 2-objective search on the regimes data, its Pareto front shown.

    python scripts/search_screenshot.py [WORK_DIR] [--trials N] [--epochs E] [--jobs J]

Writes the MoE template on the regimes data with three search dimensions (the number of experts,
k, the experts' width) and the objectives accuracy and FLOPs into WORK_DIR (a temporary folder by
default), runs ``modstudio search`` on it (a study already there is resumed up to N trials), prints the
study's figures, then opens the editor under Xvfb on that project with the Search dock shown and writes
docs/screenshots/search-dock.png (needs Xvfb and ImageMagick, as scripts/screenshots.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DISPLAY = ":93"
SIZE = (1440, 900)
DIMENSIONS = {  # target -> (kind, low, high, step, log)
    "node:main/moe.num_experts": ("int", 4, 8, None, False),
    "node:main/moe.k": ("int", 2, 3, None, False),  # top-1 is the switch gate's job: the top-k gate refuses it
    "node:Expert/fc1.out_features": ("int", 4, 64, None, True),
}


def write_project(folder: Path) -> Path:
    """The MoE template on the regimes data (gate top-k, so k matters), marked for the search."""
    sys.path.insert(0, str(ROOT))
    from modstudio.blocks import default_catalog
    from modstudio.graph.document import Document
    from modstudio.graph.io import save_project
    from modstudio.graph.model import SearchDimension
    from modstudio.graph.ops import SetParam
    from modstudio.graph.search_ops import SetObjectives, SetSearchDimension
    from modstudio.ui.files import default_project

    catalog = default_catalog()
    doc = Document(default_project(catalog, "moe_2d"), catalog)
    moe = doc.project.main_module.node_named("moe")
    doc.apply(SetParam(doc.project.main, moe.id, "gate", "topk"))
    for target, (kind, low, high, step, log) in DIMENSIONS.items():
        doc.apply(SetSearchDimension(target, SearchDimension(target, kind, low=low, high=high, step=step, log=log)))
    doc.apply(SetObjectives(["accuracy", "-flops"]))
    path = folder / "regimes_moe.msproj"
    save_project(doc.project, path)
    return path


def run_search(path: Path, trials: int, epochs: int, jobs: int) -> None:
    command = [sys.executable, "-m", "modstudio", "search", str(path), "--trials", str(trials)]
    command += ["--epochs", str(epochs), "--jobs", str(jobs), "--seed", "0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    print(f"search: {time.monotonic() - started:.0f} s for {trials} trials of {epochs} epochs, {jobs} at once")


def settle(app, seconds: float = 0.6) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def child(path: Path, out: Path) -> None:
    """On the virtual display: the editor on the searched project, the Search dock in front."""
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import Qt

    from modstudio.blocks import default_catalog
    from modstudio.ui.app import create_app
    from modstudio.ui.main_window import MainWindow

    app = create_app([])
    window = MainWindow(default_catalog())
    window.ask = lambda title, text: True  # type: ignore[method-assign]
    window.open_path(path)
    window.setGeometry(0, 0, *SIZE)
    window.show()
    window.start_counting()
    settle(app, 1.5)
    moe = window.scene.module.node_named("moe")
    window.scene.nodes[moe.id].setSelected(True)
    window.inspector.rebuild()
    dock = window.search
    dock.dock.show()
    window.resizeDocks([dock.dock], [400], Qt.Orientation.Vertical)
    for _ in range(3):
        dock.reader.read()
        dock.reader.wait(60)
        settle(app, 0.3)
    best = max(dock.state.front, key=lambda n: next(r.values[0] for r in dock.state.rows if r.number == n))
    dock.table.choose(best)
    window.canvas.frame_all()
    settle(app, 1.0)
    shoot(out / "search-dock.png")
    window.stack.setClean()
    window.close()


def shoot(path: Path) -> None:
    subprocess.run(["import", "-window", "root", "-depth", "8", str(path)], check=True)
    subprocess.run(["convert", str(path), "+dither", "-colors", "256", "-strip", f"PNG8:{path}"], check=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def figures(path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from modstudio.engine.search.report import best_lines
    from modstudio.engine.search.study import default_storage, default_study_name, read_trials

    rows = read_trials(default_storage(path), default_study_name(path))
    for line in best_lines(rows, ["accuracy", "-flops"])[0]:
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", nargs="?", help="folder for the project and its study (default: a new temporary one)")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    if args.child:
        child(Path(args.child), out)
        return 0
    folder = Path(args.work or tempfile.mkdtemp(prefix="modstudio-search-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "regimes_moe.msproj"
    if not path.exists():
        path = write_project(folder)
    run_search(path, args.trials, args.epochs, args.jobs)
    figures(path)
    for tool in ("Xvfb", "import", "convert"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed (apt-get install xvfb imagemagick)", file=sys.stderr)
            return 1
    out.mkdir(parents=True, exist_ok=True)
    xvfb = subprocess.Popen(["Xvfb", DISPLAY, "-screen", "0", f"{SIZE[0]}x{SIZE[1]}x24", "-nolisten", "tcp"])
    try:
        time.sleep(1.0)
        env = {**os.environ, "DISPLAY": DISPLAY, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(ROOT)}
        command = [sys.executable, __file__, "--child", str(path), "--out", str(out)]
        return subprocess.run(command, env=env, timeout=600).returncode
    finally:
        xvfb.terminate()
        xvfb.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
