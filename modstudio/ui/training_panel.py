"""The training settings panel: the project's data and training sections, a dataset preview,
and what would stop a run from starting.

Every edit is a :class:`SetSectionField` given to ``perform`` (the undo stack), so it can be
undone; a value the section's rules refuse is shown in red under its field, with the
reason, and the project keeps its value. The form follows the document: undo, redo and
edits elsewhere show up here through the document's change events.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import html
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from modstudio.engine.dataset_facts import OPTIONS, DatasetProblem, checked_options
from modstudio.engine.precheck import augmentation_problems, curriculum_problems, training_problems
from modstudio.graph.document import Batch, Change, ChangeKind, Document, Operation, OperationError
from modstudio.graph.model import DataSection, TrainingSection
from modstudio.graph.section_ops import SetSectionField, check_section_value

from .dataset_fields import (
    AUGMENTATION,
    CURRICULUM,
    DATA_SPECIAL,
    augmentation_editor,
    choose_data_path,
    curriculum_editor,
    dataset_value,
    option_editor,
    options_kept,
)
from .dataset_preview import DatasetPreview
from .search_dimension import Hint
from .search_marks import SearchMarks, hint_of_field, hint_of_option
from .section_editors import (
    BoolEditor,
    ChoiceEditor,
    LineEditor,
    ValueEditor,
    editor_for,
    parse_weights,
    show_weights,
)

Perform = Callable[[Operation], Any]
LABELS = {
    "val_fraction": "validation share",
    "test_fraction": "test share",
    "learning_rate": "learning rate",
    "early_stopping_patience": "early stopping",
    "grad_clip": "gradient clip",
    "aux_loss_weights": "aux-loss weights",
    "init_weights": "start from weights",
    "statistics_every": "statistics every",
}
PLACEHOLDERS = {
    "early_stopping_patience": "off (epochs without improvement)",
    "grad_clip": "off (max gradient norm)",
    "aux_loss_weights": "e.g. load_balance=0.01, z_loss=0.001",
    "init_weights": "none (a .safetensors file)",
    "statistics_every": "off (steps between module statistics)",
}


class TrainingPanel(QScrollArea):
    """Data and training settings of one project; ``editors`` maps "data.batch_size" etc. to its editor."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc: Document | None = None
        self.perform: Perform | None = None
        self.project_path: Path | None = None
        self.editors: dict[str, ValueEditor] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._options_for: str | None = None
        self._previewed: tuple[Any, ...] | None = None
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(320)
        page = QWidget()
        layout = QVBoxLayout(page)
        self.data_box, self.data_form = _group("Data")
        self._option_rows = 0
        self.preview = DatasetPreview()
        self.training_box, self.training_form = _group("Training")
        self.check_label = QLabel()
        self.check_label.setWordWrap(True)
        for widget in (self.data_box, self.preview, self.training_box, self.check_label):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.setWidget(page)
        self.marks = SearchMarks(self)  # the magnifier beside each setting a search can vary
        self._build_forms()
        self._refresh_timer = _timer(self, 0, self.refresh)
        self._preview_timer = _timer(self, 250, self._update_preview)
        self._check_timer = _timer(self, 300, self.update_check)
        self.setEnabled(False)

    # the document -----------------------------------------------------------------------

    def set_document(self, doc: Document | None, perform: Perform | None, project_path: Path | None = None) -> None:
        """Show ``doc``'s settings; edits go through ``perform(op)`` (e.g. Canvas.perform)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.doc, self.perform, self.project_path = doc, perform, project_path
        self._previewed = None
        if doc is not None:
            self._unsubscribe = doc.subscribe(self._on_change)
        self.marks.set_document(doc, perform)
        self.setEnabled(doc is not None)
        self.refresh()
        self.update_check()

    def set_project_path(self, path: Path | None) -> None:
        """Where the project is saved: dataset paths are relative to its folder."""
        self.project_path = path
        self._previewed = None
        self._preview_timer.start()
        self._check_timer.start()

    def _on_change(self, change: Change) -> None:
        try:
            if change.kind in (ChangeKind.SECTION_CHANGED, ChangeKind.TRAINING_CHANGED):
                self._refresh_timer.start()
            self._check_timer.start()
        except RuntimeError:  # the panel was deleted while still listening: stop listening
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None

    def refresh(self) -> None:
        """Show the project's values in every field (and the options of its dataset)."""
        if self.doc is None:
            self.preview.show_section(None)
            return
        data = self.doc.project.data
        if data.dataset != self._options_for:
            self._build_options(data.dataset)
        for key, editor in self.editors.items():
            editor.show_value(self._value_of(key))
        for name in CURRICULUM:  # shown only while a curriculum is on
            self.data_form.setRowVisible(self.editors[f"data.curriculum.{name}"], data.curriculum is not None)
        if self._previewed != _preview_key(data):
            self._preview_timer.start()

    def _value_of(self, key: str) -> Any:
        assert self.doc is not None
        section, name, *rest = key.split(".")
        if section == "data":
            return dataset_value(self.doc.project.data, name, rest)
        return getattr(getattr(self.doc.project, section), name)

    # building the forms ----------------------------------------------------------------

    def _build_forms(self) -> None:
        names = list(OPTIONS)
        dataset = ChoiceEditor(names, self._choose_dataset)
        self._add(self.data_form, "data.dataset", "dataset", dataset)
        hints = typing.get_type_hints(DataSection, include_extras=True)
        for f in dataclasses.fields(DataSection):
            if f.name not in DATA_SPECIAL:
                self._add_field(self.data_form, "data", f.name, hints[f.name])
        for name, kind in AUGMENTATION.items():
            editor = augmentation_editor(name, kind, functools.partial(self._set_augmentation, name))
            self._add(self.data_form, f"data.augmentation.{name}", f"augment: {name.replace('_', ' ')}", editor)
        curriculum = BoolEditor(self._toggle_curriculum, "easy samples first")
        self._add(self.data_form, "data.curriculum", "curriculum", curriculum)
        for name, default in CURRICULUM.items():
            editor = curriculum_editor(name, default, functools.partial(self._set_curriculum, name))
            self._add(self.data_form, f"data.curriculum.{name}", f"    {name}", editor)
        hints = typing.get_type_hints(TrainingSection, include_extras=True)
        for f in dataclasses.fields(TrainingSection):
            if f.name == "aux_loss_weights":
                editor = LineEditor(parse_weights, show_weights, self._setter("training", f.name), PLACEHOLDERS[f.name])
                self._add(self.training_form, "training.aux_loss_weights", LABELS[f.name], editor)
            else:
                self._add_field(self.training_form, "training", f.name, hints[f.name])

    def _add(self, form: QFormLayout, key: str, label: str, editor: ValueEditor, hint: Hint | None = None) -> None:
        form.addRow(label, editor)
        self.editors[key] = editor
        if hint is not None:  # a setting a search can vary: its mark at the field's right
            editor.row.addWidget(self.marks.add(key, form.labelForField(editor), hint))  # type: ignore[arg-type]

    def _add_field(self, form: QFormLayout, section: str, name: str, annotation: Any) -> None:
        editor = editor_for(annotation, self._setter(section, name), PLACEHOLDERS.get(name, ""))
        label, hint = LABELS.get(name, name.replace("_", " ")), hint_of_field(annotation)
        self._add(form, f"{section}.{name}", label, editor, hint)

    def _build_options(self, dataset: str) -> None:
        for key in [k for k in self.editors if k.startswith("data.options.")]:
            del self.editors[key]
        self.marks.clear("data.options.")
        for _ in range(self._option_rows):
            self.data_form.removeRow(1)  # the rows under the dataset's
        specs = OPTIONS.get(dataset, ())
        for row, spec in enumerate(specs, start=1):
            editor = option_editor(dataset, spec, functools.partial(self._set_option, spec.name), self._browse)
            self.data_form.insertRow(row, f"    {spec.name.replace('_', ' ')}", editor)
            self.editors[f"data.options.{spec.name}"] = editor
            hint = hint_of_option(spec)
            if hint is not None:
                label = self.data_form.labelForField(editor)
                editor.row.addWidget(self.marks.add(f"data.options.{spec.name}", label, hint))  # type: ignore[arg-type]
        self._option_rows = len(specs)
        self._options_for = dataset

    # edits -----------------------------------------------------------------------------

    def _setter(self, section: str, name: str) -> Callable[[Any], str | None]:
        return lambda value: self._set(section, name, value)

    def _set(self, section: str, name: str, value: Any) -> str | None:
        if self.doc is None:
            return "no project is open"
        current = getattr(self.doc.project, section)
        try:
            checked = check_section_value(section, current, name, value)
        except OperationError as exc:
            return str(exc)
        if checked == getattr(current, name) and type(checked) is type(getattr(current, name)):
            return None
        return self._perform(SetSectionField(section, name, value))  # type: ignore[arg-type]

    def _perform(self, op: Operation) -> str | None:
        if self.perform is None:
            return "this project cannot be edited"
        try:
            done = self.perform(op)
        except OperationError as exc:
            return str(exc)
        return "not done (see the status bar)" if done is False else None

    def _choose_dataset(self, name: str) -> str | None:
        if self.doc is None:
            return "no project is open"
        data = self.doc.project.data
        if name == data.dataset:
            return None
        kept = options_kept(data, name)
        ops: list[Operation] = [SetSectionField("data", "dataset", name), SetSectionField("data", "options", kept)]
        return self._perform(Batch(ops, f"Use the {name} dataset"))

    def _set_option(self, name: str, value: Any) -> str | None:
        assert self.doc is not None
        data = self.doc.project.data
        options = {**data.options, name: value}
        try:
            checked_options(data.dataset, options)
        except DatasetProblem as exc:
            return str(exc)
        return self._set("data", "options", options)

    def _set_augmentation(self, name: str, value: Any) -> str | None:
        assert self.doc is not None
        spec = {k: v for k, v in self.doc.project.data.augmentation.items() if k != name}
        if value not in (None, False, 0):
            spec[name] = value
        problems = augmentation_problems({name: value} if value is not None else {}, is_image=True)
        return problems[0] if problems else self._set("data", "augmentation", spec)

    def _toggle_curriculum(self, on: bool) -> str | None:
        return self._set("data", "curriculum", {} if on else None)

    def _set_curriculum(self, name: str, value: Any) -> str | None:
        assert self.doc is not None
        spec = {**(self.doc.project.data.curriculum or {}), name: value}
        problems = curriculum_problems(spec)
        return problems[0] if problems else self._set("data", "curriculum", spec)

    def _browse(self, editor: ValueEditor, folder: bool) -> None:
        chosen = choose_data_path(self, folder, self.project_path)
        if chosen is not None:
            editor.submit(chosen)

    # preview and check -----------------------------------------------------------------

    def _base_dir(self) -> Path | None:
        return self.project_path.parent if self.project_path is not None else None

    def _update_preview(self) -> None:
        if self.doc is None or not self.isVisible():  # loading data costs CPU (and the GIL): only when seen
            return
        data = self.doc.project.data
        self._previewed = _preview_key(data)
        self.preview.show_section(data, self._base_dir())

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.doc is not None and self._previewed != _preview_key(self.doc.project.data):
            self._preview_timer.start()

    def problems(self) -> list[str]:
        """Why a run would be refused now (empty: ready to train)."""
        if self.doc is None:
            return ["No project is open."]
        return training_problems(self.doc.project, project_path=self.project_path)

    def update_check(self) -> None:
        problems = self.problems()
        if problems:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
            self.check_label.setText(f"<b>Before training can start:</b><ul style='margin-left:-20px'>{items}</ul>")
            self.check_label.setObjectName("error")
        else:
            self.check_label.setText("✓ Ready to train.")
            self.check_label.setObjectName("doc")
        self.check_label.style().unpolish(self.check_label)
        self.check_label.style().polish(self.check_label)


def _preview_key(data: DataSection) -> tuple[Any, ...]:
    """What the preview shows depends on (augmentation and batching do not change the data)."""
    return (data.dataset, copy.deepcopy(data.options), data.seed)


def _group(title: str) -> tuple[QGroupBox, QFormLayout]:
    box = QGroupBox(title)
    form = QFormLayout(box)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return box, form


def _timer(parent: QWidget, interval: int, slot: Callable[[], None]) -> QTimer:
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(interval)
    timer.timeout.connect(slot)
    return timer
