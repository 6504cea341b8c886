"""Sparse upcycling: a mixture whose experts are copies of the trained dense module, top-k with
renormalised weights, gives the dense network's outputs at initialisation (whatever the router)."""

from __future__ import annotations

import pytest
import torch

from modstudio.engine.surgery.errors import SurgeryError
from modstudio.engine.surgery.measure import validation_data
from modstudio.engine.surgery.surgery import Request

from .helpers import applied, network, surgery_on, trained_network


@pytest.mark.parametrize(("node", "experts", "k"), [("ffn", 8, 2), ("mix", 4, 3)])
def test_the_upcycled_network_equals_the_dense_one_at_initialisation(dense_run, node, experts, k):
    project_file, run = dense_run
    surgery = surgery_on(project_file, run, Request("upcycle", node, experts=experts, k=k, seed=3))
    dense = trained_network(project_file, run)
    project, _ = applied(project_file, surgery)
    moe = project.main_module.node_named(node)
    assert moe.block == "moe" and moe.params["num_experts"] == experts and moe.params["k"] == k
    upcycled = network(project, surgery.state)
    layer = upcycled.get_submodule(node)
    assert len(layer.experts) == experts and layer.router.weight.shape[0] == experts
    assert float(layer.router.weight.detach().abs().sum()) > 0  # a fresh router, not zeros
    x = validation_data(project, project_file.parent).data.x
    with torch.no_grad():
        torch.testing.assert_close(upcycled(x), dense(x), rtol=0, atol=1e-6)
        upcycled.train()  # also while training (no dropout here): the k weights sum to 1
        torch.testing.assert_close(upcycled(x), dense(x), rtol=0, atol=1e-6)
    assert surgery.after.accuracy == surgery.before.accuracy
    assert any("max |difference|" in line for line in surgery.lines)


def test_upcycling_refuses_a_node_that_is_not_feed_forward(dense_run):
    project_file, run = dense_run
    with pytest.raises(SurgeryError, match="'x' is an input, not a feed-forward node"):
        surgery_on(project_file, run, Request("upcycle", "x", module="main", experts=4))
    with pytest.raises(SurgeryError, match="name one with --module"):
        surgery_on(project_file, run, Request("upcycle", "x", experts=4))
    with pytest.raises(SurgeryError, match="at least 2 experts"):
        surgery_on(project_file, run, Request("upcycle", "ffn", experts=1))
    with pytest.raises(SurgeryError, match="no node named"):
        surgery_on(project_file, run, Request("upcycle", "nope", experts=4))
