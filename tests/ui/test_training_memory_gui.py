"""The Train button refuses a network too large for this machine's memory, naming the node,
before a worker starts or a run folder is made."""

from __future__ import annotations

from pathlib import Path

from modstudio.ui.main_window import MainWindow
from tests.compile.test_memory import huge_mlp


def test_train_refuses_a_network_too_large_for_memory(window: MainWindow, tmp_path: Path) -> None:
    window.load(huge_mlp())
    window.training.settings.runs_root = str(tmp_path / "runs")
    assert not window.training.train()
    assert window.reported[-1].startswith("• 'fc2' holds 4.0 TB of float32 weights: training needs about 16.0 TB")
    assert window.training.controller.state == "idle"
    assert not (tmp_path / "runs").exists()
