"""What a person sees on opening: nodes, wires labelled with shapes, error badges, the title."""

from __future__ import annotations

from PySide6.QtCore import QPointF

from modstudio.graph.model import Edge
from modstudio.graph.ops import Disconnect, SetParam
from modstudio.ui.items import EdgeItem, NodeItem


def node_named(window, name: str) -> NodeItem:
    node = window.scene.module.node_named(name)
    assert node is not None, name
    return window.scene.nodes[node.id]


def edge_into(window, name: str) -> EdgeItem:
    item = node_named(window, name)
    return next(e for e in item.edges if e.dst.node is item)


def test_modstudio_opens_on_a_mixture_of_experts() -> None:
    from modstudio.blocks import default_catalog
    from modstudio.ui.files import default_project

    project = default_project(default_catalog())
    assert [n.block for n in project.main_module.nodes] == ["input", "moe", "output"]
    assert project.data.dataset == "regimes"


def test_a_template_is_drawn_with_shapes_on_every_edge(window) -> None:
    module = window.doc.project.main_module
    assert set(window.scene.nodes) == {n.id for n in module.nodes}
    assert sum(len(v) for v in window.scene.edges.values()) == len(module.edges)
    assert edge_into(window, "fc1").label == "[N, 2]"
    assert edge_into(window, "relu1").label == "[N, 64]"
    assert not any(item.error for item in window.scene.nodes.values())
    assert "MLP on 2-D data" in window.windowTitle()
    positions = window.doc.project.ui.positions[window.doc.project.main]
    item = node_named(window, "fc2")
    assert [item.x(), item.y()] == positions[item.node_id]


def test_a_node_that_cannot_take_its_input_shows_the_sentence(window) -> None:
    fc1 = window.scene.module.node_named("fc1")
    window.canvas.perform(SetParam(window.scene.module_name, fc1.id, "out_features", 7))
    window.canvas.perform(
        SetParam(window.scene.module_name, window.scene.module.node_named("x").id, "shape", [3, 8, 8])
    )
    result = window.scene.check_now()
    assert edge_into(window, "fc1").label == "[N, 3, 8, 8]"
    assert node_named(window, "fc1").error is not None
    assert "Linear 'fc1'" in node_named(window, "fc1").error
    assert node_named(window, "fc1").toolTip() == node_named(window, "fc1").error
    assert result.problems and window.problem_label.text().startswith("⚠ 1 problem: ")


def test_removing_an_edge_by_operation_removes_its_item(window) -> None:
    module = window.scene.module
    edge = next(e for e in module.edges if module.node(e.dst).name == "relu1")
    window.canvas.perform(Disconnect(window.scene.module_name, Edge(edge.src, edge.src_port, edge.dst, edge.dst_port)))
    assert all(e.edge.dst != edge.dst for items in window.scene.edges.values() for e in items)
    window.scene.check_now()
    assert "nothing connected" in node_named(window, "relu1").error
    window.stack.undo()
    window.scene.check_now()
    assert edge_into(window, "relu1").label == "[N, 64]"
    assert node_named(window, "relu1").error is None


def test_zoomed_out_canvas_still_frames_every_node(window) -> None:
    from PySide6.QtWidgets import QApplication

    from modstudio.ui.canvas import readable_zoom

    window.resize(2600, 900)  # room for the mlp's 7 nodes in a row at a readable zoom
    QApplication.processEvents()
    window.canvas.scale(0.2, 0.2)
    window.canvas.frame_all()
    assert window.canvas.transform().m11() >= readable_zoom()
    view_rect = window.canvas.mapToScene(window.canvas.viewport().rect()).boundingRect()
    for item in window.scene.nodes.values():
        assert view_rect.contains(item.sceneBoundingRect().center() + QPointF(0, 0))
