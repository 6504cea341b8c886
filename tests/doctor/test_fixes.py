"""Each fix is one undoable edit: applied, it changes what it says; undone, the project is as before."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from modstudio.blocks import default_catalog
from modstudio.compile.graphnet import GraphNet
from modstudio.engine.doctor.fixes import Fix, FixError, fix_operation, layer_node
from modstudio.engine.doctor.reinit import reinitialised, write_reinit_weights
from modstudio.graph.document import Document, History
from modstudio.graph.io import project_to_dict, save_project
from modstudio.library import load_template

CATALOG = default_catalog()

FIXES = [
    Fix("raise_load_balance", "moe", "raise", {"load_balance_weight": 0.1}),
    Fix("add_z_loss", "moe", "z", {"z_loss_weight": 0.01}),
    Fix("raise_capacity", "moe", "capacity", {"capacity_factor": 3.0}),
    Fix("switch_gate", "moe", "gate", {"gate": "expert_choice"}),
    Fix("add_noise", "moe", "noise", {"gate": "noisy_topk", "k": 2}),
    Fix("lower_aux", "moe", "lower", {"z_loss_weight": 0.0001}),
]


def snapshot(project) -> str:
    return json.dumps(project_to_dict(project), sort_keys=True)


@pytest.mark.parametrize("fix", FIXES, ids=[f.kind for f in FIXES])
def test_each_fix_is_one_edit_undone_exactly(fix):
    project = load_template("moe_2d", CATALOG)
    before = snapshot(project)
    history = History(Document(project, CATALOG))
    history.do(fix_operation(project, CATALOG, fix))
    params = layer_node(project, CATALOG, "moe").params
    assert all(params[name] == value for name, value in fix.params.items())
    assert history.undo_text == fix.label
    history.undo()
    assert snapshot(project) == before
    history.redo()
    assert all(layer_node(project, CATALOG, "moe").node.params[n] == v for n, v in fix.params.items())


def test_a_fix_for_a_missing_layer_or_parameter_is_refused():
    project = load_template("moe_2d", CATALOG)
    with pytest.raises(FixError, match="no layer 'gone'"):
        fix_operation(project, CATALOG, Fix("add_z_loss", "gone", "z", {"z_loss_weight": 0.01}))
    with pytest.raises(FixError, match="no parameter 'groups'"):
        fix_operation(project, CATALOG, Fix("add_z_loss", "moe", "z", {"groups": 3}))


def test_layers_inside_modules_and_expert_lists_are_found():
    project = load_template("stacked_moe", CATALOG)
    net = GraphNet(project, CATALOG)
    from modstudio.compile.probes import probes_of

    for path in probes_of(net):
        found = layer_node(project, CATALOG, path)
        assert found.node.block in ("moe", "hierarchical_moe", "hard_gate") and found.node.name == path.split(".")[-1]


def test_reinit_copies_a_live_expert_and_its_router_row_and_undo_restores_the_setting(tmp_path):
    project = load_template("moe_2d", CATALOG)
    torch.manual_seed(0)
    state = {k: v.clone() for k, v in GraphNet(project, CATALOG).state_dict().items()}
    run = tmp_path / "p.runs" / "run1"
    run.mkdir(parents=True)
    save_file(state, str(run / "best.safetensors"))
    file = tmp_path / "p.msproj"
    save_project(project, file)
    fix = Fix("reinit_expert", "moe", "Re-initialise expert 3 of 'moe' from expert 1", expert=3, source=1)
    name = write_reinit_weights(file, run, fix)
    written = load_file(str(tmp_path / name))
    for key in state:
        if key.startswith("moe.experts.3."):
            source = state[key.replace("experts.3.", "experts.1.")]
            assert torch.allclose(written[key], source, atol=0.05 * float(source.std()) + 1e-6)
            assert not torch.equal(written[key], source)  # noise breaks the tie
        elif key == "moe.router.weight":
            assert torch.allclose(written[key][3], state[key][1], atol=0.05 * float(state[key].std()))
            assert torch.equal(written[key][[0, 1, 2]], state[key][[0, 1, 2]])
        else:
            assert torch.equal(written[key], state[key])
    before = snapshot(project)
    history = History(Document(project, CATALOG))
    history.do(fix_operation(project, CATALOG, fix, name))
    assert project.training.init_weights == name
    history.undo()
    assert snapshot(project) == before and project.training.init_weights is None
    net = GraphNet(project, CATALOG)
    net.load_state_dict(written)  # the file fits the project's network


def test_reinit_refuses_a_layer_without_that_expert():
    state = {"moe.experts.0.w": torch.ones(2), "moe.router.weight": torch.ones(2, 2)}
    with pytest.raises(Exception, match="no tensors of expert 5"):
        reinitialised(state, Fix("reinit_expert", "moe", "", expert=5, source=0), 0.01)


def test_reinit_in_a_hierarchical_moe_copies_the_secondary_gate_row_only():
    project = load_template("hierarchical_moe", CATALOG)
    net = GraphNet(project, CATALOG)
    from modstudio.compile.probes import probes_of

    (path,) = [p for p, probe in probes_of(net).items() if probe.kind == "hierarchical_moe"]
    state = net.state_dict()
    out = reinitialised(state, Fix("reinit_expert", path, "", expert=3, source=0), 0.01)
    changed = sorted(k for k in state if not torch.equal(out[k], state[k]))
    assert f"{path}.secondary.weight" in changed and f"{path}.primary.weight" not in changed
    assert all(k.startswith(f"{path}.experts.3.") or k == f"{path}.secondary.weight" for k in changed)
    rows = out[f"{path}.secondary.weight"]
    assert torch.equal(rows[1], state[f"{path}.secondary.weight"][1])
