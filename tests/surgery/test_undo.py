"""Each surgery is one undoable edit: undo gives back the project exactly, with its previous
starting weights untouched; redo gives the edited one again; the new weights are in their own file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modstudio.engine.surgery.surgery import Request
from modstudio.graph.io import project_to_json

from .helpers import applied, surgery_on, written

SURGERIES = {
    "freeze": Request("freeze", "moe", expert=1),
    "prune": Request("prune", "moe", keep=3),
    "prune by fraction": Request("prune", "moe", fraction=0.5),
    "clone": Request("clone", "moe", expert=2),
}


def _check_undo(project_file: Path, surgery) -> None:
    from modstudio.blocks import default_catalog
    from modstudio.graph.io import load_project

    before = project_to_json(load_project(project_file, default_catalog()))
    project, history = applied(project_file, surgery)
    after = project_to_json(project)
    assert after != before
    assert project.training.init_weights == surgery.reference
    assert history.undo() is not None
    assert project_to_json(history.doc.project) == before
    assert history.redo() is not None
    assert project_to_json(history.doc.project) == after


@pytest.mark.parametrize("name", list(SURGERIES))
def test_a_mixture_surgery_is_undone_exactly(topk_run, name):
    project_file, run = topk_run
    surgery = surgery_on(project_file, run, SURGERIES[name])
    _check_undo(project_file, surgery)
    saved = written(project_file.parent, surgery)
    assert saved.keys() == surgery.state.keys()
    assert all(torch.equal(saved[k], surgery.state[k]) for k in saved)


@pytest.mark.parametrize("node", ["ffn", "mix"])
def test_upcycling_a_module_or_a_block_is_undone_exactly(dense_run, node):
    project_file, run = dense_run
    surgery = surgery_on(project_file, run, Request("upcycle", node, experts=4, k=2))
    _check_undo(project_file, surgery)


def test_a_second_surgery_keeps_the_first_ones_weights_for_the_undo_history(topk_run):
    project_file, run = topk_run
    first = surgery_on(project_file, run, Request("freeze", "moe", expert=1))
    project, history = applied(project_file, first)
    first_file = project_file.parent / first.reference
    first_bytes = first_file.read_bytes()
    second = surgery_on(project_file, run, Request("freeze", "moe", expert=1), project=project)
    assert second.reference != first.reference  # numbered past the file already there
    third = surgery_on(project_file, run, Request("prune", "moe", keep=2), project=project)
    third.write_weights()
    history.do(third.edit)
    assert project.training.init_weights == third.reference
    assert project.main_module.node_named("moe").frozen_parts in (["experts.0", "router"], ["experts.1", "router"])
    assert first_file.read_bytes() == first_bytes
    history.undo()
    assert project.training.init_weights == first.reference
    assert project.main_module.node_named("moe").frozen_parts == ["experts.0", "experts.2", "experts.3", "router"]
    history.undo()
    assert project.training.init_weights is None


def test_unfreeze_undoes_freeze_and_needs_something_frozen(topk_run, tmp_path):
    from modstudio.engine.surgery.errors import SurgeryError
    from modstudio.graph.io import save_project

    project_file, run = topk_run
    frozen, _ = applied(project_file, surgery_on(project_file, run, Request("freeze", "moe", expert=0)))
    assert frozen.main_module.node_named("moe").frozen_parts == ["experts.1", "experts.2", "experts.3", "router"]
    frozen_file = project_file.parent / "frozen.msproj"
    save_project(frozen, frozen_file)
    thawed = surgery_on(frozen_file, run, Request("unfreeze", "moe"))
    project, history = applied(frozen_file, thawed)
    assert project.main_module.node_named("moe").frozen_parts is None
    history.undo()
    assert project_to_json(history.doc.project) == project_to_json(frozen)
    with pytest.raises(SurgeryError, match="no frozen experts"):
        surgery_on(project_file, run, Request("unfreeze", "moe"))
