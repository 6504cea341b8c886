"""GraphNet: a real nn.Module per ModuleDef, named after the nodes, that trains."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from modstudio.compile.graphnet import CompileError, GraphNet, parameter_counts
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.names import RESERVED_NODE_NAMES

from .test_shapes import parametric_project


def mlp(hidden: int = 16):
    pb = ProjectBuilder("mlp")
    b = pb.module("main")
    h = b.add("relu", "act1", b.add("linear", "fc1", b.input("x", [2]), out_features=hidden))
    b.output("y", b.add("linear", "head", h, out_features=2), task="classification")
    return pb.project("mlp")


def test_submodules_and_parameters_are_named_after_nodes():
    net = GraphNet(parametric_project())
    assert [name for name, _ in net.named_children()] == ["first", "second", "third"]
    assert set(net.state_dict()) == {f"{b}.fc.{p}" for b in ("first", "second", "third") for p in ("weight", "bias")}
    assert parameter_counts(net) == {"first": 5 * 8 + 8, "second": 8 * 8 + 8, "third": 8 * 16 + 16}
    assert net(torch.randn(3, 5)).shape == (3, 16)


def test_concat_follows_edge_order_and_skip_connections_add():
    pb = ProjectBuilder("dag")
    b = pb.module("main")
    x = b.input("x", [3])
    neg = b.add("reshape", "same", x, shape=[3])
    b.output("y", b.add("concat", "join", b.add("add", "twice", x, neg), x, dim=1), task="regression")
    net = GraphNet(pb.project("dag"))
    x = torch.randn(4, 3)
    assert torch.equal(net(x), torch.cat([x + x, x], dim=1))


def test_modules_with_several_inputs_and_outputs():
    pb = ProjectBuilder("multi")
    inner = pb.module("Split")
    a, c = inner.input("a"), inner.input("c")
    inner.output("total", inner.add("add", "plus", a, c))
    inner.output("product", inner.add("multiply", "times", a, c))
    b = pb.module("main")
    x = b.input("x", [4])
    z = b.input("z", [4])
    split = b.use("Split", "split", x, z)
    b.output("sum", split["total"])
    b.output("prod", split["product"])
    net = GraphNet(pb.project("multi"))
    x, z = torch.randn(2, 4), torch.randn(2, 4)
    total, product = net(x, z)
    assert torch.equal(total, x + z) and torch.equal(product, x * z)
    with pytest.raises(TypeError, match="takes 2 input"):
        net(x)


def test_same_seed_same_network():
    torch.manual_seed(7)
    a = GraphNet(mlp())
    torch.manual_seed(7)
    b = GraphNet(mlp())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_trains_like_any_module():
    torch.manual_seed(0)
    x = torch.randn(256, 2)
    y = (x[:, 0] * x[:, 1] > 0).long()  # XOR-like quadrants: needs the hidden layer
    net = GraphNet(mlp(32))
    opt = torch.optim.Adam(net.parameters(), lr=0.03)
    first = F.cross_entropy(net(x), y).item()
    for _ in range(150):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < first * 0.3
    assert (net(x).argmax(1) == y).float().mean() > 0.9


def test_copies_and_state_dicts_round_trip():
    net = GraphNet(parametric_project())
    clone = copy.deepcopy(net)
    x = torch.randn(2, 5)
    assert torch.equal(net(x), clone(x))
    fresh = GraphNet(parametric_project())
    fresh.load_state_dict(net.state_dict(), strict=True)
    assert torch.equal(fresh(x), net(x))


def test_shape_problems_stop_compilation_with_the_sentence():
    pb = ProjectBuilder("bad")
    b = pb.module("main")
    b.output("y", b.add("linear", "fc", b.input("x", [2, 3, 4]), out_features=2), task="classification")
    with pytest.raises(CompileError, match="Linear 'fc' expects a flat vector"):
        GraphNet(pb.project("bad"))


def test_reserved_names_cover_every_public_module_attribute():
    public = {name for name in dir(nn.Module()) if not name.startswith("_")}
    assert public <= RESERVED_NODE_NAMES
    net = GraphNet(mlp())  # and GraphNet's own (plan, shapes...): a node of that name could not be a submodule
    assert {name for name in dir(net) if not name.startswith("_")} - set(net._modules) <= RESERVED_NODE_NAMES


def test_the_plan_is_the_forward_in_steps_with_each_value_released_after_its_last_use():
    net = GraphNet(mlp())
    x_id = net.plan.inputs[0]
    assert [(s.node, s.target) for s in net.plan.steps] == [("fc1", "fc1"), ("act1", "act1"), ("head", "head")]
    assert [len(s.outputs) for s in net.plan.steps] == [1, 1, 1]
    fc1, act1, head = net.plan.steps
    assert fc1.arguments == (x_id,) and act1.arguments == fc1.outputs and head.arguments == act1.outputs
    assert (fc1.release, act1.release, head.release) == ((x_id,), fc1.outputs, act1.outputs)
    assert net.plan.outputs == head.outputs
    assert net.chain() == [net.fc1, net.act1, net.head]
