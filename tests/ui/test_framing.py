"""Framing (View > Frame All and the first view of a module) never shows node titles too small to read."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFontInfo

from modstudio.blocks import default_catalog
from modstudio.editor.session import EditorSession
from modstudio.library import load_template, templates
from modstudio.ui.app import create_app
from modstudio.ui.canvas import READABLE_TITLE_PX, Canvas, readable_zoom
from modstudio.ui.commands import UndoStack
from modstudio.ui.items import title_font
from modstudio.ui.scene import ModuleScene


@pytest.fixture
def canvas_on(qtbot):  # type: ignore[no-untyped-def]
    """A 900 x 600 canvas on a template (what the editor's canvas is on a small screen)."""
    scenes: list[ModuleScene] = []

    def make(name: str) -> Canvas:
        create_app()
        catalog = default_catalog()
        session = EditorSession.of_project(load_template(name, catalog), catalog)
        scenes.append(ModuleScene(session, catalog))
        view = Canvas(UndoStack(session), scenes[-1])
        qtbot.addWidget(view)
        view.resize(900, 600)
        view.show()
        qtbot.waitExposed(view)
        return view

    yield make
    for scene in scenes:
        scene.close()


def visible(view: Canvas) -> QRectF:
    return view.mapToScene(view.viewport().rect()).boundingRect()


def test_readable_zoom_makes_titles_nine_pixels_high() -> None:
    create_app()
    assert QFontInfo(title_font()).pixelSize() * readable_zoom() == pytest.approx(READABLE_TITLE_PX)


def show(canvas: Canvas, module: str) -> None:
    """The session shows ``module``; the scene draws what the session shows."""
    canvas.module_scene.session.open_module(module)
    canvas.module_scene.show_module()


@pytest.mark.parametrize("name", [t.name for t in templates()])
def test_framing_every_module_of_a_template_stays_readable_and_shows_its_input(canvas_on, name: str) -> None:
    canvas = canvas_on(name)
    for module_name, module in canvas.stack.doc.project.modules.items():
        show(canvas, module_name)
        canvas.frame_all()
        zoom = canvas.transform().m11()
        assert zoom >= readable_zoom() - 1e-9, f"{name}/{module_name}: zoom {zoom:.2f}"
        inputs = [n for n in module.nodes if n.block == "input"] or module.nodes[:1]
        for node in inputs:
            rect = canvas.module_scene.nodes[node.id].sceneBoundingRect()
            assert visible(canvas).intersects(rect), f"{name}/{module_name}: input '{node.name}' out of view"


def test_a_small_graph_is_framed_whole_and_a_long_one_from_its_input(canvas_on) -> None:
    canvas = canvas_on("moe_2d")  # 3 nodes in a row: all in view, enlarged
    show(canvas, "main")
    canvas.frame_all()
    assert readable_zoom() < canvas.transform().m11() <= 1.2
    assert all(visible(canvas).contains(item.sceneBoundingRect()) for item in canvas.module_scene.nodes.values())
    canvas = canvas_on("resnet18")  # 16 nodes in a row: too long to read whole
    show(canvas, "main")
    canvas.frame_all()
    assert canvas.transform().m11() == pytest.approx(readable_zoom())
    module = canvas.module_scene.module
    seen = [
        n.name for n in module.nodes if visible(canvas).contains(canvas.module_scene.nodes[n.id].sceneBoundingRect())
    ]
    assert seen[0] == "x" and "fc" not in seen and len(seen) >= 4
