"""Launch the real editor under Xvfb and write the README's screenshots.

    python scripts/screenshots.py [OUT_DIR] [--only-import]     (needs Xvfb and ImageMagick's `import`)

Starts a virtual X display, opens the main window in four states (the default project,
a 2-D mixture of experts, with its MoE node selected; a Switch transformer layer drilled into; the ResNet-18 template framed whole, i.e. zoomed out; a module of
it drilled into; a ResNet-50 brought in through File > Import PyTorch Model…) and captures the whole screen
with `import -window root` each time. ``--only-import`` takes only the last one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DISPLAY = ":97"
SIZE = (1440, 860)


def settle(app, seconds: float = 0.6) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def wait_for_count(app, window, limit: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """The parameter count arrives from its thread (torch loads there)."""
    end = time.monotonic() + limit
    while time.monotonic() < end and not any(ch.isdigit() for ch in window.count_label.text()):
        settle(app, 0.1)
    settle(app, 0.3)


def shoot(path: Path) -> None:
    subprocess.run(["import", "-window", "root", "-depth", "8", str(path)], check=True)
    subprocess.run(["convert", str(path), "+dither", "-colors", "256", "-strip", f"PNG8:{path}"], check=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def train_and_shoot(app, window, out: Path) -> None:  # type: ignore[no-untyped-def]
    """Train the default project from the Train action; shoot the dashboard mid-training."""
    import asyncio
    import tempfile

    import qasync

    from modstudio.engine.protocol import Epoch

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    ui = window.training
    ui.settings.runs_root = tempfile.mkdtemp(prefix="modstudio-shots-")
    epochs: list[int] = []
    ui.controller.message.connect(lambda m: isinstance(m, Epoch) and epochs.append(m.epoch))
    ui.train()

    async def until(condition) -> None:  # type: ignore[no-untyped-def]
        end = time.monotonic() + 120
        while not condition() and time.monotonic() < end:
            await asyncio.sleep(0.05)

    for tab, name, after in (
        (1, "training-routing.png", 12),
        (2, "training-regions.png", 18),
        (0, "training-curves.png", 24),
    ):
        ui.dashboard.tabs.setCurrentIndex(tab)
        loop.run_until_complete(until(lambda a=after: len(epochs) >= a))
        loop.run_until_complete(asyncio.sleep(0.4))
        shoot(out / name)
    ui.controller.stop()
    loop.run_until_complete(ui.controller.wait())
    ui.dashboard_dock.hide()
    asyncio.set_event_loop(None)
    loop.close()  # while Qt is alive: closing it at garbage collection, after Qt, raises


def child(out: Path) -> None:
    """Runs on the virtual display: the real MainWindow, driven to each state."""
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import Qt

    from modstudio.blocks import default_catalog
    from modstudio.ui.app import create_app
    from modstudio.ui.files import default_project
    from modstudio.ui.main_window import MainWindow

    app = create_app([])
    catalog = default_catalog()
    window = MainWindow(catalog)
    window.ask = lambda title, text: True  # type: ignore[method-assign]
    window.load(default_project(catalog))
    window.setGeometry(0, 0, *SIZE)
    window.show()
    window.start_counting()
    settle(app, 1.5)
    if "--only-import" in sys.argv:
        imported_shot(app, window, out)
        window.stack.setClean()
        window.close()
        return
    moe = window.scene.module.node_named("moe")
    window.scene.nodes[moe.id].setSelected(True)
    window.inspector.rebuild()
    wait_for_count(app, window)
    shoot(out / "default-project.png")
    train_and_shoot(app, window, out)

    window.open_path(ROOT / "resources" / "templates" / "switch_transformer.msproj")
    window.inspector_dock.raise_()  # the dashboard was in front while training
    window.start_counting()
    window.drill_in("SwitchEncoder")
    settle(app, 0.5)
    window.canvas.frame_all()
    moe = window.scene.module.node_named("moe")
    if moe is not None:
        window.scene.nodes[moe.id].setSelected(True)
        window.inspector.rebuild()
        window.canvas.centerOn(window.scene.nodes[moe.id])  # attention on the left, the MoE in the middle
    wait_for_count(app, window)
    shoot(out / "mixture-of-experts.png")

    window.open_path(ROOT / "resources" / "templates" / "resnet18.msproj")
    window.start_counting()
    settle(app, 0.5)
    # zoomed out past the readable zoom that Frame All stops at: the whole network, ports hidden
    window.canvas.fitInView(window.scene.itemsBoundingRect(), Qt.AspectRatioMode.KeepAspectRatio)
    window.canvas.update_detail()
    wait_for_count(app, window)
    shoot(out / "resnet18-zoomed-out.png")

    window.drill_in("BasicBlockDown")
    settle(app, 0.5)
    node = window.scene.module.node_named("conv1")
    if node is not None:
        window.scene.nodes[node.id].setSelected(True)
    window.inspector.rebuild()
    window.inspector_dock.raise_()
    settle(app, 0.8)
    shoot(out / "drilled-in-module.png")
    broken_file_shot(app, window, out)
    imported_shot(app, window, out)
    window.stack.setClean()
    window.close()


def imported_shot(app, window, out: Path) -> None:  # type: ignore[no-untyped-def]
    """A ResNet-50 written in plain PyTorch (the import tests' torchvision-style one), brought in through
    File > Import PyTorch Model… (the import runs in its own process) and shown as it opens."""
    import tempfile

    from PySide6.QtCore import Qt

    from modstudio.ui.import_dialog import show_import_dialog

    window.stack.setClean()  # nothing to ask before the imported project replaces this one
    folder = Path(tempfile.mkdtemp(prefix="modstudio-shots-"))
    dialog = show_import_dialog(window)
    dialog.model.setText(str(ROOT / "tests" / "importer" / "resnet.py"))
    dialog.name.setEditText("resnet50")
    dialog.shape.setText("1,3,224,224")
    dialog.output.setText(str(folder / "resnet50.msproj"))
    dialog.import_button.click()
    end = time.monotonic() + 300
    while window.path != folder / "resnet50.msproj" and time.monotonic() < end:
        settle(app, 0.2)
    if window.path != folder / "resnet50.msproj":
        raise RuntimeError(f"the import did not finish: {dialog.note.text()} {dialog.details.toPlainText()}")
    window.start_counting()
    window.library_dock.raise_()
    window.resizeDocks([window.palette_dock, window.library_dock], [260, 520], Qt.Orientation.Vertical)
    settle(app, 0.8)
    window.canvas.frame_all()
    wait_for_count(app, window)
    shoot(out / "imported-resnet50.png")


def broken_file_shot(app, window, out: Path) -> None:  # type: ignore[no-untyped-def]
    """The default project with two mistakes typed into its file, opened in the editor to be repaired."""
    import json
    import tempfile

    from modstudio.blocks import default_catalog
    from modstudio.graph.io import project_to_dict
    from modstudio.ui.files import default_project

    data = project_to_dict(default_project(default_catalog()))
    nodes = data["modules"][data["main"]]["nodes"]
    moe = next(n for n in nodes if n["name"] == "moe")
    moe["params"]["num_experts"] = "four"
    data["modules"][data["main"]]["edges"].append(
        {"src": "gone", "src_port": "out", "dst": moe["id"], "dst_port": "in"}
    )
    path = Path(tempfile.mkdtemp(prefix="modstudio-shots-")) / "broken.msproj"
    path.write_text(json.dumps(data, indent=2))
    # the report dialog is modal: print it; the canvas and the inspector say it too
    window.report = lambda title, text: print(title, text)
    window.open_path(path)
    window.start_counting()
    settle(app, 0.8)
    window.scene.nodes[moe["id"]].setSelected(True)
    window.inspector.rebuild()
    window.inspector_dock.raise_()
    settle(app, 0.8)
    shoot(out / "opened-with-problems.png")


def main() -> int:
    folders = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    flags = [arg for arg in sys.argv[1:] if arg.startswith("--")]
    out = Path(folders[0] if folders else ROOT / "docs" / "screenshots").resolve()
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
        return subprocess.run([sys.executable, __file__, str(out), *flags], env=env, timeout=600).returncode
    finally:
        xvfb.terminate()
        xvfb.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
