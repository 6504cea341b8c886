"""Pruning: a trial's epochs go to Optuna's median pruner; a trial far behind the others is stopped early
and recorded PRUNED; a study of several objectives never prunes. The worker is a scripted stand-in here
(tests/search/test_search_run.py trains real workers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modstudio.engine.protocol import Epoch, Finished, Message, Started
from modstudio.engine.search import runner
from modstudio.engine.search.runner import Search, SearchOptions
from modstudio.engine.search.study import TrialRow
from modstudio.graph.io import load_project

EPOCHS = 5


class ScriptedClient:
    """Plays a run: validation accuracy ``ACCURACY[trial]`` every epoch; ``stop`` ends it after that epoch."""

    runs = 0
    ACCURACY = (0.9, 0.9, 0.9, 0.9, 0.2)

    def __init__(self) -> None:
        self.epoch, self.stopped, self.done = 0, False, False
        self.accuracy = self.ACCURACY[ScriptedClient.runs]
        self.folder = f"/runs/{ScriptedClient.runs}"
        ScriptedClient.runs += 1
        self.pid = 0

    def start(self, project: Any, settings: Any, path: Any) -> None:
        self.started = True

    def poll(self, timeout: float = 0.0) -> list[Message]:
        if self.epoch == 0:
            self.epoch = 1
            return [Started(run_folder=self.folder, device="cpu", epochs=EPOCHS), self._epoch()]
        if self.stopped or self.epoch == EPOCHS:
            status = "stopped" if self.stopped else "completed"
            return [Finished(status=status, epochs=self.epoch, run_folder=self.folder)]
        self.epoch += 1
        return [self._epoch()]

    def _epoch(self) -> Epoch:
        return Epoch(
            epoch=self.epoch, epochs=EPOCHS, train_loss=1.0, val_loss=1 - self.accuracy, val_accuracy=self.accuracy
        )

    def stop(self) -> None:
        self.stopped = True

    def kill(self) -> None:
        self.stopped = True


@pytest.mark.parametrize(("objectives", "pruned"), [(["accuracy"], True), (["accuracy", "-params"], False)])
def test_a_trial_far_behind_is_pruned(
    moons: Path, monkeypatch: pytest.MonkeyPatch, objectives: list[str], pruned: bool
) -> None:
    monkeypatch.setattr(runner, "TrainClient", ScriptedClient)
    ScriptedClient.runs = 0
    rows: list[TrialRow] = []
    options = SearchOptions(5, objectives, f"sqlite:///{moons.with_suffix('.db')}", "moons", jobs=1, seed=0)
    search = Search(load_project(moons), moons, options, report=rows.append)
    search.run(search.open_study())
    assert [r.state for r in rows[:4]] == ["COMPLETE"] * 4
    last = rows[4]
    if pruned:
        assert last.state == "PRUNED" and sorted(last.intermediate) == [1, 2]  # stopped after its second epoch
    else:  # Optuna cannot prune a study of several objectives: the poor trial trains to the end
        assert last.state == "COMPLETE" and last.values is not None and last.values[0] == pytest.approx(0.2)
    assert last.run_dir == "/runs/4"
