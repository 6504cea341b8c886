"""The default project (moe_2d) in the editor: its Expert module shows the shapes of its use by the
moe, not a false error; the moe's inspector shows only the params its gate uses."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QLabel

from modstudio.blocks import default_catalog
from modstudio.ui.files import default_project

from .test_inspector_modules import select_only


def _open_default(window) -> None:
    window.load(default_project(default_catalog(), "moe_2d"))
    window.scene.check_now()


def test_the_expert_module_shows_its_shapes_as_used_by_the_moe_and_its_own_count(window, qtbot) -> None:
    _open_default(window)
    window.start_counting()
    window.open_module("Expert")
    result = window.scene.check_now()
    assert window.problem_label.text() == "" and result.node_errors == {}
    expert = window.doc.project.modules["Expert"]
    assert result.edge_labels[(expert.node_named("fc1").id, "out")] == "[N, 16]"
    # one expert: Linear 2 -> 16 (48 weights and biases) and Linear 16 -> 2 (34), not the whole network
    qtbot.waitUntil(
        lambda: window.count_label.text() == "parameters: 82 · shapes as used by 'moe' in main", timeout=20000
    )
    window.inspector.node_id = None
    window.inspector.rebuild()
    notes = [label.text() for label in window.inspector.widget().findChildren(QLabel, "shapes_note")]
    assert notes == ["Shapes as used by 'moe' in main."]


def test_a_module_used_nowhere_shows_no_error_and_says_why_it_has_no_shapes(window, qtbot) -> None:
    from modstudio.graph.ops import RemoveNode

    _open_default(window)
    window.start_counting()
    moe = window.doc.project.main_module.node_named("moe")
    assert window.canvas.perform(RemoveNode("main", moe.id))  # Expert is now used nowhere
    window.open_module("Expert")
    result = window.scene.check_now()
    assert result.node_errors == {} and result.edge_labels == {}
    assert "has no shape" not in window.problem_label.text()
    qtbot.waitUntil(
        lambda: window.count_label.text() == "parameters: — · not used yet: shapes appear once it is used",
        timeout=20000,
    )


def test_the_moe_inspector_hides_k_for_the_switch_gate_and_shows_it_for_top_k(window, qtbot) -> None:
    _open_default(window)
    moe = window.doc.project.main_module.node_named("moe")
    select_only(window, "moe")
    editors = window.inspector.editors
    assert moe.params["gate"] == "switch"
    assert "k" not in editors and "capacity_factor" in editors and "importance_weight" not in editors
    gate = editors["gate"]
    assert isinstance(gate, QComboBox)
    gate.activated.emit(gate.findText("topk"))  # what choosing an entry does
    assert window.doc.project.main_module.node_named("moe").params["gate"] == "topk"
    qtbot.waitUntil(lambda: "k" in window.inspector.editors)
    editors = window.inspector.editors
    assert "capacity_factor" not in editors and "importance_weight" not in editors
    assert window.doc.project.main_module.node_named("moe").params["capacity_factor"] == 2.0  # hidden, kept
    gate = editors["gate"]
    gate.activated.emit(gate.findText("noisy_topk"))
    qtbot.waitUntil(lambda: "importance_weight" in window.inspector.editors)
    window.stack.undo()
    window.stack.undo()
    qtbot.waitUntil(lambda: "k" not in window.inspector.editors and "capacity_factor" in window.inspector.editors)
