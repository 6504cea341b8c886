"""Real gestures on the canvas: drop from the palette, wire ports, move, select, delete, undo."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from modstudio.graph.ops import MoveNode
from modstudio.ui import theme
from modstudio.ui.canvas import readable_zoom
from modstudio.ui.items import NodeItem, PortItem

from .conftest import drag
from .test_canvas import edge_into, node_named


def view_pos(window, scene_point: QPointF) -> QPoint:
    return window.canvas.mapFromScene(scene_point)


def drop_from_palette(window, block: str, at: QPoint) -> None:
    """What the palette's drag delivers to the canvas: enter, move and drop with its mime data."""
    viewport = window.canvas.viewport()
    mime = window.palette.mime_for(block)
    actions = Qt.DropAction.CopyAction
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(at, actions, mime, buttons, mods)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(viewport, QDragMoveEvent(at, actions, mime, buttons, mods))
    drop = QDropEvent(QPointF(at), actions, mime, buttons, mods)
    QApplication.sendEvent(viewport, drop)


def test_drop_a_block_from_the_palette_then_undo_and_redo(window) -> None:
    before = len(window.scene.module.nodes)
    at = QPoint(300, 500)
    drop_from_palette(window, "dropout", at)
    module = window.scene.module
    assert len(module.nodes) == before + 1
    node = module.nodes[-1]
    assert node.block == "dropout"
    item = window.scene.nodes[node.id]
    expected = window.canvas.mapToScene(at)
    assert (round(item.x()), round(item.y())) == (round(expected.x()), round(expected.y()))
    assert window.isWindowModified()
    window.actions_by_name["undo"].trigger()
    assert node.id not in window.scene.nodes and len(window.scene.module.nodes) == before
    assert not window.isWindowModified()
    window.actions_by_name["redo"].trigger()
    assert node.id in window.scene.nodes


def test_palette_search_filters_and_tooltips_show_the_doc(window) -> None:
    window.palette.search.setText("conv")
    visible = window.palette.visible_blocks()
    assert "conv2d" in visible and "relu" not in visible
    assert window.catalog["conv2d"].doc[:20] in window.palette.items["conv2d"].toolTip(0)


def wire(window, out_port: PortItem, in_port: PortItem) -> None:
    drag(window.canvas.viewport(), view_pos(window, out_port.scenePos()), view_pos(window, in_port.scenePos()))


def test_connect_two_ports_by_dragging_and_refuse_a_fed_input(window) -> None:
    drop_from_palette(window, "dropout", QPoint(300, 560))
    new = window.scene.nodes[window.scene.module.nodes[-1].id]
    relu1 = node_named(window, "relu1")
    wire(window, relu1.outputs["out"], new.inputs["in"])
    module = window.scene.module
    assert any(e.src == relu1.node_id and e.dst == new.node_id for e in module.edges)
    window.scene.check_now()
    edge = next(e for e in new.edges if e.dst.node is new)
    assert edge.label == "[N, 64]"
    # fc2's input is already fed by relu1: dragging the new node's output there is refused
    count = len(module.edges)
    messages: list[str] = []
    window.canvas.message.connect(messages.append)
    wire(window, new.outputs["out"], node_named(window, "fc2").inputs["in"])
    assert len(window.scene.module.edges) == count
    assert any("already fed by 'relu1'" in m for m in messages)


def test_ports_light_up_while_dragging_a_wire(window) -> None:
    drop_from_palette(window, "dropout", QPoint(300, 560))
    free_in = window.scene.nodes[window.scene.module.nodes[-1].id].inputs["in"]
    fed_in = node_named(window, "fc1").inputs["in"]
    viewport = window.canvas.viewport()
    start = view_pos(window, node_named(window, "relu2").outputs["out"].scenePos())
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    assert free_in.brush().color() == theme.PORT_OK
    assert fed_in.brush().color() == theme.ERROR
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    assert free_in.scale() == 1.0 and free_in.brush().color() == theme.PORT


def test_drag_a_node_moves_it_in_the_document_in_one_undo_step(window) -> None:
    item = node_named(window, "relu1")
    start = view_pos(window, item.sceneBoundingRect().center() + QPointF(0, -8))
    before = list(window.doc.project.ui.positions["main"][item.node_id])
    drag(window.canvas.viewport(), start, start + QPoint(0, 120))
    after = window.doc.project.ui.positions["main"][item.node_id]
    assert after[1] > before[1] + 50 and after == [item.x(), item.y()]
    window.stack.undo()
    assert window.doc.project.ui.positions["main"][item.node_id] == before
    assert [item.x(), item.y()] == before


def test_rubber_band_selection_and_delete_key(window) -> None:
    relu1, fc2 = node_named(window, "relu1"), node_named(window, "fc2")
    rect = relu1.sceneBoundingRect().united(fc2.sceneBoundingRect())
    start = view_pos(window, rect.topLeft() + QPointF(-30, -30))
    end = view_pos(window, rect.bottomRight() + QPointF(4, 30))
    drag(window.canvas.viewport(), start, end)
    selected = {i.node_id for i in window.scene.selectedItems() if isinstance(i, NodeItem)}
    assert selected == {relu1.node_id, fc2.node_id}
    window.canvas.setFocus()
    QTest.keyClick(window.canvas, Qt.Key.Key_Delete)
    names = {n.name for n in window.scene.module.nodes}
    assert "relu1" not in names and "fc2" not in names
    window.stack.undo()
    assert {"relu1", "fc2"} <= {n.name for n in window.scene.module.nodes}
    assert edge_into(window, "fc2").src.node.title == "relu1"


