"""File > Import PyTorch Model…: the options of ``modstudio import``, checked before the import
starts; the import runs in its own process (:mod:`.import_process`) with its progress shown and a
Cancel that stops it; what went wrong is said in the dialog (every unmapped op listed); the project
it wrote opens as the new project, after the usual question about unsaved changes."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from modstudio.graph.io import PROJECT_SUFFIX
from modstudio.importer.errors import ImportProblem
from modstudio.importer.options import SHAPE_EXAMPLE, parse_arguments, parse_shape, weights_path

from .dialogs import dialog_folder, remember_folder, with_browse
from .import_process import ImportOutcome, ImportRun

if TYPE_CHECKING:
    from .shell import Shell

IMPORT_FOLDER = "import_folder"  # QSettings key: where the last model was imported from
RUNS_APART = "The model's code runs in a process of its own, never inside the editor."


class OptionProblem(ValueError):
    """An option the import cannot start with; the message is the sentence the dialog shows."""


@dataclass
class ImportRequest:
    source: str  # path/to/file.py:Name or package.module:Name
    output: Path
    options: list[str] = field(default_factory=list)  # --args, --input-shape, --weights

    def files(self) -> list[Path]:
        """What the import writes: the project and its starting weights."""
        return [self.output, weights_path(self.output)]


def model_names(path: Path) -> list[str]:
    """The classes and functions a Python file defines at its top level, read without running it."""
    return model_definitions(path)[0]


def model_definitions(path: Path) -> tuple[list[str], str]:
    """The classes and functions a Python file defines at its top level, and the one most likely to make
    the whole model, read without running it (one parse). The likely one is the last class with a base,
    or function returning a call, that no other such definition uses (``SmallNet`` rather than its
    ``Block``; ``resnet50`` rather than ``ResNet``; a ``main()`` that only uses the model is none); ""
    when there is none."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return [], ""
    kinds = (ast.ClassDef, ast.FunctionDef)
    names = [node.name for node in tree.body if isinstance(node, kinds) and not node.name.startswith("_")]
    makers = [node for node in tree.body if _makes_something(node) and not node.name.startswith("_")]
    used = {
        node.id for maker in makers for node in ast.walk(maker) if isinstance(node, ast.Name) and node.id != maker.name
    }
    outermost = [maker.name for maker in makers if maker.name not in used]
    return names, outermost[-1] if outermost else ""


def _makes_something(node: ast.stmt) -> bool:
    """A class with a base (an ``nn.Module`` perhaps) or a function that returns a call's result."""
    if isinstance(node, ast.ClassDef):
        return bool(node.bases)
    if isinstance(node, ast.FunctionDef):
        return any(isinstance(n, ast.Return) and isinstance(n.value, ast.Call) for n in ast.walk(node))
    return False


def model_source(model: str, name: str) -> str:
    """``file.py:Name`` (the path made absolute) or ``package.module:Name``, from the two fields."""
    model, name = model.strip(), name.strip()
    if not model:
        raise OptionProblem("Choose the Python file (or type the package.module) that defines the model.")
    if not name and ":" in model and not model.endswith(".py"):
        model, _, name = model.rpartition(":")
    if not name:
        raise OptionProblem("Name the class or the function that makes the model (for example ResNet or resnet50).")
    if not all(part.isidentifier() for part in name.split(".")):
        raise OptionProblem(f"'{name}' is not a Python name: give the class or function that makes the model.")
    if model.endswith(".py"):
        path = Path(model).expanduser()
        if not path.is_file():
            raise OptionProblem(f"The model file {path} does not exist.")
        return f"{path.resolve()}:{name}"
    if not all(part.isidentifier() for part in model.split(".")):
        raise OptionProblem(f"'{model}' is neither a .py file nor a package.module name.")
    return f"{model}:{name}"


def check_arguments(text: str) -> str | None:
    """The keyword arguments as JSON text for ``--args``, or None when there are none."""
    try:
        value = parse_arguments(text, "The Arguments field")
    except ImportProblem as exc:
        raise OptionProblem(f"{exc}.") from None
    return json.dumps(value) if text.strip() else None


def check_shape(text: str) -> str:
    """The input shape as ``--input-shape`` takes it: whole numbers, the batch first."""
    try:
        return ",".join(map(str, parse_shape(text, "The input shape")))
    except ImportProblem as exc:
        raise OptionProblem(f"{exc}.") from None


