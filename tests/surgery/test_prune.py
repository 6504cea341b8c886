"""Pruning by importance: tokens that the removed experts never served come out exactly as before
(top-k: bit for bit; Switch: the same expert, the gate weight renormalised over the kept experts)."""

from __future__ import annotations

import pytest
import torch

from modstudio.engine.surgery.errors import SurgeryError
from modstudio.engine.surgery.measure import validation_data
from modstudio.engine.surgery.surgery import Request

from .helpers import applied, layer_input, network, surgery_on, trained_network


def _removed(surgery) -> list[int]:
    text = next(line for line in surgery.lines if line.startswith("importance"))
    assert "tokens" in text
    return [int(line.split()[0]) for line in surgery.lines if line.endswith("removed")]


def test_top_k_pruning_keeps_the_outputs_of_tokens_not_routed_to_removed_experts(topk_run):
    project_file, run = topk_run
    surgery = surgery_on(project_file, run, Request("prune", "moe", keep=3))
    removed = _removed(surgery)
    assert len(removed) == 1
    old = trained_network(project_file, run)
    project, _ = applied(project_file, surgery)
    new = network(project, surgery.state)
    x = validation_data(project, project_file.parent).data.x
    tokens = layer_input(old, "moe", x)
    with torch.no_grad():
        picked = old.moe.router(tokens).topk(2, dim=-1).indices
        unaffected = ~torch.isin(picked, torch.tensor(removed)).any(dim=-1)
        before, after = old(x), new(x)
    assert 0 < int(unaffected.sum()) < len(x)  # some tokens lost an expert, most did not
    assert torch.equal(before[unaffected], after[unaffected])
    assert not torch.equal(before[~unaffected], after[~unaffected])
    assert new.moe.router.weight.shape[0] == 3 and len(new.moe.experts) == 3


def test_switch_pruning_keeps_each_unaffected_tokens_expert(switch_run):
    project_file, run = switch_run
    surgery = surgery_on(project_file, run, Request("prune", "moe", keep=2))
    removed = _removed(surgery)
    kept = [i for i in range(4) if i not in removed]
    old = trained_network(project_file, run)
    project, _ = applied(project_file, surgery)
    assert project.main_module.node_named("moe").params["capacity_factor"] == 2.0  # 4.0 x 2/4: same slots
    new = network(project, surgery.state)
    tokens = layer_input(old, "moe", validation_data(project, project_file.parent).data.x)
    with torch.no_grad():
        probs = old.moe.router(tokens).softmax(dim=-1)
        choice = probs.argmax(dim=-1)
        unaffected = ~torch.isin(choice, torch.tensor(removed))
        new_choice = new.moe.router(tokens).argmax(dim=-1)
        scale = 1 / probs[:, kept].sum(dim=-1, keepdim=True)  # the full softmax over the kept experts
        before, after = old.moe(tokens), new.moe(tokens)
    assert int(unaffected.sum()) > 0
    assert torch.equal(torch.tensor(kept)[new_choice[unaffected]], choice[unaffected])
    torch.testing.assert_close(after[unaffected], (before * scale)[unaffected], rtol=1e-5, atol=1e-6)


def test_pruning_refuses_what_cannot_work(topk_run):
    project_file, run = topk_run
    with pytest.raises(SurgeryError, match="keep at least 2"):
        surgery_on(project_file, run, Request("prune", "moe", keep=1))
    with pytest.raises(SurgeryError, match="--keep N or --fraction"):
        surgery_on(project_file, run, Request("prune", "moe"))
    with pytest.raises(SurgeryError, match="not a Mixture of Experts"):
        surgery_on(project_file, run, Request("prune", "head", keep=2))
