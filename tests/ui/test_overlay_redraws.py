"""The usage bars on the canvas survive every redraw of the scene: drilling into modules and
back, opening another project, a new project, undo. They were kept as Python references to
Qt items that a redraw had deleted ("Internal C++ object (UsageBars) already deleted"), which
broke the breadcrumb and left File > Open half done."""

from __future__ import annotations

from pathlib import Path

from modstudio.blocks import default_catalog
from modstudio.engine.protocol import message_from_dict
from modstudio.graph.io import save_project
from modstudio.graph.ops import SetParam
from modstudio.ui.files import default_project
from modstudio.ui.main_window import MainWindow
from modstudio.ui.usage_overlay import UsageBars, bars_of

REPORT = {
    "type": "routing",
    "kind": "train",
    "step": 10,
    "epoch": 1,
    "probes": {"moe": {"tokens_per_expert": [30, 10, 0, 20]}},
}


def _moe_bars(w: MainWindow) -> UsageBars | None:
    node = w.doc.project.modules[w.doc.project.main].node_named("moe")
    return bars_of(w.scene.nodes[node.id])


def test_bars_survive_drilling_in_and_out_opening_new_and_undo(window: MainWindow, tmp_path: Path) -> None:
    w = window
    w.load(default_project(default_catalog(), "moe_2d"))
    ui = w.training
    ui.on_message(message_from_dict(REPORT))  # what the worker sends while training
    bars = _moe_bars(w)
    assert bars is not None and [round(s, 2) for s in bars.shares] == [0.5, 0.17, 0.0, 0.33]
    assert bars.dead == frozenset({2})
    main = w.doc.project.main
    for module in w.doc.project.modules:  # every module drawn, then main again
        w.open_module(module)
        assert w.scene.module_name == module
        w.open_module(main)
        again = _moe_bars(w)
        assert again is not None and again.shares.size == 4  # drawn anew on the new items
    w.drill_in(next(m for m in w.doc.project.modules if m != main))
    w.go_up()  # the breadcrumb's way back
    assert _moe_bars(w) is not None
    # an edit and its undo redraw the node; the bars follow
    moe = w.doc.project.modules[main].node_named("moe")
    w.canvas.perform(SetParam(main, moe.id, "num_experts", 5))
    ui.on_message(message_from_dict(REPORT))
    w.stack.undo()
    ui.on_message(message_from_dict(REPORT))
    assert _moe_bars(w) is not None
    # File > Open: attach() clears the overlay of a scene already redrawn
    other = tmp_path / "other.msproj"
    mlp = default_project(default_catalog(), "mlp_2d")
    save_project(mlp, other)
    assert w.open_path(other)
    assert w.path == other and w.doc.project.name == mlp.name and other.name in w.windowTitle()
    assert all(bars_of(item) is None for item in w.scene.nodes.values())
    assert not ui.overlay.latest
    # File > New, a report again, and back to an opened file
    w.load(default_project(default_catalog(), "moe_2d"))
    ui.on_message(message_from_dict(REPORT))
    assert _moe_bars(w) is not None
    assert w.open_path(other)
    assert w.reported == []
