"""Modules of one structure are traced once; a module whose forward may differ is traced for itself."""

from __future__ import annotations

import torch
from torch import nn

from modstudio.compile.export.exporter import build_network
from modstudio.importer.api import import_model
from modstudio.importer.trace import _OneLevel, structure_key, trace


class Gated(nn.Module):
    """Its forward branches on a plain attribute: two instances of it compute different things."""

    def __init__(self, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        self.fc = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.fc(x))
        return y + x if self.residual else y


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = Gated(True), Gated(False), Gated(True)
        self.head = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.c(self.b(self.a(x))))


def test_same_structure_shares_a_key_and_a_differing_attribute_does_not() -> None:
    net = Net()
    assert structure_key(net.a) == structure_key(net.c) != structure_key(net.b)
    net.a.scale = torch.ones(1)  # an attribute the key cannot compare: traced afresh
    assert structure_key(net.a) is None


def test_instances_that_branch_differently_import_as_what_each_computes() -> None:
    torch.manual_seed(0)
    model = Net().eval()
    imported = import_model(model, input_shape=(1, 6))
    net = build_network(imported.project)
    net.load_state_dict(imported.state_dict, strict=True)
    x = torch.randn(5, 6)
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(x), model(x), atol=1e-6, rtol=0)
    assert len(imported.project.modules) == 3  # main, the residual Gated and the plain one


def test_a_sequential_s_graph_is_the_one_fx_traces() -> None:
    """A plain Sequential's graph is written down, not traced: it must be fx's own, node for node."""
    for sequential in (nn.Sequential(), nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 2)))):
        traced = _OneLevel(lines=False, math=False).trace(sequential)  # what trace() would do by fx

        def described(graph: torch.fx.Graph) -> list[tuple[str, str, object, tuple[str, ...]]]:
            return [(n.op, n.name, n.target, tuple(str(a) for a in n.args)) for n in graph.nodes]

        assert described(trace(sequential)) == described(traced)


def test_a_module_is_traced_in_training_mode_and_left_in_its_own() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.fc(x)) if self.training else self.fc(x)

    module = Branchy().eval()
    graph = trace(module)
    assert any(n.target is torch.relu for n in graph.nodes)  # the training branch was recorded
    assert not module.training and not module.fc.training
