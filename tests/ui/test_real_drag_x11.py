"""A real drag-and-drop under X11: xdotool drags a block from the palette onto the canvas, then
wires it with the mouse. Runs only where Xvfb, xdotool and the X11 libraries Qt needs are
installed (skipped elsewhere, with the reason)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modstudio.ui.preflight import display_problem, reachable

ROOT = Path(__file__).resolve().parents[2]

DRIVER = r"""
import subprocess, time
from modstudio.blocks import default_catalog
from modstudio.ui.app import create_app
from modstudio.ui.files import default_project
from modstudio.ui.main_window import MainWindow

app = create_app([])
catalog = default_catalog()
w = MainWindow(catalog)
w.ask = lambda *args: True
w.load(default_project(catalog, "mlp_2d"))
w.setGeometry(0, 0, 1440, 860)
w.show()

def settle(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)

def xdotool(script):
    proc = subprocess.Popen("xdotool " + script, shell=True)
    end = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
    settle(0.4)

settle(1.0)
item = w.palette.items["dropout"]
w.palette.tree.scrollToItem(item)
settle(0.3)
src = w.palette.tree.viewport().mapToGlobal(w.palette.tree.visualItemRect(item).center())
dst = w.canvas.viewport().mapToGlobal(w.canvas.viewport().rect().center())
xdotool(f"mousemove {src.x()} {src.y()} mousedown 1 sleep 0.3 mousemove {src.x() + 20} {src.y() + 5} sleep 0.2 "
        f"mousemove {dst.x() - 50} {dst.y() + 100} sleep 0.2 mousemove {dst.x()} {dst.y() + 150} sleep 0.3 mouseup 1")
node = w.doc.project.main_module.nodes[-1]
print("dropped", node.block)
new = w.scene.nodes[node.id]
relu2 = next(i for i in w.scene.nodes.values() if i.title == "relu2")
a = w.canvas.viewport().mapToGlobal(w.canvas.mapFromScene(relu2.outputs["out"].scenePos()))
b = w.canvas.viewport().mapToGlobal(w.canvas.mapFromScene(new.inputs["in"].scenePos()))
xdotool(f"mousemove {a.x()} {a.y()} mousedown 1 sleep 0.2 mousemove {(a.x() + b.x()) // 2} {(a.y() + b.y()) // 2} "
        f"sleep 0.2 mousemove {b.x()} {b.y()} sleep 0.3 mouseup 1")
print("wired", any(e.src == relu2.node_id and e.dst == node.id for e in w.doc.project.main_module.edges))
w.stack.setClean()
w.close()
"""


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")), reason="needs Xvfb and xdotool")
def test_drag_from_the_palette_and_wire_with_a_real_mouse(tmp_path: Path) -> None:
    display = f":{90 + os.getpid() % 9}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1440x860x24", "-nolisten", "tcp"])
    try:
        deadline = time.monotonic() + 15
        while not reachable(display) and time.monotonic() < deadline:
            time.sleep(0.1)
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "XDG_CONFIG_HOME": str(tmp_path)}
        problem = display_problem(env)
        if problem is not None:  # the machine, not ModStudio: Qt's X11 libraries or the X server
            pytest.skip(f"Qt cannot use X11 here: {problem}")
        result = subprocess.run(
            [sys.executable, "-c", DRIVER], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
        )
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    assert result.returncode == 0, result.stderr
    assert "dropped dropout" in result.stdout
    assert "wired True" in result.stdout
