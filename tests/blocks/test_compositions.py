"""Compositions of member modules, checked against reference computations written here."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modstudio.blocks import default_catalog
from modstudio.compile.graphnet import GraphNet
from modstudio.compile.shapes import infer_shapes
from modstudio.graph import Document, OperationError
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.module_ops import RemoveModule, RenameModule
from modstudio.graph.ops import SetParam
from modstudio.graph.validate import check_project

COVERED = {"moe", "hierarchical_moe", "hard_gate", "ensemble", "tree", "one_vs_rest", "cooperative"}


def members(pb: ProjectBuilder, **outputs: int) -> None:
    """A linear member module per name, giving the stated number of outputs."""
    for name, out in outputs.items():
        m = pb.module(name)
        m.output("y", m.add("linear", "fc", m.input("x"), out_features=out))


def single_block(block: str, features: int, extra: dict[str, int], **params):
    pb = ProjectBuilder("t")
    members(pb, **extra)
    m = pb.module("main")
    m.output("y", m.add(block, "comp", m.input("x", [features]), **params))
    project = pb.project("t")
    assert not check_project(project, default_catalog())
    return project, GraphNet(project)


def test_ensemble_mean_weighted_concat():
    torch.manual_seed(0)
    x = torch.randn(5, 4)
    _, net = single_block("ensemble", 4, {"A": 3, "B": 3}, members=["A", "B"], combine="mean")
    a, b = (m(x) for m in net.comp.members)
    assert torch.allclose(net(x), (a + b) / 2)
    _, net = single_block("ensemble", 4, {"A": 3, "B": 3}, members=["A", "B"], combine="weighted")
    with torch.no_grad():
        net.comp.member_logits.copy_(torch.tensor([0.0, 1.0]))
    w = torch.softmax(torch.tensor([0.0, 1.0]), 0)
    a, b = (m(x) for m in net.comp.members)
    assert torch.allclose(net(x), w[0] * a + w[1] * b, atol=1e-6)
    _, net = single_block("ensemble", 4, {"A": 3, "B": 2}, members=["A", "B"], combine="concat")
    assert net(x).shape == (5, 5)


def test_vote_takes_the_majority_at_inference():
    _, net = single_block("ensemble", 2, {"A": 3}, members=["A"], count=3, combine="vote")
    votes = [0, 2, 2]  # member i always prefers class votes[i]
    with torch.no_grad():
        for member, winner in zip(net.comp.members, votes):
            member.fc.weight.zero_()
            member.fc.bias.copy_(torch.nn.functional.one_hot(torch.tensor(winner), 3).float())
    net.eval()
    out = net(torch.randn(4, 2))
    assert (out.argmax(1) == 2).all()
    assert torch.allclose(out.exp()[0], torch.tensor([1 / 3, 1e-6, 2 / 3]), atol=1e-6)
    net.train()
    assert torch.allclose(net(torch.zeros(1, 2)), torch.tensor([[1 / 3, 0.0, 2 / 3]]), atol=1e-6)


def test_tree_puts_branch_scores_at_their_classes():
    _, net = single_block(
        "tree",
        4,
        {"Trunk": 6, "Left": 2, "Right": 3},
        trunk="Trunk",
        branches=["Left", "Right"],
        branch_of_class=[1, 0, 1, 0, 1],
    )
    x = torch.randn(3, 4)
    features = net.comp.trunk(x)
    left, right = net.comp.branches[0](features), net.comp.branches[1](features)
    expected = torch.stack([right[:, 0], left[:, 0], right[:, 1], left[:, 1], right[:, 2]], dim=1)
    assert torch.allclose(net(x), expected)


def test_tree_branch_size_must_match_its_classes():
    pb = ProjectBuilder("t")
    members(pb, Trunk=6, Left=1, Right=2)
    m = pb.module("main")
    m.output(
        "y",
        m.add(
            "tree", "comp", m.input("x", [4]), trunk="Trunk", branches=["Left", "Right"], branch_of_class=[0, 1, 1, 1]
        ),
    )
    [problem] = infer_shapes(pb.project("t")).errors
    assert "needs branch 1 'Right' to give [N, 3] for classes [1, 2, 3], but it gives [N, 2]" in problem.message


def test_one_vs_rest_columns_are_the_binary_members():
    _, net = single_block("one_vs_rest", 4, {"Binary": 1}, members=["Binary"], classes=4)
    x = torch.randn(3, 4)
    assert net(x).shape == (3, 4)
    for c, member in enumerate(net.comp.members):
        assert torch.equal(net(x)[:, c : c + 1], member(x))


def test_cooperative_members_see_their_slices_and_are_fused():
    _, net = single_block("cooperative", 5, {"A": 3, "B": 4}, members=["A", "B"], splits=[2, 3], out_features=6)
    x = torch.randn(3, 5)
    a, b = net.comp.members[0](x[:, :2]), net.comp.members[1](x[:, 2:])
    assert torch.allclose(net(x), net.comp.combiner(torch.cat([a, b], 1)))


def test_cooperative_splits_must_cover_the_features():
    pb = ProjectBuilder("t")
    members(pb, A=3, B=4)
    m = pb.module("main")
    m.output("y", m.add("cooperative", "comp", m.input("x", [5]), members=["A", "B"], splits=[2, 2]))
    [problem] = infer_shapes(pb.project("t")).errors
    assert "splits [2, 2] add up to 4, but the input [N, 5] has 5 features" in problem.message


def test_hard_gate_sends_each_sample_through_exactly_one_branch():
    torch.manual_seed(0)
    _, net = single_block("hard_gate", 4, {"A": 4, "B": 4}, branches=["A", "B"], allow_skip=True)
    gate = net.comp
    x = torch.randn(64, 4)
    net.eval()
    choice = gate.router(x).argmax(-1)
    options = [gate.branches[0](x), gate.branches[1](x), x]
    expected = torch.stack([options[c][i] for i, c in enumerate(choice.tolist())])
    assert torch.allclose(net(x), expected, atol=1e-6)
    net.train()
    net(x).square().sum().backward()
    assert gate.router.weight.grad is not None and gate.router.weight.grad.abs().sum() > 0


def test_hierarchical_moe_matches_the_two_level_formula():
    torch.manual_seed(0)
    _, net = single_block("hierarchical_moe", 4, {"E": 3}, experts=["E"], num_experts=6, groups=2, k_groups=2, k=2)
    moe = net.comp
    x = torch.randn(7, 4)
    expected = torch.zeros(7, 3)
    for t in range(7):
        g = moe.primary(x[t]).softmax(-1)  # k_groups = groups: every group, softmax over all
        inner = moe.secondary(x[t]).view(2, 3)
        for i in range(2):
            values, idx = inner[i].topk(2)
            for w, j in zip(values.softmax(-1), idx.tolist()):
                expected[t] += g[i] * w * moe.experts[i * 3 + j](x[t])
    assert torch.allclose(net(x), expected, atol=1e-5)


def test_hierarchical_moe_probe_reports_the_entropy_of_each_level():
    torch.manual_seed(1)
    _, net = single_block("hierarchical_moe", 4, {"E": 3}, experts=["E"], num_experts=6, groups=2, k_groups=1, k=2)
    moe = net.comp
    moe.probe.enabled = True
    x = torch.randn(9, 4)
    with torch.no_grad():
        net(x)
        groups = moe.primary(x).softmax(-1)
        inner = moe.secondary(x).view(9, 2, 3).softmax(-1)
    joint = (groups.unsqueeze(-1) * inner).reshape(9, 6)
    facts = moe.probe.take()
    by_hand = [-(p * p.log()).sum(-1).mean().item() for p in (groups, joint)]
    assert facts["group_entropy"] == pytest.approx(by_hand[0], rel=1e-5)
    assert facts["entropy"] == pytest.approx(by_hand[1], rel=1e-5)
    assert facts["group_entropy"] < facts["entropy"]  # 2 groups carry less uncertainty than 6 experts


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"experts": ["E"], "num_experts": 2, "k": 3}, "cannot pick k = 3 of 2 experts"),
        (
            {"experts": ["E", "Wide"]},
            "needs all experts to give the same shape, but 'E' gives [N, 4], 'Wide' gives [N, 9]",
        ),
        ({"experts": ["Wide"], "num_experts": 4, "gate": "switch"}, "passes dropped tokens through unchanged"),
        ({"experts": ["E", "E", "Wide"], "num_experts": 5}, "lists 3 experts but num_experts is 5"),
    ],
)
def test_moe_shape_errors_name_the_problem(params, words):
    pb = ProjectBuilder("t")
    members(pb, E=4, Wide=9)
    m = pb.module("main")
    m.output("y", m.add("moe", "moe", m.input("x", [4]), **params))
    [problem] = infer_shapes(pb.project("t")).errors
    assert problem.message.startswith("Mixture of Experts 'moe'")
    assert words in problem.message


def member_project():
    pb = ProjectBuilder("t", default_catalog())
    members(pb, A=2, B=2)
    m = pb.module("main")
    m.output("y", m.add("ensemble", "ens", m.input("x", [3]), members=["A", "B"]), task="classification")
    return pb.project("t")


def test_members_are_module_references_everywhere():
    catalog = default_catalog()
    project = member_project()
    project.main_module.nodes[1].params["members"] = ["A", "Missing"]
    assert "Ensemble 'ens' uses module 'Missing', which does not exist" in str(check_project(project, catalog))
    project = member_project()
    inner = project.modules["A"]
    inner.nodes.append(type(inner.nodes[0])(id="x-ens", name="loop", block="ensemble", params={"members": ["A"]}))
    assert "recursive module reference: A -> A" in str(check_project(project, catalog))


def test_rename_remove_and_set_follow_members():
    doc = Document(member_project(), default_catalog())
    doc.apply(RenameModule("A", "Alpha"))
    assert doc.project.main_module.nodes[1].params["members"] == ["Alpha", "B"]
    with pytest.raises(OperationError, match="still used by 'ens' in main"):
        doc.apply(RemoveModule("B"))
    node_id = doc.project.main_module.nodes[1].id
    with pytest.raises(OperationError, match="there is no module 'Nope'"):
        doc.apply(SetParam("main", node_id, "members", ["Nope"]))
    with pytest.raises(OperationError, match="uses 'main', so this would recurse"):
        doc.apply(SetParam("main", node_id, "members", ["main"]))


def test_gradients_reach_every_member():
    torch.manual_seed(0)
    _, net = single_block("ensemble", 3, {"A": 2, "B": 2}, members=["A", "B"], combine="weighted")
    net(torch.randn(4, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    assert isinstance(net.comp.members[0], nn.Module)


def test_probes_count_classes_and_regions_per_expert():
    from modstudio.compile.probes import enable_probes, probes_of, set_probe_labels

    torch.manual_seed(0)
    _, net = single_block("hard_gate", 4, {"A": 4, "B": 4}, branches=["A", "B"])
    net.eval()
    x = torch.randn(32, 4)
    labels, regions = torch.randint(0, 3, (32,)), torch.randint(0, 5, (32,))
    enable_probes(net)
    set_probe_labels(net, labels, 3, regions, 5)
    net(x)
    facts = probes_of(net)["comp"].take()
    choice = net.comp.router(x).argmax(-1)
    for name, rows, count in (("class_expert", labels, 3), ("region_expert", regions, 5)):
        expected = torch.zeros(count, 2)
        for r, c in zip(rows.tolist(), choice.tolist()):
            expected[r, c] += 1
        assert (facts[name] == expected.numpy()).all()
    assert facts["tokens_per_expert"].sum() == 32 and facts["steps"] == 1


def test_top1_without_switch_is_refused_because_the_gate_could_not_learn():
    pb = ProjectBuilder("t")
    members(pb, E=4)
    m = pb.module("main")
    m.output("y", m.add("moe", "moe", m.input("x", [4]), experts=["E"], num_experts=4, gate="topk", k=1))
    [problem] = infer_shapes(pb.project("t")).errors
    assert "k = 1 gives each token the weight 1" in problem.message and "switch gate" in problem.message


def test_probe_sums_do_not_alias_the_layers_own_tensors():
    from modstudio.blocks.layers.routing import RoutingProbe

    probe = RoutingProbe(2)
    held = torch.tensor([1.0, 2.0])
    probe.add("load", held)
    probe.add("load", torch.tensor([1.0, 1.0]))
    assert held.tolist() == [1.0, 2.0]
    assert probe.take()["load"].tolist() == [2.0, 3.0]  # no step_done(): the plain sum
