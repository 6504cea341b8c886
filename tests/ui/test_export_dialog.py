"""File > Export in the editor: runs in the background, reports the result or the reason."""

from __future__ import annotations

import importlib.util

from modstudio.ui.export_dialog import show_export_dialog


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
