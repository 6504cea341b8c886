"""File > Export in the editor: runs in the background, reports the result or the reason."""

from __future__ import annotations

import importlib.util

from modstudio.blocks import default_catalog
from modstudio.ui.export_dialog import show_export_dialog
from modstudio.ui.files import default_project


def test_export_to_python_from_the_file_menu(window, qtbot, tmp_path) -> None:
    assert "export" in window.actions_by_name
    dialog = show_export_dialog(window)
    dialog.format.setCurrentIndex(dialog.format.findData("python"))
    target = tmp_path / "model.py"
    dialog.output.setText(str(target))
    dialog.export_button.click()
    assert not dialog.export_button.isEnabled()  # busy while the thread works; the UI is not blocked
    qtbot.waitUntil(lambda: bool(window.informed), timeout=60_000)
    assert window.informed[-1].startswith(f"Wrote {target}")  # good news, not a warning
    assert "Outputs match the project's" in window.informed[-1] and not window.reported
    spec = importlib.util.spec_from_file_location("exported", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert sum(p.numel() for p in module.Model().parameters()) > 0


def test_a_failed_export_says_why_and_keeps_the_dialog(window, qtbot, tmp_path) -> None:
    dialog = show_export_dialog(window)
    dialog.output.setText(str(tmp_path / "model.py"))
    dialog.weights.setText(str(tmp_path / "missing.safetensors"))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: bool(window.reported), timeout=60_000)
    assert "missing.safetensors" in window.reported[-1]
    assert dialog.isVisible() and dialog.note.text().startswith("Could not export")
    assert not (tmp_path / "model.py").exists()
    dialog.reject()


def test_torchscript_says_it_is_deprecated(window) -> None:
    dialog = show_export_dialog(window)
    dialog.format.setCurrentIndex(dialog.format.findData("torchscript"))
    assert "deprecated" in dialog.note.text()
    assert dialog.output.text().endswith(".pt")
    dialog.reject()


def test_pt2_and_onnx_say_an_expert_choice_project_exports_for_a_fixed_batch(window) -> None:
    project = default_project(default_catalog(), "moe_2d")
    window.load(project)
    dialog = show_export_dialog(window)
    for fmt in ("pt2", "onnx", "python"):
        dialog.format.setCurrentIndex(dialog.format.findData(fmt))
        assert "fixed batch" not in dialog.note.text()  # the template's gate is switch
    dialog.reject()
    window.session.project.main_module.node_named("moe").params["gate"] = "expert_choice"
    dialog = show_export_dialog(window)
    for fmt in ("pt2", "onnx"):
        dialog.format.setCurrentIndex(dialog.format.findData(fmt))
        assert f"fixed batch of {project.data.batch_size}" in dialog.note.text(), fmt
    dialog.format.setCurrentIndex(dialog.format.findData("python"))
    assert "fixed batch" not in dialog.note.text()
    dialog.reject()
