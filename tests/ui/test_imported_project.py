"""An imported network opens readably: the whole main module in view at a readable zoom, no two
nodes overlapping, each submodule one node, and the Modules dock showing which module uses which."""

from __future__ import annotations

from pathlib import Path

from modstudio.ui.canvas import readable_zoom

RESNET = Path(__file__).resolve().parents[1] / "importer" / "resnet.py"


def _tree_of(item) -> list:  # type: ignore[no-untyped-def]
    return [(item.child(i).text(0), _tree_of(item.child(i))) for i in range(item.childCount())]


def test_an_imported_resnet50_opens_framed_whole_readable_and_without_overlaps(window, tmp_path) -> None:
    from modstudio.importer import import_model, write_import

    imported = import_model(f"{RESNET}:resnet50", input_shape=(1, 3, 32, 32))
    out, _ = write_import(imported, tmp_path / "resnet50.msproj")
    assert window.open_path(out)
    window.canvas.show_start()  # what opening does once the window is on screen
    canvas, scene = window.canvas, window.scene
    assert {n.name for n in scene.module.nodes} >= {"conv1", "layer1", "layer4", "fc"}
    assert all(n.module is not None for n in scene.module.nodes if n.name.startswith("layer"))  # collapsed
    items = list(scene.nodes.values())
    visible = canvas.mapToScene(canvas.viewport().rect()).boundingRect()
    assert all(visible.contains(item.sceneBoundingRect()) for item in items)  # the whole main module
    assert canvas.transform().m11() >= readable_zoom() * 0.999  # at a zoom where titles can be read
    for module in window.doc.project.modules:  # no module's nodes overlap
        window.show_module([module] if module == window.doc.project.main else [window.doc.project.main, module])
        rects = [item.sceneBoundingRect() for item in window.scene.nodes.values()]
        assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :]), module
    tree = _tree_of(window.library.tree.topLevelItem(0))
    (main, stages), *_ = tree
    assert main == "ResNet  (main)"
    layer1 = dict(stages)["Layer1"]
    assert dict(layer1)["Bottleneck"] == [("Downsample", [])]  # ResNet > Layer1 > Bottleneck > Downsample
