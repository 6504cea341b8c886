"""The dataset's fields of the training panel: the editors of a dataset's options, of augmentation
and of the curriculum, the values they show, the options kept when the dataset changes, and the
data file or folder chosen with a dialog.

The editors commit through the callable they are given (the panel's edit, which checks the value
and makes it an undoable operation); nothing here changes the project.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QPushButton, QWidget

from modstudio.engine.dataset_facts import OPTIONS, DatasetProblem, OptionSpec, checked_options
from modstudio.graph.model import DataSection

from .section_editors import BoolEditor, ChoiceEditor, LineEditor, ValueEditor, number_parser, show_number

Commit = Callable[[Any], str | None]  # the value, or why it was refused
DATA_SPECIAL = ("dataset", "options", "augmentation", "curriculum")  # fields with editors of their own
AUGMENTATION: dict[str, type] = {"noise": float, "flip": bool, "crop_padding": int}
CURRICULUM: dict[str, Any] = {"start": 0.3, "epochs": 5, "score": "auto"}


def option_editor(
    dataset: str, spec: OptionSpec, commit: Commit, browse: Callable[[ValueEditor, bool], None]
) -> ValueEditor:
    """The editor of one option of ``dataset``; a ``path`` option gets a "…" button that calls ``browse``."""
    editor: ValueEditor
    if spec.choices:
        editor = ChoiceEditor(list(spec.choices), commit)
    elif spec.kind is bool:
        editor = BoolEditor(commit)
    elif spec.kind in (int, float):
        editor = LineEditor(number_parser(spec.kind, False), show_number, commit, str(spec.default))
    else:
        hint = "relative to the project file" if spec.name == "path" else spec.doc or "default"
        editor = LineEditor(lambda text: text.strip(), lambda v: v or "", commit, hint)
    if spec.name == "path":
        button = QPushButton("…")
        button.setToolTip("Choose a folder" if dataset == "image_folder" else "Choose a file")
        button.clicked.connect(lambda: browse(editor, dataset == "image_folder"))
        editor.row.addWidget(button)
    help_text = spec.doc or (f"one of {', '.join(spec.choices)}" if spec.choices else "")
    editor.field.setProperty("help", help_text)
    editor.field.setToolTip(help_text)
    return editor


def augmentation_editor(name: str, kind: type, commit: Commit) -> ValueEditor:
    if kind is bool:
        return BoolEditor(commit, "images only")
    hint = "off" if name == "noise" else "off (pixels, images only)"
    return LineEditor(number_parser(kind, True), show_number, commit, hint)


def curriculum_editor(name: str, default: Any, commit: Commit) -> ValueEditor:
    if name == "score":
        return ChoiceEditor(["auto", "centroid"], commit)
    return LineEditor(number_parser(type(default), False), show_number, commit, str(default))


def dataset_value(data: DataSection, name: str, rest: list[str]) -> Any:
    """What the field ``data.<name>.<rest>`` shows: an option (its default when unset), an augmentation,
    whether a curriculum is on or one of its settings (its default when unset); else the section's value."""
    value = getattr(data, name)
    if name == "options":
        spec = next(o for o in OPTIONS.get(data.dataset, ()) if o.name == rest[0])
        return value.get(rest[0], spec.default)
    if name == "augmentation":
        return value.get(rest[0])
    if name == "curriculum":
        if not rest:
            return value is not None
        return (value or {}).get(rest[0], CURRICULUM[rest[0]])
    return value


def options_kept(data: DataSection, dataset: str) -> dict[str, Any]:
    """The options of ``data`` that ``dataset`` also has, when they suit it (else none)."""
    kept = {k: v for k, v in data.options.items() if any(o.name == k for o in OPTIONS[dataset])}
    try:
        checked_options(dataset, kept)
    except DatasetProblem:
        return {}
    return kept


def choose_data_path(parent: QWidget, folder: bool, project_path: Path | None) -> str | None:
    """An image folder or a data file chosen with a dialog, relative to the project's folder when inside it."""
    start = str(project_path.parent) if project_path else ""
    if folder:
        chosen = QFileDialog.getExistingDirectory(parent, "Image folder (one subfolder per class)", start)
    else:
        chosen = QFileDialog.getOpenFileName(parent, "Data file", start)[0]
    if not chosen:
        return None
    path = Path(chosen)
    if project_path is not None and path.is_relative_to(project_path.parent):
        path = path.relative_to(project_path.parent)
    return str(path)