def check_request(model: str, name: str, arguments: str, shape: str, weights: str, output: str) -> ImportRequest:
    """The dialog's fields as an import to run; :class:`OptionProblem` with a sentence for the first bad one."""
    source = model_source(model, name)
    options: list[str] = []
    args = check_arguments(arguments)
    if args is not None:
        options += ["--args", args]
    options += ["--input-shape", check_shape(shape)]
    if weights.strip():
        weights_path = Path(weights.strip()).expanduser()
        if not weights_path.is_file():
            raise OptionProblem(f"The weights file {weights_path} does not exist.")
        options += ["--weights", str(weights_path.resolve())]
    if not output.strip():
        raise OptionProblem("Choose where to save the imported project.")
    out = Path(output.strip()).expanduser()
    if out.suffix != PROJECT_SUFFIX:
        out = out.with_name(out.name + PROJECT_SUFFIX)
    if not out.parent.is_dir():
        raise OptionProblem(f"The folder {out.parent} does not exist.")
    return ImportRequest(source, out.resolve(), options)


class ImportDialog(QDialog):
    """The import's options; ``imported(path, summary)`` once the project is written."""

    imported = Signal(object, str)

    def __init__(self, shell: Shell, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shell = shell
        self.run: ImportRun | None = None
        self.name_imported = ""
        self.setWindowTitle("Import PyTorch Model")
        self.setMinimumWidth(620)
        self.model = QLineEdit()
        self.model.setPlaceholderText("path/to/model.py, or package.module")
        self.name = QComboBox()
        self.name.setEditable(True)
        self.name.lineEdit().setPlaceholderText("the nn.Module class, or a function returning one")
        self.arguments = QLineEdit()
        self.arguments.setPlaceholderText('keyword arguments as JSON, e.g. {"num_classes": 10}')
        self.shape = QLineEdit(SHAPE_EXAMPLE)
        self.weights = QLineEdit()
        self.weights.setPlaceholderText("the model's own (or a .safetensors / torch.save'd state dict)")
        self.output = QLineEdit()
        self.output.setPlaceholderText(f"beside the model file, named after the model ({PROJECT_SUFFIX})")
        self._output_chosen = False  # once the person edits it, the destination no longer follows the model
        form = QFormLayout()
        form.addRow("Model", with_browse(self.model, self._browse_model))
        form.addRow("Class or function", self.name)
        form.addRow("Arguments", self.arguments)
        form.addRow("Input shape", self.shape)
        form.addRow("Weights", with_browse(self.weights, self._browse_weights))
        form.addRow("Save as", with_browse(self.output, self._browse_output))
        self.note = QLabel(RUNS_APART)
        self.note.setWordWrap(True)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.hide()
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.details)
        layout.addWidget(self.progress)
        layout.addWidget(self.buttons)
        self._name_typed = False  # a name the person typed is kept when the model file changes
        self.model.textChanged.connect(self._model_changed)
        self.name.lineEdit().textEdited.connect(lambda _text: setattr(self, "_name_typed", True))
        for edit in (self.model, self.arguments, self.shape, self.weights, self.output):
            edit.textEdited.connect(self._options_edited)
        self.name.lineEdit().textEdited.connect(self._options_edited)
        self.name.currentTextChanged.connect(lambda _text: self._suggest_output())
        self.output.textEdited.connect(lambda _text: setattr(self, "_output_chosen", True))

    # the fields ---------------------------------------------------------------------------

    def _model_changed(self, text: str) -> None:
        path = Path(text.strip()).expanduser()
        if text.strip().endswith(".py") and path.is_file():
            typed, (names, likely) = self.name.currentText(), model_definitions(path)
            self.name.blockSignals(True)
            self.name.clear()
            self.name.addItems(names)
            self.name.blockSignals(False)
            if typed and (self._name_typed or typed in names):
                self.name.setEditText(typed)
            else:  # the previous file's choice means nothing here: the file's likely model instead
                self.name.setEditText(likely or (names[0] if names else ""))
        self._suggest_output()

    def _options_edited(self, _text: str) -> None:
        """What the last import said is about other options: once one changes, the usual note again."""
        if self.run is None and self.note.objectName() == "error":
            self._say(RUNS_APART, problem=False)

    def _suggest_output(self) -> None:
        """Beside the model file (else in the folder last used), named after the class or function."""
        if self._output_chosen:
            return
        model, name = self.model.text().strip(), self.name.currentText().strip()
        if not model:
            return
        if model.endswith(".py"):
            folder, stem = Path(model).expanduser().resolve().parent, name or Path(model).stem
        else:
            folder = dialog_folder(self.shell.settings, IMPORT_FOLDER, None)
            stem = name or model.rpartition(":")[2] or model.rpartition(".")[2]
        self.output.setText(str(folder / f"{stem}{PROJECT_SUFFIX}"))

    def _browse_model(self) -> None:
        start = dialog_folder(self.shell.settings, IMPORT_FOLDER, None)
        chosen, _ = QFileDialog.getOpenFileName(self, "Model file", str(start), "Python (*.py)")
        if chosen:
            self.model.setText(chosen)
            remember_folder(self.shell.settings, Path(chosen).parent, IMPORT_FOLDER)

    def _browse_weights(self) -> None:
        start = Path(self.model.text().strip()).expanduser().parent if self.model.text().strip() else Path.home()
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Weights", str(start), "Weights (*.safetensors *.pt *.pth *.bin);;All files (*)"
        )
        if chosen:
            self.weights.setText(chosen)

    def _browse_output(self) -> None:
        chosen, _ = QFileDialog.getSaveFileName(
            self, "Save the imported project as", self.output.text(), f"ModStudio projects (*{PROJECT_SUFFIX})"
        )
        if chosen:
            self.output.setText(chosen)
            self._output_chosen = True

    # running ------------------------------------------------------------------------------

    def request(self) -> ImportRequest:
        return check_request(
            self.model.text(),
            self.name.currentText(),
            self.arguments.text(),
            self.shape.text(),
            self.weights.text(),
            self.output.text(),
        )

    def start(self) -> None:
        """Check the options, then run the import in its own process."""
        if self.run is not None:
            return
        try:
            request = self.request()
        except OptionProblem as problem:
            self._say(str(problem))
            return
        existing = [p for p in request.files() if p.exists()]
        if existing and not self.shell.ask(
            "Replace files?", "\n".join(f"{p} already exists." for p in existing) + "\nReplace with the import?"
        ):
            return
        self.name_imported = request.source.rpartition(":")[2]
        self.run = ImportRun(request.source, request.output, request.options, self)
        self.run.progress.connect(self._progress)
        self.run.finished.connect(self._finished)
        self._set_running(True)
        self.run.start()

    def _say(self, sentence: str, details: str = "", problem: bool = True) -> None:
        self.note.setText(sentence)
        self.note.setObjectName("error" if problem else "")  # the theme colours #error labels
        self.note.style().unpolish(self.note)
        self.note.style().polish(self.note)
        self.details.setPlainText(details)
        self.details.setVisible(bool(details))
        self.adjustSize()

    def _set_running(self, running: bool) -> None:
        for field_ in (self.model, self.name, self.arguments, self.shape, self.weights, self.output):
            field_.setEnabled(not running)
        self.import_button.setEnabled(not running)
        self.progress.setVisible(running)
        if running:
            self.progress.setValue(0)
            self._say("Importing…", problem=False)

    def _progress(self, text: str, fraction: float) -> None:
        self.progress.setValue(round(fraction * 100))
        self.note.setText(f"Importing: {text}…")

    def _finished(self, outcome: ImportOutcome) -> None:
        if self.run is not None:
            self.run.deleteLater()  # its process has ended
        self.run = None
        self._set_running(False)
        if outcome.ok and outcome.path is not None:
            remember_folder(self.shell.settings, outcome.path.parent, IMPORT_FOLDER)
            self.accept()
            self.imported.emit(outcome.path, short_summary(outcome.text, self.name_imported))
            return
        if outcome.cancelled:
            self._say(outcome.text, problem=False)
            return
        first, _, rest = outcome.text.partition("\n")
        lines = [line for line in rest.splitlines() if line.strip() and line.strip() != "nothing was written"]
        listed = [f"• {line.strip()}" if line.startswith("  ") else line for line in lines]  # the unmapped ops
        self._say(f"Could not import (nothing was written): {first}", "\n".join(listed))

    def cancel(self) -> None:
        """Stop a running import (nothing is written); the dialog stays open."""
        if self.run is not None:
            self.run.cancel()

    def reject(self) -> None:
        """Cancel: stops a running import first; a second Cancel closes the dialog."""
        if self.run is not None:
            self.cancel()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.run is not None:
            self.run.cancel()
            self.run.wait(5000)
        super().closeEvent(event)


def short_summary(summary: str, name: str) -> str:
    """The importer's line for the status bar: what was imported, without the paths it names."""
    counts = summary.partition("; wrote ")[0].partition(": ")[2]
    return f"Imported {name}: {counts}" if counts else summary


def open_imported(shell: Shell, path: Path, summary: str) -> bool:
    """The imported project replaces the open one, after the question about unsaved changes."""
    if not shell.confirm_discard():
        shell.show_status(f"Imported into {path}; it is not open (open it with File > Open).", 15000)
        return False
    if not shell.open_path(path):
        return False
    shell.show_status(summary, 15000)
    return True


def show_import_dialog(shell: Shell) -> ImportDialog:
    """Open the dialog without a nested event loop (``open``, not ``exec``: qasync-safe)."""
    dialog = ImportDialog(shell, shell.window())
    dialog.imported.connect(lambda path, summary: open_imported(shell, path, summary))
    dialog.open()
    return dialog
