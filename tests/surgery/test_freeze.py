"""Fine-tuning one expert: after the freeze surgery, training changes that expert only; the other
experts and the router keep the run's weights bit for bit."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from modstudio.engine.session import prepare
from modstudio.engine.settings import TrainSettings
from modstudio.engine.surgery.surgery import Request
from modstudio.engine.train import Trainer
from modstudio.graph.io import save_project

from .helpers import applied, surgery_on


def test_only_the_chosen_expert_trains_after_freezing_the_others(topk_run, tmp_path):
    project_file, run = topk_run
    project, _ = applied(project_file, surgery_on(project_file, run, Request("freeze", "moe", expert=2)))
    edited = project_file.parent / "one_expert.msproj"
    save_project(project, edited)
    start = load_file(str(edited.parent / project.training.init_weights))
    session = prepare(project, TrainSettings(device="cpu", epochs=1, runs_root=str(tmp_path)), edited)
    assert all(torch.equal(v, start[k]) for k, v in session.net.state_dict().items())  # starts from the run
    Trainer(session, lambda message: None).run()
    after = session.net.state_dict()

    def same(prefix: str) -> bool:
        return all(torch.equal(after[k], start[k]) for k in start if k.startswith(prefix))

    assert all(same(f"moe.experts.{i}.") for i in (0, 1, 3))
    assert same("moe.router.")
    assert not same("moe.experts.2.")  # the one expert that trains
    assert not same("head.")  # the rest of the network trains as before


def test_the_router_trains_too_when_asked(topk_run, tmp_path):
    project_file, run = topk_run
    surgery = surgery_on(project_file, run, Request("freeze", "moe", expert=2, train_router=True))
    project, _ = applied(project_file, surgery)
    assert project.main_module.node_named("moe").frozen_parts == ["experts.0", "experts.1", "experts.3"]


def test_a_frozen_part_the_layer_lacks_is_named_before_training(topk_run, tmp_path):
    import pytest

    from modstudio.engine.errors import EngineError

    project_file, run = topk_run
    project, _ = applied(project_file, surgery_on(project_file, run, Request("freeze", "moe", expert=0)))
    project.main_module.node_named("moe").frozen_parts = ["experts.9"]  # as after a hand edit of the file
    edited = project_file.parent / "hand_edited.msproj"
    save_project(project, edited)
    with pytest.raises(EngineError, match=r"'moe' has no part 'experts\.9' to keep frozen"):
        prepare(project, TrainSettings(device="cpu", epochs=1, runs_root=str(tmp_path)), edited)
