"""File > Import PyTorch Model…: options checked in the dialog, the import in its own process, its
result opened as the new project; an unmappable model or a cancel writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QDialogButtonBox
from safetensors.numpy import load_file

from modstudio.ui.import_dialog import ImportDialog, show_import_dialog
from modstudio.ui.import_process import STAGING_PREFIX

IMPORT_TIMEOUT_MS = 180_000  # a fresh Python that imports torch, on a busy machine

TINY = """import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self, hidden=8):
        super().__init__()
        self.fc1 = nn.Linear(4, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))
"""

UNMAPPABLE = """import torch
from torch import nn


class Ranker(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 8)

    def forward(self, x):
        return torch.topk(self.fc(x), 2, dim=1).values
"""

SLOW = """import time
from torch import nn


class Slow(nn.Module):
    def __init__(self):
        super().__init__()
        time.sleep(600)  # stands for a model that takes very long to build
"""


def _dialog(window, folder: Path, code: str, name: str) -> ImportDialog:
    model = folder / "model.py"
    model.write_text(code, encoding="utf-8")
    dialog = show_import_dialog(window)
    dialog.model.setText(str(model))
    dialog.name.setEditText(name)
    dialog.shape.setText("1,4")
    return dialog


def _written(folder: Path) -> list[str]:
    """What is in ``folder`` besides the model file and the window's settings (hidden staging folders included)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in ("model.py", "__pycache__", "settings.ini"))


def test_the_menu_has_the_import_and_the_dialog_reads_the_names_the_file_defines(window, tmp_path) -> None:
    assert window.actions_by_name["import"].text() == "&Import PyTorch Model…"
    dialog = _dialog(window, tmp_path, TINY, "")
    assert [dialog.name.itemText(i) for i in range(dialog.name.count())] == ["Tiny"]
    dialog.name.setEditText("Tiny")
    assert dialog.output.text() == str(tmp_path / "Tiny.msproj")  # next to the model, named after it
    dialog.close()


NESTED = """from torch import nn


class Block(nn.Module):
    def forward(self, x):
        return x


def helper(width):
    return nn.Linear(width, width)


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.fc = helper(4)


def main():
    print(SmallNet())
"""


def test_choosing_another_file_offers_its_outermost_model_not_the_previous_files_name(window, tmp_path) -> None:
    dialog = _dialog(window, tmp_path, TINY, "Tiny")
    other = tmp_path / "nested.py"
    other.write_text(NESTED, encoding="utf-8")
    dialog.model.setText(str(other))
    assert dialog.name.currentText() == "SmallNet"  # not Tiny, not the Block it uses, not main (returns nothing)
    assert dialog.output.text() == str(tmp_path / "SmallNet.msproj")
    dialog.name.lineEdit().textEdited.emit("made_elsewhere")  # a name the person typed is theirs to keep
    dialog.name.setEditText("made_elsewhere")
    dialog.model.setText(str(tmp_path / "model.py"))
    assert dialog.name.currentText() == "made_elsewhere"
    dialog.close()


def test_a_refused_option_is_no_longer_shown_once_an_option_changes(window, tmp_path) -> None:
    dialog = _dialog(window, tmp_path, TINY, "Tiny")
    dialog.shape.setText("4")
    dialog.import_button.click()
    assert dialog.note.text().startswith("The input shape needs a batch size")
    dialog.shape.textEdited.emit("1,4")
    assert dialog.note.text() == "The model's code runs in a process of its own, never inside the editor."
    assert dialog.note.objectName() != "error" and not dialog.details.isVisible()
    dialog.close()


@pytest.mark.parametrize(
    ("field", "text", "sentence"),
    [
        ("arguments", '{"hidden": 5', "The Arguments field is not valid JSON"),
        ("arguments", "[5]", "The Arguments field must be a JSON object"),
        ("shape", "1,4,a", "The input shape must be whole numbers separated by commas"),
        ("shape", "4", "The input shape needs a batch size"),
        ("weights", "missing.safetensors", "The weights file missing.safetensors does not exist."),
    ],
)
def test_bad_options_are_refused_in_the_dialog_with_a_sentence(window, tmp_path, field, text, sentence) -> None:
    dialog = _dialog(window, tmp_path, TINY, "Tiny")
    getattr(dialog, field).setText(text)
    dialog.import_button.click()
    assert dialog.run is None  # nothing started
    assert dialog.note.text().startswith(sentence)
    assert dialog.isVisible() and dialog.import_button.isEnabled()
    assert _written(tmp_path) == []
    dialog.close()


