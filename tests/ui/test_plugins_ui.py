"""Plugins in the editor: their blocks in the palette, inspector and canvas; the Plugins dialog
lists plugins and problems; a project using a plugin that is not installed opens, marked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication, QComboBox, QSpinBox

from modstudio.graph.io import project_to_dict
from modstudio.ui.plugins_dialog import PluginsDialog

from ..blocks.test_plugins import plugin_project
from ..blocks.test_plugins_support import Places, plugin_places


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Places]:
    yield from plugin_places(tmp_path, monkeypatch)


def test_plugin_blocks_are_in_the_palette_inspector_and_canvas(window, qtbot) -> None:
    for block in ("maxout", "gated_linear", "gated_feed_forward"):
        assert block in window.palette.visible_blocks()
    window.palette.search.setText("piecewise")
    assert window.palette.visible_blocks() == ["maxout"]
    window.canvas.add_block("maxout", QPointF(0, 400))
    node = window.scene.module.nodes[-1]
    assert node.block == "maxout"
    window.scene.clearSelection()
    window.scene.nodes[node.id].setSelected(True)
    window.inspector.rebuild()
    pieces = window.inspector.editors["pieces"]
    assert isinstance(pieces, QSpinBox) and (pieces.minimum(), pieces.maximum()) == (2, 32)
    window.canvas.add_block("gated_linear", QPointF(0, 600))
    glu = window.scene.module.nodes[-1]
    window.scene.clearSelection()
    window.scene.nodes[glu.id].setSelected(True)
    window.inspector.rebuild()
    gate = window.inspector.editors["gate"]
    assert isinstance(gate, QComboBox) and gate.count() == 5
    result = window.scene.check_now()
    assert "nothing connected to its input 'in'" in result.node_errors[node.id]  # shape inference runs on it


def test_a_project_with_a_block_from_a_missing_plugin_opens_with_the_node_marked(window, tmp_path) -> None:
    data = project_to_dict(plugin_project())
    for node in data["modules"]["main"]["nodes"]:
        if node["block"] == "gated_linear":
            node["block"] = "kan_spline"
    file = tmp_path / "elsewhere.msproj"
    file.write_text(json.dumps(data), encoding="utf-8")
    assert window.open_path(file)
    assert window.reported == []
    module = window.scene.module
    node = module.node_named("gate")
    item = window.scene.nodes[node.id]
    assert item.missing and not window.scene.nodes[module.node_named("units").id].missing
    assert list(item.inputs) == ["in"] and list(item.outputs) == ["out"]  # its stored edges' ports
    assert sum(len(items) for items in window.scene.edges.values()) == len(module.edges)  # every wire drawn
    assert "not installed: 'kan_spline'" in item.subtitle
    result = window.scene.check_now()
    assert result.node_errors[node.id].startswith("node 'gate' has unknown block type 'kan_spline'")
    assert item.error == result.node_errors[node.id]
    window.scene.clearSelection()
    item.setSelected(True)
    window.inspector.rebuild()  # the inspector shows the node without a spec
    assert window.inspector.editors == {}
    assert not window.canvas.grab().isNull()  # drawn, dashed, without a crash
    window.canvas.delete_selection()
    assert module.find(node.id) is None and node.id not in window.scene.nodes
    window.stack.undo()  # node and edges come back together: the placeholder has its ports again
    item = window.scene.nodes[node.id]
    assert item.missing and list(item.inputs) == ["in"] and list(item.outputs) == ["out"]
    assert sum(len(items) for items in window.scene.edges.values()) == len(module.edges)


def test_help_plugins_lists_the_plugins_their_blocks_and_the_problems(window, places: Places) -> None:
    bad = places.write("needs_scipy.py", "import scipy_not_here\n")
    places.load()
    window.actions_by_name["plugins"].trigger()
    dialog = window.findChild(PluginsDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.problem_lines() == [
        f"{bad}: import failed: ModuleNotFoundError: No module named 'scipy_not_here' (needs_scipy.py, line 1)"
    ]
    assert {"maxout", "glu_block"} <= set(dialog.plugin_names())
    maxout = next(
        dialog.loaded_group.child(i)
        for i in range(dialog.loaded_group.childCount())
        if dialog.loaded_group.child(i).text(0) == "maxout"
    )
    assert maxout.child(0).text(0) == "Maxout (maxout)"
    assert dialog.summary.text().endswith(" blocks. 1 plugin could not be loaded (below, in red).")
    assert str(places.folder) in dialog.places.text() and str(places.user) in dialog.places.text()
    dialog.close()
    QApplication.processEvents()


def test_the_status_bar_says_when_plugins_did_not_load(window, places: Places) -> None:
    from modstudio.ui.app import _tell_plugin_problems

    places.write("broken.py", "def (\n")
    places.load()
    _tell_plugin_problems(window)
    assert window.statusBar().currentMessage() == "1 plugin could not be loaded: see Help > Plugins…"


def test_a_plugin_template_opens_from_the_plugins_dialog(window) -> None:
    window.actions_by_name["plugins"].trigger()
    dialog = window.findChild(PluginsDialog)
    items = [dialog.tree.topLevelItem(0).child(i) for i in range(dialog.tree.topLevelItem(0).childCount())]
    maxout = next(item for item in items if item.text(0) == "maxout")
    template = next(
        maxout.child(i) for i in range(maxout.childCount()) if maxout.child(i).text(0).startswith("template")
    )
    assert template.text(0) == "template maxout_moons"
    dialog.tree.itemDoubleClicked.emit(template, 0)
    assert window.doc.project.name == "Maxout network on two moons"
    assert window.path is None  # a new project: saving it asks where, never over the plugin's file
    assert [n.block for n in window.scene.module.nodes].count("maxout") == 2
    assert not dialog.isVisible()
