"""The training settings panel: edits go through the undo stack, bad values are refused inline,
the dataset preview shows points, thumbnails or rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from modstudio.blocks import default_catalog
from modstudio.graph.document import Document
from modstudio.graph.io import project_to_json
from modstudio.graph.model import DataSection
from modstudio.library import load_template
from modstudio.ui.app import create_app
from modstudio.ui.commands import UndoStack
from modstudio.ui.dataset_preview import DatasetPreview
from modstudio.ui.section_editors import LineEditor
from modstudio.ui.training_panel import TrainingPanel


@pytest.fixture
def panel(qtbot) -> Iterator[tuple[TrainingPanel, UndoStack]]:
    create_app()
    project = load_template("mlp_2d", default_catalog())
    project.data.options = {"samples": 300, "noise": 0.2}
    doc = Document(project, default_catalog())
    stack = UndoStack(doc)
    widget = TrainingPanel()
    widget.set_document(doc, stack.perform)
    widget.resize(420, 900)
    widget.show()
    yield widget, stack
    close(widget)


def close(widget: TrainingPanel | DatasetPreview) -> None:
    """Let background loads finish, then close (qtbot.addWidget would close before fixtures end)."""
    preview = widget if isinstance(widget, DatasetPreview) else widget.preview
    assert preview.background.wait(30), "the dataset preview never finished loading"
    QApplication.processEvents()
    widget.close()
    widget.deleteLater()
    QApplication.processEvents()
    QApplication.clipboard().clear()


def type_into(editor: LineEditor, text: str) -> None:
    editor.line.setFocus()
    editor.line.selectAll()
    QTest.keyClick(editor.line, Qt.Key.Key_Delete)
    QTest.keyClicks(editor.line, text)
    QTest.keyClick(editor.line, Qt.Key.Key_Return)


def test_editing_the_learning_rate_changes_the_project_and_undo_restores_it(panel) -> None:
    widget, stack = panel
    doc = stack.doc
    before = project_to_json(doc.project)
    lr = widget.editors["training.learning_rate"]
    assert isinstance(lr, LineEditor) and lr.line.text() == "0.01"
    type_into(lr, "0.003")
    assert doc.project.training.learning_rate == 0.003
    assert stack.undoText() == "Set learning rate"
    stack.undo()
    assert project_to_json(doc.project) == before
    QTest.qWait(10)  # the form follows the document on the next turn of the event loop
    assert lr.line.text() == "0.01"
    stack.redo()
    QTest.qWait(10)
    assert lr.line.text() == "0.003"


def test_a_bad_value_is_refused_in_red_under_its_field(panel) -> None:
    widget, stack = panel
    lr = widget.editors["training.learning_rate"]
    type_into(lr, "-1")
    assert stack.doc.project.training.learning_rate == 0.01 and stack.count() == 0
    assert lr.error() == "training.learning_rate must be > 0, not -1"
    assert lr.error_label.isVisible() and "e5484d" in lr.line.styleSheet()
    type_into(lr, "abc")
    assert lr.error() == "must be a number, not 'abc'"
    type_into(lr, "0.02")
    assert lr.error() == "" and not lr.error_label.isVisible()
    assert stack.doc.project.training.learning_rate == 0.02


def test_choices_options_and_optional_fields(panel) -> None:
    widget, stack = panel
    project = stack.doc.project
    optimizer = widget.editors["training.optimizer"]
    optimizer.combo.activated.emit(optimizer.choices.index("sgd"))
    assert project.training.optimizer == "sgd"
    patience = widget.editors["training.early_stopping_patience"]
    type_into(patience, "4")
    assert project.training.early_stopping_patience == 4
    type_into(patience, "")
    assert project.training.early_stopping_patience is None
    samples = widget.editors["data.options.samples"]
    type_into(samples, "5")
    assert samples.error().startswith("data.options.samples: must be >= 10, not 5")
    type_into(samples, "400")
    assert project.data.options == {"samples": 400, "noise": 0.2}
    batch = widget.editors["data.batch_size"]
    type_into(batch, "0")
    assert batch.error() == "data.batch_size must be >= 1, not 0" and project.data.batch_size == 64


def test_choosing_a_dataset_shows_its_options_and_is_one_undo_step(panel) -> None:
    widget, stack = panel
    project = stack.doc.project
    dataset = widget.editors["data.dataset"]
    dataset.combo.activated.emit(dataset.choices.index("regimes"))
    assert project.data.dataset == "regimes" and project.data.options == {"samples": 300, "noise": 0.2}
    QTest.qWait(10)
    assert {k for k in widget.editors if k.startswith("data.options.")} == {
        f"data.options.{n}" for n in ("samples", "regions", "noise", "target")
    }
    stack.undo()
    QTest.qWait(10)
    assert project.data.dataset == "moons"
    assert {k for k in widget.editors if k.startswith("data.options.")} == {
        "data.options.samples",
        "data.options.noise",
    }


def test_the_check_lists_what_would_stop_a_run(panel, qtbot) -> None:
    widget, _ = panel
    assert widget.problems() == [] and "Ready to train" in widget.check_label.text()
    dataset = widget.editors["data.dataset"]
    dataset.combo.activated.emit(dataset.choices.index("digits"))
    qtbot.waitUntil(lambda: "Before training can start" in widget.check_label.text())
    assert "Output 'y' gives 2 classes but the digits dataset has 10." in widget.problems()


def test_curriculum_and_augmentation(panel) -> None:
    widget, stack = panel
    project = stack.doc.project
    widget.editors["data.curriculum"].box.click()
    assert project.data.curriculum == {}
    QTest.qWait(10)
    start = widget.editors["data.curriculum.start"]
    assert start.isVisible()
    type_into(start, "1.5")
    assert start.error().startswith("The curriculum's start must be a share in (0, 1]")
    type_into(start, "0.5")
    assert project.data.curriculum == {"start": 0.5}
    type_into(widget.editors["data.augmentation.noise"], "0.05")
    assert project.data.augmentation == {"noise": 0.05}


# the preview ----------------------------------------------------------------------------


@pytest.fixture
def preview(qtbot) -> Iterator[DatasetPreview]:
    create_app()
    widget = DatasetPreview()
    widget.resize(480, 400)
    widget.show()
    yield widget
    close(widget)


def show(widget: DatasetPreview, qtbot, section: DataSection, base: Path | None = None) -> str:
    with qtbot.waitSignal(widget.loaded, timeout=30_000) as blocker:
        widget.show_section(section, base)
        assert widget.is_loading() and widget.title.text() == f"loading {section.dataset}…"
    return blocker.args[0]


@pytest.mark.parametrize(("dataset", "options"), [("moons", {"samples": 250}), ("regimes", {"samples": 333})])
def test_two_dimensional_data_is_a_scatter_with_every_point(preview, qtbot, dataset, options) -> None:
    assert show(preview, qtbot, DataSection(dataset, options)) == "scatter"
    assert preview.kind() == "scatter" and preview.shown_count() == options["samples"]
    assert len(preview.scatter.data) == options["samples"]
    assert "class 0" in preview.legend.text() and "class 1" in preview.legend.text()


def test_digits_are_thumbnails_with_their_labels(preview, qtbot) -> None:
    assert show(preview, qtbot, DataSection("digits")) == "images"
    assert preview.shown_count() == 32
    assert preview.title.text().startswith("digits: 1,797 samples of shape [1, 8, 8], 10 classes")


def test_a_csv_is_a_table_of_its_first_rows(preview, qtbot, tmp_path: Path) -> None:
    rows = "".join(f"{i},{i * 0.5},{'yes' if i % 2 else 'no'}\n" for i in range(20))
    (tmp_path / "small.csv").write_text("age,score,passed\n" + rows)
    assert show(preview, qtbot, DataSection("csv", {"path": "small.csv"}), tmp_path) == "table"
    assert preview.shown_count() == 20
    assert [preview.table.horizontalHeaderItem(c).text() for c in range(3)] == ["age", "score", "passed"]
    assert preview.table.item(3, 2).text() == "yes"


def test_a_missing_file_is_an_error_in_words(preview, qtbot, tmp_path: Path) -> None:
    assert show(preview, qtbot, DataSection("csv", {"path": "nowhere.csv"}), tmp_path) == "error"
    assert preview.shown_count() == 0
    assert preview.title.text() == f"data.options.path: {tmp_path / 'nowhere.csv'} does not exist"


def test_only_the_newest_request_is_shown(preview, qtbot) -> None:
    preview.show_section(DataSection("digits"))
    show(preview, qtbot, DataSection("moons", {"samples": 120}))
    qtbot.wait(200)
    assert preview.kind() == "scatter" and preview.shown_count() == 120


def test_an_image_folder_is_thumbnails_named_by_their_folder(preview, qtbot, tmp_path: Path) -> None:
    from PIL import Image

    for name, shade in (("cats", 40), ("dogs", 200)):
        (tmp_path / "pets" / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (10, 12), (shade, i * 50, 0)).save(tmp_path / "pets" / name / f"{i}.png")
    section = DataSection("image_folder", {"path": "pets", "image_size": 16})
    assert show(preview, qtbot, section, tmp_path) == "images"
    assert preview.shown_count() == 6
    assert [preview.images.item(i).text() for i in range(6)] == ["cats"] * 3 + ["dogs"] * 3


def test_statistics_every_is_off_until_set_and_refuses_zero(panel) -> None:
    widget, stack = panel
    project = stack.doc.project
    every = widget.editors["training.statistics_every"]
    assert isinstance(every, LineEditor) and every.line.text() == ""
    assert every.line.placeholderText() == "off (steps between module statistics)"
    type_into(every, "0")
    assert every.error() == "training.statistics_every must be >= 1, not 0"
    assert project.training.statistics_every is None
    type_into(every, "50")
    assert project.training.statistics_every == 50 and '"statistics_every": 50' in project_to_json(project)
    stack.undo()
    assert project.training.statistics_every is None and "statistics_every" not in project_to_json(project)
