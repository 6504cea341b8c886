"""A file with errors opens in the editor, each problem on its node and the rest listed, so that it can be
repaired and saved; a file that cannot be represented still gives the dialog and changes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QLabel

from modstudio.blocks import default_catalog
from modstudio.graph import ops
from modstudio.graph.io import load_project
from modstudio.graph.model import Edge

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def opened(window, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.msproj"
    shutil.copyfile(CORPUS / f"{name}.msproj", path)
    assert window.open_path(path)
    assert window.path == path
    return path


def select(window, name: str):
    node = window.scene.module.node_named(name)
    window.scene.check_now()  # what the event loop does right after opening
    window.scene.clearSelection()
    window.scene.nodes[node.id].setSelected(True)
    window.inspector.rebuild()
    return node


def save_and_load_strictly(window, path: Path):
    assert window.save_to(path)
    assert "still has" not in window.statusBar().currentMessage()
    return load_project(path, default_catalog())  # raises ProjectError if a problem is left


def test_a_param_of_the_wrong_type_is_kept_flagged_and_fixed_in_the_inspector(window, tmp_path: Path) -> None:
    path = opened(window, tmp_path, "wrong_type_param")
    before = path.read_bytes()
    assert len(window.reported) == 1
    assert "out_features: must be a whole number, not 'eight'" in window.reported[0]
    assert not window.isWindowModified()  # nothing was changed: the bad value is kept as written
    node = select(window, "fc1")
    assert node.params["out_features"] == "eight"
    result = window.scene.check_now()
    item = window.scene.nodes[node.id]
    assert item.error == "params.out_features: must be a whole number, not 'eight'" == item.toolTip()
    assert "must be a whole number, not 'eight'" in window.inspector.findChild(QLabel, "error").text()
    editor = window.inspector.editors["out_features"]
    assert editor.text() == "eight" and "e5484d" in editor.styleSheet()  # as written, not clamped; red
    assert any("must be a whole number, not 'eight'" in p for p in result.problems)
    editor.setText("8")
    editor.editingFinished.emit()
    assert node.params["out_features"] == 8 and window.isWindowModified()
    assert window.scene.check_now().node_errors.get(node.id) is None and item.error is None
    project = save_and_load_strictly(window, path)
    assert project.main_module.node_named("fc1").params["out_features"] == 8
    assert path.read_bytes() != before


def test_an_unknown_param_is_flagged_and_removed_by_an_edit(window, tmp_path: Path) -> None:
    path = opened(window, tmp_path, "unknown_param")
    node = select(window, "fc1")
    assert "Linear has no parameter 'kernel_size'" in window.scene.check_now().node_errors[node.id]
    button = window.inspector.editors["kernel_size"]
    assert button.text() == "3: unknown, remove"
    button.click()
    assert node.id not in window.scene.check_now().node_errors
    assert "kernel_size" not in save_and_load_strictly(window, path).main_module.node_named("fc1").params


def test_a_dangling_edge_is_dropped_listed_and_the_document_marked_modified(window, tmp_path: Path) -> None:
    path = opened(window, tmp_path, "dangling_edge")
    before = path.read_bytes()
    text = window.reported[0]
    assert "dangling edge: it goes to node '0000-gone', which does not exist" in text
    assert "Changed so that it could be shown" in text and "removed: dangling edge" in text
    assert window.isWindowModified() and window.is_dirty()
    assert path.read_bytes() == before  # nothing is written until the person saves
    module = window.scene.module
    fc1 = module.node_named("fc1")
    x = module.node_named("x")
    window.canvas.perform(ops.Connect(window.scene.module_name, Edge(x.id, "out", fc1.id, "in")))
    save_and_load_strictly(window, path)


def test_duplicate_names_are_flagged_and_fixed_by_renaming(window, tmp_path: Path) -> None:
    path = opened(window, tmp_path, "duplicate_names")
    second = window.scene.module.nodes[2]
    assert window.scene.check_now().node_errors[second.id] == "name: duplicate node name 'fc1'"
    window.canvas.perform(ops.RenameNode(window.scene.module_name, second.id, "relu1"))
    assert second.id not in window.scene.check_now().node_errors
    save_and_load_strictly(window, path)


def test_a_missing_main_module_is_listed_and_a_module_shown(window, tmp_path: Path) -> None:
    path = opened(window, tmp_path, "missing_main")
    assert "main module 'network' does not exist" in window.reported[0]
    assert window.doc.project.main == "main" and window.scene.module_name == "main"
    assert window.isWindowModified()
    save_and_load_strictly(window, path)


def test_saving_with_problems_left_is_allowed_and_says_how_many(window, tmp_path: Path) -> None:
    path = opened(window, tmp_path, "out_of_range_param")
    node = select(window, "fc1")
    assert window.scene.nodes[node.id].error == "params.out_features: must be >= 1, not 0"
    assert window.inspector.editors["out_features"].text() == "0"
    window.canvas.add_block("dropout", QPointF(100, 300))
    assert window.save_to(path)
    assert "it still has 1 problem (marked red)" in window.statusBar().currentMessage()
    assert json.loads(path.read_text())["modules"]["main"]["nodes"][1]["params"]["out_features"] == 0


def test_a_file_that_cannot_be_represented_gives_the_dialog_and_keeps_the_project(window) -> None:
    project, path = window.doc.project, window.path
    for name in ["newer_format", "not_an_object", "truncated", "not_a_number"]:
        window.reported.clear()
        assert not window.open_path(CORPUS / f"{name}.msproj")
        assert len(window.reported) == 1 and str(CORPUS / f"{name}.msproj") in window.reported[0]
        assert window.doc.project is project and window.path == path and not window.isWindowModified()


def test_every_representable_corpus_file_opens_with_its_problems_shown(window, tmp_path: Path) -> None:
    """Each kind of broken file opens, every module can be shown and checked, nothing crashes."""
    for name in ["missing_module", "recursive_module", "mutually_recursive_modules", "cycle", "duplicate_ids"]:
        window.reported.clear()
        path = opened(window, tmp_path, name)
        assert len(window.reported) == 1 and "Traceback" not in window.reported[0], name
        for module in window.doc.project.modules:
            window.open_module(module)
            window.scene.check_now()
            assert not window.canvas.grab().isNull()
        window.open_module(window.doc.project.main)
        assert path.name in window.windowTitle()


def test_a_reference_to_a_missing_module_is_marked_and_repaired_by_removing_it(window, tmp_path: Path) -> None:
    path = opened(window, tmp_path, "missing_module")
    node = window.scene.module.node_named("block")
    item = window.scene.nodes[node.id]
    assert item.missing and list(item.inputs) == ["x"] and list(item.outputs) == ["y"]  # its stored wires' ports
    assert "refers to module 'Missing', which does not exist" in window.scene.check_now().node_errors[node.id]
    window.canvas.perform(ops.RemoveNode(window.scene.module_name, node.id))
    relu, head = window.scene.module.node_named("relu1"), window.scene.module.node_named("head")
    window.canvas.perform(ops.Connect(window.scene.module_name, Edge(relu.id, "out", head.id, "in")))
    save_and_load_strictly(window, path)


def test_a_cycle_is_broken_and_listed(window, tmp_path: Path) -> None:
    path = opened(window, tmp_path, "cycle")
    assert "removed the edge from 'relu1' to 'fc1', which closed the cycle" in window.reported[0]
    assert window.isWindowModified()
    module = window.scene.module
    x, fc1 = module.node_named("x"), module.node_named("fc1")
    window.canvas.perform(ops.Connect(window.scene.module_name, Edge(x.id, "out", fc1.id, "in")))
    save_and_load_strictly(window, path)


def test_training_a_project_with_problems_left_is_refused_with_them(window, tmp_path: Path) -> None:
    opened(window, tmp_path, "duplicate_names")
    window.reported.clear()
    assert not window.training.train()
    assert len(window.reported) == 1
    assert "problem to fix first: modules.main.nodes[2].name: duplicate node name 'fc1'" in window.reported[0]
    assert not window.training.controller.busy


def test_a_choice_that_is_not_allowed_is_shown_as_written_and_chosen_again(window, tmp_path: Path) -> None:
    data = json.loads((CORPUS / "valid.msproj").read_text())
    data["modules"]["main"]["nodes"][5]["params"]["task"] = "clasification"
    path = tmp_path / "typo.msproj"
    path.write_text(json.dumps(data))
    assert window.open_path(path)
    node = select(window, "y")
    assert "params.task: must be one of" in window.scene.nodes[node.id].error
    combo = window.inspector.editors["task"]
    assert combo.currentText() == "'clasification' (not allowed)"
    combo.activated.emit(0)  # choosing the bad value again changes nothing
    assert node.params["task"] == "clasification" and not window.isWindowModified()
    combo.activated.emit(combo.findText("classification"))
    assert node.params["task"] == "classification"
    save_and_load_strictly(window, path)


def test_a_wrong_value_on_a_block_whose_shape_rule_uses_it_opens_flagged(window, tmp_path: Path) -> None:
    """The default project with the MoE's expert count typed as a word and a wire from nowhere: shape inference
    met the word in the MoE's rule (TypeError) and the whole file was refused; now it opens, flagged."""
    from modstudio.graph.io import project_to_dict
    from modstudio.ui.files import default_project

    data = project_to_dict(default_project(default_catalog()))
    main = data["modules"][data["main"]]
    moe = next(n for n in main["nodes"] if n["name"] == "moe")
    moe["params"]["num_experts"] = "four"
    main["edges"].append({"src": "gone", "src_port": "out", "dst": moe["id"], "dst_port": "in"})
    path = tmp_path / "broken.msproj"
    path.write_text(json.dumps(data, indent=2))
    assert window.open_path(path)
    assert window.path == path and window.isWindowModified()  # the dangling wire was dropped, and said
    assert "dangling edge" in window.reported[0] and "num_experts" in window.reported[0]
    node = select(window, "moe")
    assert "num_experts: must be a whole number, not 'four'" in window.scene.nodes[node.id].toolTip()
    window.canvas.perform(ops.SetParam(window.scene.module_name, node.id, "num_experts", 4))
    assert not any("four" in p for p in window.scene.check_now().problems)
    assert save_and_load_strictly(window, path).modules[data["main"]].node_named("moe").params["num_experts"] == 4