def test_a_model_file_imports_in_a_process_and_opens_with_its_weights_as_starting_weights(
    window, qtbot, tmp_path
) -> None:
    import torch

    torch.manual_seed(7)
    trained = {"fc1.weight": torch.randn(5, 4), "fc1.bias": torch.randn(5)}
    trained |= {"fc2.weight": torch.randn(3, 5), "fc2.bias": torch.randn(3)}
    torch.save(trained, tmp_path / "trained.pt")
    window.session.mark_modified()  # the open project has unsaved changes: asked before it is replaced
    dialog = _dialog(window, tmp_path, TINY, "Tiny")
    dialog.arguments.setText('{"hidden": 5}')
    dialog.weights.setText(str(tmp_path / "trained.pt"))
    shown: list[int] = []
    dialog.progress.valueChanged.connect(shown.append)
    dialog.import_button.click()
    assert dialog.run is not None and not dialog.import_button.isEnabled()
    out = tmp_path / "Tiny.msproj"
    qtbot.waitUntil(lambda: window.path == out, timeout=IMPORT_TIMEOUT_MS)
    assert shown[-1] == 100 and 10 in shown  # the bar followed the import's steps
    assert any("unsaved changes" in text for text in window.asked)
    project = window.session.project
    assert project.training.init_weights == "Tiny.init.safetensors"
    assert {n.name for n in project.main_module.nodes} >= {"fc1", "act", "fc2"}
    assert not dialog.isVisible()
    saved = load_file(tmp_path / "Tiny.init.safetensors")
    assert len(saved) == 4
    for tensor in trained.values():  # the weights given, under the project's names
        assert any(v.shape == tuple(tensor.shape) and np.array_equal(v, tensor.numpy()) for v in saved.values())
    assert _written(tmp_path) == ["Tiny.init.safetensors", "Tiny.msproj", "trained.pt"]
    assert window.statusBar().currentMessage().startswith("Imported Tiny: 43 parameters, 1 module, ")


def test_an_unmappable_model_lists_each_op_and_writes_nothing(window, qtbot, tmp_path) -> None:
    before = window.path, window.session.project
    dialog = _dialog(window, tmp_path, UNMAPPABLE, "Ranker")
    dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.run is None, timeout=IMPORT_TIMEOUT_MS)
    assert dialog.isVisible() and dialog.import_button.isEnabled()  # kept, to change the options
    assert dialog.note.text() == "Could not import (nothing was written): 1 op or layer cannot be imported:"
    assert dialog.details.toPlainText() == "• torch.topk at model.py:11 has no block"
    assert _written(tmp_path) == []
    assert (window.path, window.session.project) == before
    dialog.close()


def test_cancel_stops_the_process_and_writes_nothing(window, qtbot, tmp_path) -> None:
    dialog = _dialog(window, tmp_path, SLOW, "Slow")
    dialog.import_button.click()
    assert dialog.run is not None
    qtbot.waitUntil(lambda: "loading the model" in dialog.note.text(), timeout=IMPORT_TIMEOUT_MS)
    pid = dialog.run.process.processId()
    assert any(p.name.startswith(STAGING_PREFIX) for p in tmp_path.iterdir())  # the process works in it
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: dialog.run is None, timeout=30_000)
    with pytest.raises(ProcessLookupError):  # the process is gone (QProcess has reaped it)
        os.kill(pid, 0)
    assert dialog.note.text() == "The import was cancelled; nothing was written."
    assert _written(tmp_path) == []
    assert dialog.isVisible()  # a second Cancel closes it
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert not dialog.isVisible()


CRASHING = """import os
import signal
from torch import nn


class Crashing(nn.Module):
    def __init__(self):
        super().__init__()
        os.kill(os.getpid(), signal.SIGKILL)  # stands for native code that takes its process down
"""


def test_a_model_that_crashes_its_process_leaves_the_editor_running_and_says_so(window, qtbot, tmp_path) -> None:
    dialog = _dialog(window, tmp_path, CRASHING, "Crashing")
    dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.run is None, timeout=IMPORT_TIMEOUT_MS)
    assert dialog.note.text().startswith("Could not import (nothing was written): The import stopped unexpectedly")
    assert _written(tmp_path) == []
    assert window.isVisible() and window.session is not None  # the editor goes on
    dialog.close()


def test_an_existing_project_is_replaced_only_when_the_person_agrees(window, tmp_path) -> None:
    dialog = _dialog(window, tmp_path, TINY, "Tiny")
    (tmp_path / "Tiny.msproj").write_text("{}", encoding="utf-8")
    window.ask = lambda title, text: window.asked.append(text) or False  # "No"
    dialog.import_button.click()
    assert dialog.run is None and "Tiny.msproj already exists" in window.asked[-1]
    assert (tmp_path / "Tiny.msproj").read_text(encoding="utf-8") == "{}"
    dialog.close()


def test_the_dialog_and_its_checks_load_no_torch(tmp_path) -> None:
    """The editor never imports torch for an import: the model's code and torch run in the import's process."""
    model = tmp_path / "model.py"
    model.write_text(TINY, encoding="utf-8")
    code = (
        "import sys\n"
        "from modstudio.ui.import_dialog import check_request, model_names\n"
        f"print(model_names(__import__('pathlib').Path({str(model)!r})))\n"
        f"print(check_request({str(model)!r}, 'Tiny', '{{}}', '1,4', '', {str(tmp_path / 'a.msproj')!r}).options)\n"
        "print('torch' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert result.stdout.splitlines() == ["['Tiny']", "['--args', '{}', '--input-shape', '1,4']", "False"]
