"""The Evaluation dock: what a finished run gets right and wrong, per class and per expert.

``set_run(folder)`` remembers the run (the Runs dock's open); the evaluation is computed when
the dock is shown or Evaluate is pressed, in a ``Background`` thread that loads torch, runs the
split and draws the PNGs (numpy and Pillow). The GUI thread only receives a finished dict and
PNG bytes; a newer request makes older results be ignored. Save Report… writes the same HTML
report as ``modstudio evaluate --report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from modstudio.ui.background import Background
from modstudio.ui.evaluation_views import AttributionsView, ClassesView, ExpertsView, MistakesView

if TYPE_CHECKING:
    from .shell import Shell
    from .training_ui import TrainingUI


class EvaluationPanel(QWidget):
    shown = Signal()  # a finished evaluation has been drawn

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run: Path | None = None
        self.result: dict[str, Any] | None = None
        self._request = 0
        self._evaluated: tuple[Path, str] | None = None
        self.background = Background(self, "evaluation")
        self.status = QLabel("Open a finished run (Runs dock) to evaluate it.")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.split = QComboBox()
        self.split.addItems(["test", "val", "train"])
        self.split.setToolTip("the split to evaluate, cut as the run cut it")
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.clicked.connect(lambda: self.evaluate(force=True))
        self.save_button = QPushButton("Save Report…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._ask_report_folder)
        self.classes, self.mistakes = ClassesView(), MistakesView()
        self.experts, self.attributions = ExpertsView(), AttributionsView()
        self.tabs = QTabWidget()
        for view, title in (
            (self.classes, "Classes"),
            (self.mistakes, "Mistakes"),
            (self.experts, "Experts"),
            (self.attributions, "Attributions"),
        ):
            self.tabs.addTab(view, title)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(QLabel("split"))
        for widget in (self.split, self.evaluate_button, self.save_button):
            top.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)

    def set_run(self, folder: Path | None) -> None:
        self.run = None if folder is None else Path(folder)
        self.status.setText(
            f"Run {self.run.name}: press Evaluate." if self.run else "Open a finished run to evaluate it."
        )

    def evaluate(self, force: bool = False) -> None:
        """Evaluate the run on the chosen split in a worker thread (again only when asked, or when run or split changed)."""
        if self.run is None:
            return
        key = (self.run, self.split.currentText())
        if key == self._evaluated and not force:
            return
        self._evaluated = key
        self._request += 1
        number, run, split = self._request, self.run, key[1]
        self.status.setText(f"evaluating {run.name} on the {split} split… (loading weights, running the network)")
        self.evaluate_button.setEnabled(False)
        self.background.run(lambda: evaluate_and_draw(run, split), lambda outcome: self._finished(number, outcome))

    def _finished(self, number: int, outcome: object) -> None:
        if number != self._request:
            return
        self.evaluate_button.setEnabled(True)
        if isinstance(outcome, tuple):
            self.show_result(*outcome)
        else:
            message = getattr(outcome, "message", None) or f"{type(outcome).__name__}: {outcome}"
            self.status.setText(f"cannot evaluate: {message}")
            self._evaluated = None

    def show_result(self, result: dict[str, Any], pictures: dict[str, Any]) -> None:
        self.result = result
        if result["task"] == "classification":
            summary = f"accuracy {result['accuracy']:.3f}, ECE {result['calibration']['ece']:.3f}, {len(result['gallery'])} mistakes shown"
        else:
            summary = f"R² {result['r2']:.3f}, MAE {result['mae']:.4g}"
        self.status.setText(
            f"{result['project']} — run {Path(result['run']).name}, {result['split']} split ({result['samples']} samples): {summary}"
        )
        for view in (self.classes, self.mistakes, self.experts, self.attributions):
            view.show_result(result, pictures)
        self.save_button.setEnabled(True)
        self.shown.emit()

    def _ask_report_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the evaluation report")
        if folder:
            self.save_report(Path(folder))

    def save_report(self, folder: Path) -> None:
        result = self.result
        if result is None:
            return
        self.status.setText(f"writing the report into {folder}…")

        def done(outcome: object) -> None:
            self.status.setText(
                f"wrote {outcome}" if isinstance(outcome, Path) else f"cannot write the report: {outcome}"
            )

        self.background.run(lambda: _write_report(result, folder), done)


def _write_report(result: dict[str, Any], folder: Path) -> Path:
    from modstudio.engine.evaluation.report import write_report

    return write_report(result, folder)


def evaluate_and_draw(run: Path, split: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """In the worker thread: the evaluation (with attributions when Captum is there) and its pictures."""
    from modstudio.engine.evaluation.attribution import captum_missing
    from modstudio.engine.evaluation.evaluate import evaluate_run

    missing = captum_missing()
    result = evaluate_run(run, split, explain=None if missing else "integrated_gradients")
    if missing:
        result["attributions_note"] = f"No attributions: {missing}"
    return result, draw(result)


def draw(result: dict[str, Any]) -> dict[str, Any]:
    """The PNGs the views show (numpy and Pillow only)."""
    from modstudio.engine.evaluation import pictures as p
    from modstudio.engine.evaluation.report import values_text

    out: dict[str, Any] = {}
    classify = result["task"] == "classification"
    names = result.get("class_names", [])
    if classify:
        out["confusion"] = p.confusion_png(result["confusion"], names)
        out["reliability"] = p.reliability_png(result["calibration"])
    else:
        out["residuals"] = p.residuals_png(result["residuals"]["predicted"], result["residuals"]["true"])
    if "points" in result and classify:
        out["points"] = p.points_png(result["points"]["x"], result["points"]["true"], result["points"]["predicted"])
    attributions = result.get("attributions", {})
    label = (lambda c: names[c] if 0 <= c < len(names) else str(c)) if classify else (lambda v: v)
    gallery = []
    for i, (item, sample) in enumerate(zip(result["gallery"], result["gallery_inputs"])):
        routes = "; ".join(f"{k} → {v}" for k, v in item["routes"].items())
        text = f"sample {item['index']}: true {label(item['true'])}, predicted {label(item['predicted'])}"
        text += f", confidence {item['confidence']:.0%}" if classify else ""
        text += f"\nwent to: {routes}" if routes else ""
        entry = {
            "title": f"{label(item['true'])} → {label(item['predicted'])}" if classify else f"#{item['index']}",
            "text": text,
        }
        if result["sample_kind"] == "image":
            entry["sample"], entry["large"] = p.sample_png(sample, 56), p.sample_png(sample, 128)
            sources = (
                ("attribution", "gallery_predicted"),
                ("attribution_true", "gallery_true"),
                ("grad_cam", "gallery_grad_cam"),
            )
            for key, source in sources:
                maps = attributions.get(source, [])
                if i < len(maps):
                    entry[key] = p.sample_png(sample, 128, maps[i])
            entry["method"] = attributions.get("method", "").replace("_", " ")
            if attributions:
                entry["text"] += (
                    f"\npictures: the sample; {entry['method']} for the predicted class; for the true class"
                )
                entry["text"] += "; Grad-CAM (predicted class)" if "grad_cam" in entry else ""
        else:
            entry["text"] += "\nvalues: " + values_text(sample, 16)
        gallery.append(entry)
    out["gallery"] = gallery
    out["unit_confusions"] = [
        [
            p.confusion_png(u["confusion"], names, u["name"]) if classify and u["samples"] else None
            for u in layer["units"]
        ]
        for layer in result["experts"]
    ]
    groups = [("per class", attributions.get("per_class", {}))]
    groups += [(f"per part of {path}", maps) for path, maps in attributions.get("per_expert", {}).items()]
    out["averaged"] = [(title, [(str(n), p.map_png(v, 72)) for n, v in maps.items()]) for title, maps in groups if maps]
    return out


def attach_evaluation(shell: Shell, training: TrainingUI) -> QDockWidget:
    """The Evaluation dock beside the Analysis dock, hidden until asked; it follows the run the Runs dock opens."""
    panel = EvaluationPanel()
    dock = shell.add_dock("Evaluation", panel, Qt.DockWidgetArea.BottomDockWidgetArea, beside=training.analysis_dock)
    dock.hide()
    training.runs.open_run.connect(lambda folder: (panel.set_run(folder), dock.isVisible() and panel.evaluate()))
    dock.visibilityChanged.connect(lambda visible: visible and panel.evaluate())
    panel.split.currentTextChanged.connect(lambda _: dock.isVisible() and panel.evaluate())
    return dock
