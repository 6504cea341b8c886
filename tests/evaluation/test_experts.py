"""Per-expert accuracy against a manual split of the samples, and "what if" against a hand-made removal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from modstudio.blocks import default_catalog
from modstudio.engine.analysis.report import load_run
from modstudio.engine.evaluation.evaluate import evaluate_run, outputs_of, split_of
from modstudio.engine.evaluation.routes import recording, removed, routed_layers


def test_per_expert_accuracy_equals_a_manual_split_by_the_router(moe_run: tuple[Path, Path]) -> None:
    _, run = moe_run
    result = evaluate_run(run, "test", what_if=False)
    project, net = load_run(run, default_catalog())
    task, data, _ = split_of(project, run, "test", default_catalog())
    with torch.no_grad():
        predicted = outputs_of(net, task, data.x).argmax(-1).numpy()
        choice = net.moe.router(data.x.float()).argmax(-1).numpy()  # the switch gate's top-1 expert, by hand
    correct = predicted == data.y.numpy()
    (layer,) = result["experts"]
    assert layer["path"] == "moe" and len(layer["units"]) == 4
    for expert, unit in enumerate(layer["units"]):
        mine = choice == expert
        assert unit["samples"] == int(mine.sum())
        if mine.any():
            assert unit["accuracy"] == pytest.approx(float(correct[mine].mean()))
            assert np.asarray(unit["confusion"]).sum() == mine.sum()
    assert sum(u["samples"] for u in layer["units"]) == len(data)


def test_removing_an_ensemble_member_averages_the_others(ensemble_run: tuple[Path, Path]) -> None:
    _, run = ensemble_run
    result = evaluate_run(run, "test")
    project, net = load_run(run, default_catalog())
    _task, data, _ = split_of(project, run, "test", default_catalog())
    ensemble = net.ensemble
    with torch.no_grad():
        outs = torch.stack([member(data.x) for member in ensemble.members])
        weights = ensemble.member_logits.detach()
    (layer,) = result["experts"]
    assert [r["name"] for r in layer["what_if"]["removed"]] == [u["name"] for u in layer["units"]]
    for member, row in enumerate(layer["what_if"]["removed"]):
        keep = [m for m in range(len(outs)) if m != member]
        mix = (outs[keep] * weights[keep].softmax(0)[:, None, None]).sum(0)  # renormalised over the rest
        assert row["accuracy"] == pytest.approx(float((mix.argmax(-1) == data.y).float().mean()))
        own = float((outs[member].argmax(-1) == data.y).float().mean())
        assert layer["units"][member]["accuracy"] == pytest.approx(own)  # each member's own accuracy
    assert layer["disagreement"][0][1] == pytest.approx(
        float((outs[0].argmax(-1) != outs[1].argmax(-1)).float().mean())
    )


def test_a_tree_without_a_branch_never_predicts_its_classes(tree_run: tuple[Path, Path]) -> None:
    _, run = tree_run
    project, net = load_run(run, default_catalog())
    task, data, _ = split_of(project, run, "test", default_catalog())
    layers = routed_layers(net, project)
    with recording(layers):
        predicted = outputs_of(net, task, data.x).argmax(-1)
    (tree,) = layers
    low = [c for c, b in enumerate(project.main_module.node_named("tree").params["branch_of_class"]) if b == 0]
    assert tree.owners is not None and list(np.flatnonzero(tree.owners == 0)) == low
    np.testing.assert_array_equal(tree.choice(), tree.owners[predicted.numpy()])  # the branch of the chosen class
    with removed(tree, 0):
        without = outputs_of(net, task, data.x).argmax(-1)
    assert not any(int(c) in low for c in without) and bool((predicted >= 5).any())
    assert torch.equal(outputs_of(net, task, data.x).argmax(-1), predicted)  # put back as it was
