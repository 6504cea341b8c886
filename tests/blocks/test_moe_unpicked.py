"""Expert choice: the tokens no expert picks come out as zeros or as their input (the ``unpicked``
param), the same in the training layer, the exported static loop and the exported file."""

from __future__ import annotations

import copy
import re

import pytest
import torch
from torch import nn

from modstudio.blocks import default_catalog
from modstudio.blocks.conditional import MOE
from modstudio.blocks.layers import static_routing
from modstudio.blocks.layers.moe import MixtureOfExperts
from modstudio.compile.export import build_network, export_project
from modstudio.compile.export.check import import_file, sample_inputs
from modstudio.compile.shapes import infer_shapes
from modstudio.graph.model import Project
from modstudio.library import load_template

from .test_moe_static import assert_same, experts, twins


def expert_choice(unpicked: str, dispatch: str = "sorted") -> MixtureOfExperts:
    torch.manual_seed(1)
    layer = MixtureOfExperts(
        6, experts(4), gate="expert_choice", capacity_factor=0.5, dispatch=dispatch, unpicked=unpicked
    )
    with torch.no_grad():
        layer.router.weight.mul_(5)  # decisive routing: experts agree on some tokens, so some are left out
    return layer


def unpicked_rows(layer: MixtureOfExperts, tokens: torch.Tensor) -> torch.Tensor:
    probs = layer.router(tokens).float().softmax(dim=-1)
    combine, _ = layer._combine(probs, probs)
    return combine.sum(dim=-1) == 0


@pytest.mark.parametrize("dispatch", ["sorted", "static"])
def test_unpicked_tokens_come_out_as_zeros_or_as_their_input(dispatch: str) -> None:
    x = torch.randn(40, 6)
    zero, through = expert_choice("zero", dispatch).eval(), expert_choice("pass_through", dispatch).eval()
    through.load_state_dict(zero.state_dict())
    left_out = unpicked_rows(zero, x)
    assert 0 < int(left_out.sum()) < 40  # the case this is about happens here
    with torch.no_grad():
        a, b = zero(x), through(x)
    assert torch.equal(a[left_out], torch.zeros_like(a[left_out]))
    assert torch.equal(b[left_out], x[left_out])
    assert torch.equal(a[~left_out], b[~left_out])  # picked tokens do not change


def test_pass_through_trains_the_same_in_both_forms() -> None:
    training = expert_choice("pass_through")
    _, exported = twins(
        training,
        static_routing.MixtureOfExperts,
        dim=6,
        experts=copy.deepcopy(list(training.experts)),
        gate="expert_choice",
        capacity_factor=0.5,
        unpicked="pass_through",
    )
    assert_same(training, exported, torch.randn(5, 8, 6))


def test_pass_through_needs_experts_that_keep_the_width() -> None:
    wider = [nn.Linear(6, 9) for _ in range(3)]
    with pytest.raises(ValueError, match="keep the width 6"):
        MixtureOfExperts(6, wider, gate="expert_choice", out_dim=9, unpicked="pass_through")
    MixtureOfExperts(6, wider, gate="expert_choice", out_dim=9)  # zeros need no such thing
    with pytest.raises(ValueError, match="unknown unpicked"):
        MixtureOfExperts(6, experts(2), gate="expert_choice", unpicked="drop")


def project(unpicked: str | None) -> Project:
    project = load_template("moe_2d", default_catalog())
    moe = project.main_module.node_named("moe")
    moe.params.update(gate="expert_choice", capacity_factor=0.5)
    if unpicked is not None:
        moe.params["unpicked"] = unpicked
    return project


def test_the_block_names_the_shape_problem_of_pass_through() -> None:
    wide = project("pass_through")
    wide.modules["Expert"].node_named("out").params["out_features"] = 3
    [problem] = infer_shapes(wide, default_catalog()).errors
    assert "unpicked = pass_through" in problem.message and "keep the width 2" in problem.message
    wide.main_module.node_named("moe").params["unpicked"] = "zero"
    assert not [p for p in infer_shapes(wide, default_catalog()).errors if "moe" in p.message]


def test_the_block_help_says_what_unpicked_tokens_become() -> None:
    param = next(p for p in MOE.params if p.name == "unpicked")
    assert param.default == "zero" and param.choices == ("zero", "pass_through")
    assert "zeros" in param.doc and "input" in param.doc
    assert param.visible_when == ("gate", ("expert_choice",))
    assert "unpicked" in MOE.doc and "fixed batch" in MOE.doc


def test_exported_code_carries_the_param_and_gives_the_same_outputs(tmp_path) -> None:
    for unpicked in ("zero", "pass_through"):
        chosen = project(unpicked)
        net = build_network(chosen).eval()
        export_project(chosen, "python", tmp_path / f"{unpicked}.py")
        source = (tmp_path / f"{unpicked}.py").read_text()
        [call] = re.findall(r"self\.moe = MixtureOfExperts\(.*?\n {8}\)\n", source, re.DOTALL)
        assert ('unpicked="pass_through"' in call) == (unpicked == "pass_through"), call
        model = import_file(tmp_path / f"{unpicked}.py").Model().eval()
        model.load_state_dict(net.state_dict(), strict=True)
        inputs = sample_inputs(chosen, 32, seed=5)
        with torch.no_grad():
            torch.testing.assert_close(model(*inputs), net(*inputs), atol=1e-6, rtol=0)
    export_project(project(None), "python", tmp_path / "unset.py")  # an older project: the code is as before
    assert (tmp_path / "unset.py").read_text() == (tmp_path / "zero.py").read_text()
