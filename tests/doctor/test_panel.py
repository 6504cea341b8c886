"""The Doctor dock: a chosen run's diagnoses with their fixes, Apply as one undoable edit, live
messages, and Apply and re-train showing the new run beside the diagnosed one."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QApplication, QPushButton

from modstudio.blocks import default_catalog
from modstudio.engine.doctor.fixes import layer_node
from modstudio.engine.protocol import Finished, Progress, Routing, Started
from modstudio.graph.io import project_to_dict
from modstudio.ui.doctor_panel import BeforeAfter
from modstudio.ui.files import default_project

from ..ui.conftest import window  # noqa: F401 (the fixture)
from .runs import moe_facts, write_run

COLLAPSED = [moe_facts([0.0, 400.0, 0.0, 0.0])] * 3


def shown(win, tmp_path):
    win.load(default_project(default_catalog(), "moe_2d"))
    folder = write_run(tmp_path / "moe.runs" / "20260101-000000-aaaaaa", COLLAPSED, project=win.session.project)
    win.doctor.panel.show_run(folder)
    return folder


def buttons(panel, text):
    return [b for b in panel.body.findChildren(QPushButton) if b.text() == text]


def test_a_chosen_run_shows_its_diagnoses_and_apply_is_one_undoable_edit(window, tmp_path):  # noqa: F811
    panel = window.doctor.panel
    shown(window, tmp_path)
    assert [d.kind for d in panel.found] == ["collapse", "dead_experts"]
    assert "2 problems" in panel.title.text()
    assert panel.fix_labels()[0] == "Raise the load-balance weight of 'moe' from 0.01 to 0.1"
    before = json.dumps(project_to_dict(window.session.project), sort_keys=True)
    buttons(panel, "Apply")[0].click()
    assert layer_node(window.session.project, default_catalog(), "moe").params["load_balance_weight"] == 0.1
    window.stack.undo()
    assert json.dumps(project_to_dict(window.session.project), sort_keys=True) == before


def test_live_messages_are_diagnosed(window, tmp_path):  # noqa: F811
    window.load(default_project(default_catalog(), "moe_2d"))
    panel = window.doctor.panel
    window.doctor.on_message(Started(run_folder=str(tmp_path / "live"), device="cpu", epochs=1))
    assert panel.found == [] and "Training" in panel.title.text()
    for step in (20, 40, 60):
        window.doctor.on_message(Progress(epoch=1, step=step, steps=60, loss=0.5, global_step=step))
        window.doctor.on_message(Routing(probes={"moe": COLLAPSED[0]}, step=step))
    window.doctor.on_message(Finished(status="completed", epochs=1, steps=60))
    assert [d.kind for d in panel.found] == ["collapse", "dead_experts"]
    assert "up to step 60" in panel.title.text()


def test_apply_and_retrain_shows_the_new_run_beside_the_diagnosed_one(window, tmp_path, monkeypatch):  # noqa: F811
    folder = shown(window, tmp_path)
    started = []
    monkeypatch.setattr(window.training, "train", lambda: started.append(True) or True)
    buttons(window.doctor.panel, "Apply and re-train")[0].click()
    assert started == [True]
    comparison = window.doctor.comparison
    assert isinstance(comparison, BeforeAfter) and comparison.before.layers() == ["moe"]
    window.doctor.on_message(Started(run_folder=str(tmp_path / "after"), device="cpu", epochs=1))
    window.doctor.on_message(Routing(probes={"moe": moe_facts([100.0, 100.0, 100.0, 100.0])}, step=20))
    window.doctor.on_message(Progress(epoch=1, step=20, steps=20, loss=0.4, global_step=20))
    window.doctor.on_message(Finished(status="completed", epochs=1, steps=20))
    QApplication.processEvents()
    assert comparison.after.layers() == ["moe"] and comparison.after_title.text() == "After the fix: after"
    assert comparison.after.curves.compared_label() == folder.name
    assert window.doctor.comparison is None  # the next run is not compared
    comparison.close()


def test_routing_over_sequences_runs_in_the_background(window, tmp_path, qtbot):  # noqa: F811
    import torch
    from safetensors.torch import save_file

    from modstudio.compile.graphnet import GraphNet

    project = default_project(default_catalog(), "switch_transformer")
    window.load(project)
    torch.manual_seed(0)
    run = write_run(tmp_path / "st.runs" / "20260101-000000-cccccc", COLLAPSED, project=project, layer="encoder1.moe")
    save_file(GraphNet(project, default_catalog()).state_dict(), str(run / "best.safetensors"))
    panel = window.doctor.panel
    panel.show_run(run)
    assert panel.sequence_button.isEnabled()
    panel.sequence_button.click()
    qtbot.waitUntil(lambda: "consecutive tokens" in panel.sequences.text(), timeout=60000)
    assert "encoder2.moe: first expert by position:" in panel.sequences.text()


def test_routing_over_sequences_is_offered_only_where_a_layer_sees_sequences(window, tmp_path):  # noqa: F811
    panel = window.doctor.panel
    shown(window, tmp_path)  # moe_2d: its MoE takes points, [N, 2]
    assert not panel.sequence_button.isEnabled()
    assert panel.sequence_button.toolTip() == (
        "No conditional layer of this run sees sequences ([batch, positions, features]): 'moe' takes [N, 2]"
    )
    project = default_project(default_catalog(), "switch_transformer")
    window.load(project)
    run = write_run(tmp_path / "st.runs" / "20260101-000000-dddddd", COLLAPSED, project=project, layer="encoder1.moe")
    panel.show_run(run)
    assert panel.sequence_button.isEnabled() and "Mixtral" in panel.sequence_button.toolTip()
