"""Inspector edits and modules: set a parameter and see the shape change; group and drill in."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from .conftest import send_mouse
from .test_canvas import edge_into, node_named


def select_only(window, name: str):
    window.scene.clearSelection()
    item = node_named(window, name)
    item.setSelected(True)
    window.inspector.rebuild()
    return item


def test_set_a_param_in_the_inspector_and_see_the_shape_label_change(window, qtbot) -> None:
    select_only(window, "fc1")
    spin = window.inspector.editors["out_features"]
    assert isinstance(spin, QSpinBox) and spin.minimum() == 1
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin, "32")
    QTest.keyClick(spin, Qt.Key.Key_Return)
    fc1 = window.scene.module.node_named("fc1")
    assert fc1.params["out_features"] == 32
    qtbot.waitUntil(lambda: edge_into(window, "relu1").label == "[N, 32]")
    window.stack.undo()
    qtbot.waitUntil(lambda: edge_into(window, "relu1").label == "[N, 64]")


def test_editors_follow_the_param_kinds(window) -> None:
    window.canvas.add_block("conv2d", QPointF(0, 400))
    node = window.scene.module.nodes[-1]
    select_only(window, node.name)
    editors = window.inspector.editors
    assert isinstance(editors["bias"], QCheckBox) and editors["bias"].isChecked()
    padding = editors["padding"]
    assert isinstance(padding, QSpinBox) and padding.specialValueText() == "same"
    assert padding.value() == padding.minimum()
    editors["bias"].setChecked(False)
    assert window.scene.module.nodes[-1].params["bias"] is False


def test_numbers_in_a_module_with_parameters_take_expressions(window) -> None:
    from modstudio.graph.ops import SetModuleParam

    window.canvas.perform(SetModuleParam("main", "hidden", 16))
    select_only(window, "fc1")
    edit = window.inspector.editors["out_features"]
    assert isinstance(edit, QLineEdit)
    edit.setText("=hidden * 2")
    edit.editingFinished.emit()
    assert window.scene.module.node_named("fc1").params["out_features"] == "=hidden * 2"
    window.scene.check_now()
    assert edge_into(window, "relu1").label == "[N, 32]"


def test_rename_in_the_inspector(window) -> None:
    select_only(window, "head")
    edit = window.inspector.name_edit
    edit.setText("classifier")
    edit.editingFinished.emit()
    assert window.scene.module.node_named("classifier") is not None
    assert node_named(window, "classifier").title == "classifier"


def test_group_into_a_module_then_drill_in_by_double_click(window, qtbot) -> None:
    for name in ("fc2", "relu2"):
        node_named(window, name).setSelected(True)
    window.canvas.setFocus()
    window.actions_by_name["group"].trigger()
    project = window.doc.project
    assert "Group" in project.modules
    group_node = next(n for n in window.scene.module.nodes if n.module == "Group")
    item = window.scene.nodes[group_node.id]
    assert item.is_module
    window.scene.check_now()
    assert edge_into(window, "head").label == "[N, 64]"
    point = window.canvas.mapFromScene(item.sceneBoundingRect().center())
    viewport = window.canvas.viewport()
    left = Qt.MouseButton.LeftButton
    send_mouse(viewport, QMouseEvent.Type.MouseButtonDblClick, point, left, left)
    assert window.module_path == ["main", "Group"]
    assert window.scene.module_name == "Group"
    assert {n.name for n in window.scene.module.nodes} >= {"fc2", "relu2"}
    window.scene.check_now()
    assert edge_into(window, "relu2").label == "[N, 64]"
    window.go_up()
    assert window.scene.module_name == "main"


def test_ungroup_and_library_modules_are_listed(window) -> None:
    tree = window.library.tree
    names = [tree.topLevelItem(1).child(i).text(0) for i in range(tree.topLevelItem(1).childCount())]
    assert {"BasicBlock", "Inception", "TransformerEncoder", "ResNeXtBlock", "WideBlock"} <= set(names)
    for name in ("fc2", "relu2"):
        node_named(window, name).setSelected(True)
    window.canvas.group_selection("Hidden")
    main = tree.topLevelItem(0).child(0)  # "This project" > the main module > the modules it uses
    assert main.text(0) == "main  (main)"
    assert "Hidden" in [main.child(i).text(0) for i in range(main.childCount())]
    node = next(n for n in window.scene.module.nodes if n.module == "Hidden")
    window.scene.clearSelection()
    window.scene.nodes[node.id].setSelected(True)
    window.canvas.ungroup_selection()
    assert not any(n.module == "Hidden" for n in window.scene.module.nodes)
    assert {n.block for n in window.scene.module.nodes} >= {"linear", "relu"}


def test_drop_a_library_module_copies_it_into_the_project(window) -> None:
    assert window.canvas.add_library_module("transformer:TransformerEncoder", QPointF(0, 500))
    assert "TransformerEncoder" in window.doc.project.modules
    node = window.scene.module.nodes[-1]
    assert node.module == "TransformerEncoder"
    window.stack.undo()
    assert "TransformerEncoder" not in window.doc.project.modules


def test_choice_params_get_a_combo(window) -> None:
    block = next(s for s in window.catalog if any(p.kind == "choice" for p in s.params))
    window.canvas.add_block(block.id, QPointF(0, 400))
    select_only(window, window.scene.module.nodes[-1].name)
    pspec = next(p for p in block.params if p.kind == "choice")
    combo = window.inspector.editors[pspec.name]
    assert isinstance(combo, QComboBox) and combo.count() >= len(pspec.choices)


def test_a_module_copied_from_the_library_comes_with_positions(window) -> None:
    window.canvas.add_library_module("resnet:BasicBlock", QPointF(0, 500))
    module = window.doc.project.modules["BasicBlock"]
    positions = window.doc.project.ui.positions["BasicBlock"]
    assert set(positions) == {n.id for n in module.nodes}
    window.drill_in("BasicBlock")
    for node in module.nodes:
        item = window.scene.nodes[node.id]
        assert [item.x(), item.y()] == positions[node.id]


def test_rename_and_delete_modules_from_the_library_panel(window) -> None:
    for name in ("fc2", "relu2"):
        node_named(window, name).setSelected(True)
    window.canvas.group_selection("Hidden")
    assert window.library.rename_module("Hidden", "Body")
    user = next(n for n in window.scene.module.nodes if n.module is not None)
    assert user.module == "Body" and "Body" in window.doc.project.modules
    messages: list[str] = []
    window.canvas.message.connect(messages.append)
    assert not window.library.delete_module("Body")  # still used: refused with a reason
    assert messages and "still used" in messages[-1]
    window.scene.clearSelection()
    window.scene.nodes[user.id].setSelected(True)
    window.canvas.ungroup_selection()
    assert window.library.delete_module("Body")
    assert "Body" not in window.doc.project.modules


def test_a_module_parameter_default_is_edited_on_the_module_page(window) -> None:
    from modstudio.library import load_template
    from modstudio.ui.files import place_unplaced_nodes

    project = load_template("resnet18", window.catalog)
    place_unplaced_nodes(project)
    window.load(project)
    window.drill_in("BasicBlock")
    edit = window.inspector.editors["channels"]
    assert isinstance(edit, QLineEdit) and edit.text() == str(project.modules["BasicBlock"].params["channels"])
    edit.setText("32")
    edit.editingFinished.emit()
    assert window.doc.project.modules["BasicBlock"].params["channels"] == 32
    window.stack.undo()
    assert window.doc.project.modules["BasicBlock"].params["channels"] != 32


def _tree_of(item) -> list:  # type: ignore[no-untyped-def]
    """An item's children as (text, children) pairs, all the way down."""
    return [(item.child(i).text(0), _tree_of(item.child(i))) for i in range(item.childCount())]


def test_the_module_library_shows_which_module_uses_which(window) -> None:
    from modstudio.graph.model import ModuleDef, Node, Project

    def uses(*names: str) -> ModuleDef:
        return ModuleDef([Node(f"n{i}", name.lower(), module=name) for i, name in enumerate(names)])

    # main uses Stage and Block; Stage uses Block; Spare is used by nothing
    project = Project({"Net": uses("Stage", "Block"), "Block": uses(), "Stage": uses("Block"), "Spare": uses()}, "Net")
    assert window.load(project)
    assert _tree_of(window.library.tree.topLevelItem(0)) == [
        ("Net  (main)", [("Stage", [("Block", [])]), ("Block", [])]),
        ("Spare", []),
    ]