def test_copy_paste_and_duplicate(window) -> None:
    fc1, relu1 = node_named(window, "fc1"), node_named(window, "relu1")
    fc1.setSelected(True)
    relu1.setSelected(True)
    count, edges = len(window.scene.module.nodes), len(window.scene.module.edges)
    window.canvas.duplicate()
    module = window.scene.module
    assert len(module.nodes) == count + 2 and len(module.edges) == edges + 1
    copy_fc, copy_relu = module.nodes[-2:]
    assert (copy_fc.block, copy_relu.block) == ("linear", "relu")
    assert copy_fc.name not in ("fc1", "relu1") and copy_fc.params == {"out_features": 64}
    assert any(e.src == copy_fc.id and e.dst == copy_relu.id for e in module.edges)
    assert window.stack.undoText().startswith("Paste 2 nodes")
    window.stack.undo()
    assert len(window.scene.module.nodes) == count


def test_wheel_zooms_middle_button_pans_and_f_frames_all(window) -> None:
    from PySide6.QtGui import QMouseEvent, QWheelEvent

    from .conftest import send_mouse

    canvas, viewport = window.canvas, window.canvas.viewport()
    before = canvas.transform().m11()
    centre = QPointF(viewport.rect().center())
    wheel = QWheelEvent(
        centre,
        QPointF(viewport.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, wheel)
    assert canvas.transform().m11() > before * 1.2
    middle, none = Qt.MouseButton.MiddleButton, Qt.MouseButton.NoButton
    seen = canvas.mapToScene(viewport.rect().center())
    send_mouse(viewport, QMouseEvent.Type.MouseButtonPress, centre, middle, middle)
    send_mouse(viewport, QMouseEvent.Type.MouseMove, centre + QPointF(120, 0), none, middle)
    send_mouse(viewport, QMouseEvent.Type.MouseButtonRelease, centre + QPointF(120, 0), middle, none)
    assert canvas.mapToScene(viewport.rect().center()).x() < seen.x() - 50
    canvas.setFocus()
    QTest.keyClick(canvas, Qt.Key.Key_F)  # the mlp does not fit this canvas readably: its start is framed
    view_rect = canvas.mapToScene(viewport.rect()).boundingRect()
    assert canvas.transform().m11() == pytest.approx(readable_zoom())
    x = window.scene.nodes[window.scene.module.node_named("x").id]
    assert view_rect.contains(x.sceneBoundingRect())


def test_auto_layout_is_one_undoable_step(window) -> None:
    item = node_named(window, "relu1")
    window.canvas.perform(MoveNode("main", item.node_id, (5000.0, 5000.0)))
    window.actions_by_name["layout"].trigger()
    assert item.x() < 5000
    assert window.stack.undoText() == "Auto-layout"
    window.stack.undo()
    assert (item.x(), item.y()) == (5000.0, 5000.0)


def test_the_template_gallery_lists_every_template_with_its_description(window) -> None:
    from modstudio.library import templates
    from modstudio.ui.dialogs import TemplateGallery

    gallery = TemplateGallery(window)
    names = [gallery.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(gallery.list.count())]
    assert names == [t.name for t in templates()]
    gallery.list.setCurrentRow(names.index("resnet18"))
    assert gallery.chosen() == "resnet18"
    info = next(t for t in templates() if t.name == "resnet18")
    assert info.title in gallery.list.currentItem().text() and info.doc in gallery.list.currentItem().text()
    plugin_row = names.index("maxout_moons")  # a plugin's template is listed too, and says where it is from
    assert "(from the plugin maxout)" in gallery.list.item(plugin_row).text()


def test_copy_then_paste_through_the_clipboard(window) -> None:
    from PySide6.QtWidgets import QApplication

    node_named(window, "fc1").setSelected(True)
    before = len(window.scene.module.nodes)
    window.canvas.copy_selection()
    assert "fc1" in QApplication.clipboard().text()
    window.canvas.paste()
    window.canvas.paste()
    names = [n.name for n in window.scene.module.nodes[before:]]
    assert len(names) == 2 and all(name.startswith("fc") and name != "fc1" for name in names)


def test_auto_layout_wraps_a_module_too_long_for_the_canvas_into_bands(window) -> None:
    from modstudio.graph.builder import ProjectBuilder

    main = ProjectBuilder("long-chain").module("main")
    h = main.input("x", shape=[4])
    for i in range(14):
        h = main.add("linear", f"fc{i}", h, out_features=4)
    main.output("y", h)
    window.load(main.project.project("long chain"))
    window.actions_by_name["layout"].trigger()
    positions = window.doc.project.ui.positions["main"]
    zoom = readable_zoom()
    width = window.canvas.viewport().width() / zoom
    assert len({y for _, y in positions.values()}) > 1  # more than one band
    assert max(x for x, _ in positions.values()) < width  # each band fits the canvas at a readable zoom
