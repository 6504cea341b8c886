"""File > Export: pick a format, a destination and optional weights; the export runs in a
background thread (building, writing, loading back and comparing take seconds) while the
dialog shows progress; the result or the reason it failed is reported in a sentence."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from modstudio.graph.model import Project

from .background import Background
from .dialogs import dialog_folder, remember_folder, with_browse
from .runs_panel import run_cell

EXPORT_FOLDER = "export_folder"  # QSettings key: where the last export was written

if TYPE_CHECKING:
    from .shell import Shell

FORMATS = {
    "python": ("Python source (.py)", ".py"),
    "torchscript": ("TorchScript (.pt) — deprecated upstream", ".pt"),
    "pt2": ("torch.export program (.pt2)", ".pt2"),
    "onnx": ("ONNX (.onnx)", ".onnx"),
    "torchrun": ("torchrun training folder", ""),
}


class ExportDialog(QDialog):
    """Export the shell's open project; it asks the shell only for the session, the settings and the reports."""

    def __init__(self, shell: Shell, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shell = shell
        self.setWindowTitle("Export")
        self.setMinimumWidth(560)
        self.format = QComboBox()
        for key, (label, _) in FORMATS.items():
            self.format.addItem(label, key)
        self.output = QLineEdit(str(self._default_output("python")))
        self.weights_from = QComboBox()  # the project's runs with weights (newest first), or fresh weights
        self.weights = QLineEdit()
        self.weights.setPlaceholderText("fresh weights from the project's seed")
        self._fill_weight_choices()
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy: the export has no measurable steps
        self.progress.hide()
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Write to", with_browse(self.output, self._browse_output))
        form.addRow("Weights", self.weights_from)
        form.addRow("", with_browse(self.weights, self._browse_weights))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.progress)
        layout.addWidget(self.buttons)
        self.background = Background(self, "export")
        self.format.currentIndexChanged.connect(self._format_changed)
        self._format_changed()

    def _fill_weight_choices(self) -> None:
        """The best (else last) weights of each run of the project, the latest first and chosen; then fresh weights."""
        session = self.shell.session
        for record in session.runs() if session is not None else []:
            weights = record.weights_file
            if weights is not None:
                result = run_cell(record, "test result")
                kind = "best" if weights.name.startswith("best") else "last"
                self.weights_from.addItem(
                    f"{kind} weights of the run of {run_cell(record, 'started')} ({result})", str(weights)
                )
        self.weights_from.addItem("fresh weights from the project's seed", "")
        self.weights_from.currentIndexChanged.connect(lambda _i: self.weights.setText(self.weights_from.currentData()))
        self.weights.setText(self.weights_from.currentData())

    def _default_output(self, fmt: str) -> Path:
        """In the folder last chosen for an export; before any, beside the project (or the last folder used)."""
        path = self.shell.session.path if self.shell.session is not None else None
        stem = path.stem if path is not None else "model"
        folder = dialog_folder(self.shell.settings, EXPORT_FOLDER, path)
        suffix = FORMATS[fmt][1]
        return folder / (f"{stem}_torchrun" if fmt == "torchrun" else f"{stem}{suffix}")

    def _format_changed(self) -> None:
        from modstudio.compile.export.formats import TORCHSCRIPT_DEPRECATED

        fmt = self.format.currentData()
        self.output.setText(str(self._default_output(fmt)))
        notes = {
            "torchscript": TORCHSCRIPT_DEPRECATED,
            "onnx": "Checked with onnxruntime; needs the onnx extra: pip install 'modstudio[onnx]'.",
            "torchrun": "A folder with train.py, the model and the data; run it with torchrun --nproc_per_node=N train.py.",
        }
        note = notes.get(fmt, "One standalone file that needs only torch; the weights load with strict=True.")
        session = self.shell.session
        if fmt in ("pt2", "onnx") and session is not None and uses_expert_choice(session.project):
            note += (
                f" The expert-choice gate's capacity depends on the token count, so this {fmt} file is exported"
                f" for a fixed batch of {session.project.data.batch_size} (the project's batch size)."
            )
        self.note.setText(note)

    def _browse_output(self) -> None:
        fmt = self.format.currentData()
        if fmt == "torchrun":
            chosen = QFileDialog.getExistingDirectory(self, "Folder for the torchrun export", str(self._folder()))
        else:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export to", self.output.text())
        if chosen:
            self.output.setText(chosen)
            remember_folder(self.shell.settings, Path(chosen).parent, EXPORT_FOLDER)

    def _folder(self) -> Path:
        return Path(self.output.text()).parent if self.output.text().strip() else Path.home()

    def _browse_weights(self) -> None:
        folder = self.shell.session.runs_root if self.shell.session is not None else None
        start = str(folder) if folder is not None and folder.is_dir() else str(self._folder())
        chosen, _ = QFileDialog.getOpenFileName(self, "Weights", start, "safetensors (*.safetensors)")
        if chosen:
            self.weights.setText(chosen)

    def start(self) -> None:
        """Run the export in a thread on a copy of the project; the dialog stays responsive."""
        session = self.shell.session
        if session is None:
            return
        fmt, out = self.format.currentData(), self.output.text().strip()
        weights = self.weights.text().strip() or None
        if not out:
            self.note.setText("Choose where to write the export.")
            return
        project = copy.deepcopy(session.project)
        base = session.path.parent if session.path is not None else None
        self.export_button.setEnabled(False)
        self.progress.show()
        self.note.setText(f"Exporting to {fmt}: building, writing, loading back and comparing outputs…")
        self.background.run(lambda: _export(project, fmt, out, weights, base), lambda outcome: self._finished(*outcome))

    def _finished(self, ok: bool, text: str) -> None:
        self.progress.hide()
        self.export_button.setEnabled(True)
        if ok:
            self.accept()
            remember_folder(self.shell.settings, Path(self.output.text().strip()).parent, EXPORT_FOLDER)
            self.shell.inform("Export finished", text)
        else:
            self.note.setText(f"Could not export: {text}")
            self.shell.report("Export failed", text)


def uses_expert_choice(project: Project) -> bool:
    """Whether a mixture of experts of the project routes by expert choice (a fixed-batch export)."""
    return any(
        node.block == "moe" and node.params.get("gate") == "expert_choice"
        for module in project.modules.values()
        for node in module.nodes
    )


def _export(project: Project, fmt: str, out: str, weights: str | None, base: Path | None) -> tuple[bool, str]:
    """Run the export (in a worker thread): whether it worked, and what to tell the user."""
    from modstudio.compile.export import ExportError, export_project
    from modstudio.engine.torchrun import export_torchrun

    try:
        if fmt == "torchrun":
            result = export_torchrun(project, out, weights=weights, force=True, base_dir=base)
        else:
            result = export_project(project, fmt, out, weights=weights, force=True, base_dir=base)
    except ExportError as exc:
        return False, str(exc)
    except Exception as exc:  # anything else: a sentence, never a traceback in the user's face
        return False, f"the export failed: {type(exc).__name__}: {exc}"
    checked = (
        "" if result.max_difference is None else f"\nOutputs match the project's within {result.max_difference:.1e}."
    )
    notes = "".join(f"\nNote: {n}" for n in result.notes)
    return True, f"Wrote {result.path} ({fmt}, top class {result.top_class}).{checked}{notes}"


def show_export_dialog(shell: Shell) -> ExportDialog:
    """Open the dialog without a nested event loop (``open``, not ``exec``: qasync-safe)."""
    dialog = ExportDialog(shell, shell.window())
    dialog.open()
    return dialog
