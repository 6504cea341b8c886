"""Every template and library module validates, runs forward and backward, and is up to date."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from modstudio.blocks import default_catalog
from modstudio.compile.graphnet import GraphNet, build_on_meta
from modstudio.compile.probes import aux_loss
from modstudio.compile.shapes import infer_shapes
from modstudio.library import library_files, load_library, load_template, resources_dir, templates

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_TEMPLATES = {
    "mlp_2d", "cnn_digits", "resnet18", "vit_tiny", "lstm_sequence",
    "moe_2d", "switch_transformer", "hierarchical_moe", "stacked_moe", "ensemble", "class_tree",
    "one_vs_rest", "cooperative", "hard_gate",
}  # fmt: skip
REQUIRED_LIBRARY = {
    "BasicBlock", "BasicBlockDown", "Bottleneck", "BottleneckDown", "ResNeXtBlock", "ResNeXtBlockDown",
    "WideBlock", "WideBlockDown", "Inception", "TransformerEncoder",
}  # fmt: skip


def test_the_promised_templates_and_library_modules_ship():
    assert {t.name for t in templates()} >= REQUIRED_TEMPLATES
    shipped = {name for project in load_library(default_catalog()).values() for name in project.modules}
    assert shipped >= REQUIRED_LIBRARY
    assert resources_dir() == ROOT / "resources"


ALL = [("templates", t.name) for t in templates()] + [("library", f.name) for f in library_files()]
PATHS = {("templates", t.name): t.path for t in templates()} | {("library", f.name): f.path for f in library_files()}


@pytest.mark.parametrize(("folder", "name"), ALL, ids=[f"{f}/{n}" for f, n in ALL])
def test_validates_and_runs_forward_and_backward(folder, name):
    from modstudio.graph.io import load_project

    project = load_project(PATHS[(folder, name)], default_catalog())  # plugin templates live with their plugin
    shapes = infer_shapes(project)
    assert shapes.ok, [p.message for p in shapes.errors]
    net = GraphNet(project)
    inputs = []
    for node in project.main_module.input_nodes:
        shape = node.params["shape"]
        dtype = node.params.get("dtype", "float")
        inputs.append(torch.randint(0, 2, (2, *shape)) if dtype == "long" else torch.randn(2, *shape))
    out = net(*inputs)
    assert tuple(out.shape) == (2, *shapes.outputs[0].shape)
    out.float().square().mean().backward()
    # every parameter gets a gradient, except in members a conditional layer sent nothing to
    conditional = [f"{path}." for path, module in net.named_modules() if hasattr(module, "probe")]
    unrouted = {n for n, p in net.named_parameters() if p.grad is None}
    assert all(any(n.startswith(c) for c in conditional) for n in unrouted), sorted(unrouted)[:5]


@pytest.mark.parametrize("name", sorted(t.name for t in templates()))
def test_template_trains_a_step_with_its_aux_losses(name):
    torch.manual_seed(0)
    project = load_template(name, default_catalog())
    net = GraphNet(project)
    shape = project.main_module.input_nodes[0].params["shape"]
    x = torch.randn(4, *shape)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    out = net(x)
    loss = out.float().square().mean() + aux_loss(net)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    changed = [k for k, v in net.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed, "one training step changes the weights"
    info = next(t for t in templates() if t.name == name)
    assert len(info.doc) > 60, "every template has a description people see where templates are listed"


def test_resnet18_matches_the_paper_architecture():
    # 11,689,512 parameters: ResNet-18 of He et al. 2016 as torchvision builds it.
    net = build_on_meta(load_template("resnet18", default_catalog()))
    assert sum(p.numel() for p in net.parameters()) == 11_689_512
    assert [name for name, _ in net.named_children()][-3:] == ["layer4_1", "avgpool", "fc"]


def test_resource_files_are_what_the_builder_script_writes():
    spec = importlib.util.spec_from_file_location("build_resources", ROOT / "scripts" / "build_resources.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from modstudio.graph.io import project_to_json

    for rel, project in module.all_files().items():
        assert (ROOT / "resources" / rel).read_text(encoding="utf-8") == project_to_json(project), rel
