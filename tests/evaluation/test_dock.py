"""The Evaluation dock shows a computed evaluation of a finished run (offscreen)."""

from __future__ import annotations

from pathlib import Path

from modstudio.ui.evaluation_dock import EvaluationPanel


def test_the_dock_shows_the_evaluation_of_a_run(qtbot, tree_run: tuple[Path, Path]) -> None:  # type: ignore[no-untyped-def]
    panel = EvaluationPanel()
    qtbot.addWidget(panel)
    panel.set_run(tree_run[1])
    with qtbot.waitSignal(panel.shown, timeout=120_000):
        panel.evaluate()
    result = panel.result
    assert result is not None and f"accuracy {result['accuracy']:.3f}" in panel.status.text()
    assert panel.classes.table.rowCount() == 10 and panel.classes.table.item(3, 0).text() == "3"
    assert not panel.classes.matrix.pixmap().isNull() and not panel.classes.reliability.pixmap().isNull()
    gallery = panel.mistakes.gallery
    assert gallery.count() == len(result["gallery"]) > 0
    first = result["gallery"][0]
    assert gallery.item(0).text() == f"{first['true']} → {first['predicted']}"
    assert "went to: tree → branch" in panel.mistakes.detail.text()
    assert not panel.mistakes.large[1].pixmap().isNull()  # the attribution over the chosen sample
    assert panel.experts.layer.currentText() == "tree (tree)"
    assert panel.experts.table.rowCount() == 2 and panel.experts.table.item(1, 0).text() == "branch 1 (HighDigits)"
    assert panel.save_button.isEnabled()


def test_the_window_evaluates_the_run_the_runs_dock_opens(qtbot, tree_run: tuple[Path, Path]) -> None:  # type: ignore[no-untyped-def]
    from modstudio.blocks import default_catalog
    from modstudio.ui.main_window import MainWindow

    window = MainWindow(default_catalog())
    qtbot.addWidget(window)
    window.ask = lambda title, text: True  # type: ignore[method-assign]
    assert window.open_path(tree_run[0])
    panel = window.evaluation_dock.widget()
    window.show()
    window.evaluation_dock.show()
    with qtbot.waitSignal(panel.shown, timeout=120_000):
        window.training.runs.open_run.emit(tree_run[1])  # a double click in the Runs dock
    assert panel.run == tree_run[1] and panel.experts.layer.count() == 1
    view = next(a for a in window.menuBar().actions() if a.text() == "&View").menu()
    assert "Evaluation" in [a.text() for a in view.actions()]  # shown and hidden from View, as the other docks
