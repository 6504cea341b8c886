"""A real drag-and-drop under X11: xdotool drags a block from the palette onto the canvas, then
wires it with the mouse. Runs only where Xvfb, xdotool and the X11 libraries Qt needs are
installed (skipped elsewhere, with the reason)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .x11 import AVAILABLE, NOT_AVAILABLE, prelude, run_driver

DRIVER = (
    prelude("mlp_2d")
    + r"""
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
)


@pytest.mark.skipif(not AVAILABLE, reason=NOT_AVAILABLE)
def test_drag_from_the_palette_and_wire_with_a_real_mouse(tmp_path: Path) -> None:
    result = run_driver(DRIVER, tmp_path, timeout=90)
    assert result.returncode == 0, result.stderr
    assert "dropped dropout" in result.stdout
    assert "wired True" in result.stdout
