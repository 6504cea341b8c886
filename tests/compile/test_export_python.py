"""Export to readable Python: every template, every custom layer, every MoE gate; ruff-clean, torch-only."""

from __future__ import annotations

import ast
import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from modstudio.blocks import default_catalog
from modstudio.compile.export import ExportError, build_network, export_project
from modstudio.compile.export.check import import_file, sample_inputs
from modstudio.compile.graphnet import GraphNet
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.model import Project
from modstudio.library import load_template, templates

TEMPLATES = [t.name for t in templates()]
ATOL = 1e-5


def perturbed_weights(project: Project, path: Path) -> GraphNet:
    """A GraphNet whose weights (and float buffers) are not the seed's, saved to ``path``."""
    net = build_network(project)
    generator = torch.Generator().manual_seed(7)
    state = {k: v + 0.05 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v
             for k, v in net.state_dict().items()}  # fmt: skip
    net.load_state_dict(state, strict=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return net.eval()


def assert_same_outputs(project: Project, net: torch.nn.Module, run, batches=(1, 7)) -> None:
    net.eval()
    for batch in batches:
        inputs = sample_inputs(project, batch, seed=100 + batch)
        with torch.no_grad():
            expected, got = net(*inputs), run(*inputs)
        expected = expected if isinstance(expected, tuple) else (expected,)
        got = tuple(got) if isinstance(got, (tuple, list)) else (got,)
        assert len(got) == len(expected)
        for e, g in zip(expected, got):
            assert g.shape == e.shape
            torch.testing.assert_close(g, e, atol=ATOL, rtol=0)


def zoo() -> Project:
    """Every custom layer the templates do not use, a module with two inputs, and inline merges."""
    pb = ProjectBuilder("zoo")
    two = pb.module("TwoWay", doc="Mixes two feature maps.")
    a, b = two.input("a"), two.input("b")
    two.output("mixed", two.add("multiply", "gate", a, two.add("sigmoid", "squash", b)))
    m = pb.module("main")
    x = m.input("x", [3, 8, 8])
    dw = m.add("depthwise_separable_conv2d", "dw", x, out_channels=4, kernel_size=3)
    lc = m.add("locally_connected2d", "local", x, out_channels=4, kernel_size=3)
    lr = m.add("low_rank_locally_connected2d", "low_rank", x, out_channels=4, kernel_size=3, rank=2)
    mixed = m.use("TwoWay", "mix", dw, m.add("add", "sum", lc, lr))
    up = m.add("conv_transpose2d", "up", m.add("group_norm", "norm", mixed, num_groups=2), out_channels=4)
    pooled = m.add("adaptive_avg_pool2d", "pool", up, height=2, width=3)
    tokens = m.add("permute", "tokens", m.add("reshape", "rows", pooled, shape=[4, 6]), dims=[2, 1])
    att = m.add("self_attention", "attn", tokens)
    enc = m.add("transformer_encoder_block", "enc", att, num_heads=2)
    cross = m.add("multi_head_attention", "cross", enc, port="query", num_heads=2)
    m.connect(att, cross, "key")
    seq = m.add(
        "gru", "gru", m.add("concat", "both", cross, enc, dim=2), hidden_size=6, bidirectional=True, output="last"
    )
    m.output("y", m.add("linear", "head", m.add("silu", "act", seq), out_features=3), task="classification")
    return pb.project("zoo", doc="A network of every layer kind.")


def moe_variant(gate: str, dispatch: str) -> Project:
    project = load_template("moe_2d", default_catalog())
    moe = project.main_module.node_named("moe")
    moe.params.update(gate=gate, dispatch=dispatch)
    if gate == "noisy_topk":
        moe.params["importance_weight"] = 0.01
    return project


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple[Project, GraphNet, Path]]:
    """Each template (and the zoo) exported to Python once, with perturbed weights."""
    folder = tmp_path_factory.mktemp("python")
    out: dict[str, tuple[Project, GraphNet, Path]] = {}
    catalog = default_catalog()
    projects = {name: load_template(name, catalog) for name in TEMPLATES} | {"zoo": zoo()}
    for name, project in projects.items():
        net = perturbed_weights(project, folder / f"{name}.safetensors")
        export_project(project, "python", folder / f"{name}.py", weights=folder / f"{name}.safetensors")
        out[name] = (project, net, folder / f"{name}.py")
    return out


@pytest.mark.parametrize("name", [*TEMPLATES, "zoo"])
def test_python_export_loads_the_weights_strictly_and_gives_graphnets_outputs(exported, name):
    project, net, path = exported[name]
    model = import_file(path).Model()  # the main module's class
    model.load_state_dict(net.state_dict(), strict=True)
    assert_same_outputs(project, net, model.eval(), batches=(1, 2) if name == "resnet18" else (1, 7))


def test_python_export_imports_only_torch_the_standard_library_and_its_plugins(exported):
    from modstudio.blocks.plugins import load_plugins

    plugin_modules = {p.name: p.module.split(".")[0] for p in load_plugins().plugins}
    plugin_of = {t.name: t.plugin for t in templates()}
    for name, (_, _, path) in exported.items():
        allowed = {"torch"} | ({plugin_modules[plugin_of[name]]} if plugin_of.get(name) else set())
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for imported in names:
                top = imported.split(".")[0]
                assert top in allowed or top in sys.stdlib_module_names, f"{path.name} imports {imported}"


def test_python_export_passes_ruff_check(exported):
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (it is in the dev extra)")
    config = Path(__file__).resolve().parents[2] / "pyproject.toml"
    files = [str(path) for _, _, path in exported.values()]
    for args in ([], ["--isolated"]):  # the project's rules, then ruff's defaults
        done = subprocess.run([ruff, "check", *args, *([] if args else ["--config", str(config)]), *files],
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr


def test_python_export_reads_like_hand_written_code(exported):
    resnet = exported["resnet18"][2].read_text()
    assert "self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)" in resnet  # defaults left out
    assert "nn.BatchNorm2d(64)" in resnet and "track_running_stats" not in resnet
    assert "        x = self.conv1(x)  # [N, 64, 112, 112]\n        x = self.bn1(x)  # [N, 64, 112, 112]\n" in resnet
    assert "        out = out + x\n        del x\n" in resnet  # the residual, and the input let go after it
    moe = exported["moe_2d"][2].read_text()
    assert "for e, expert in enumerate(self.experts):" in moe
    assert (
        "MixtureOfExperts(\n            2,\n            [Expert(2) for _ in range(4)],\n" in moe
    )  # a member class takes its input size
    assert "probe" not in moe.lower() and "modstudio" not in moe.replace("ModStudio", "")
    zoo_code = exported["zoo"][2].read_text()
    assert "out = self.local(x)" in zoo_code and "out = out + x" in zoo_code and "dw = self.mix(dw, out)" in zoo_code
    assert "dw = dw.permute(0, 2, 1)" in zoo_code and "cross = torch.cat([cross, enc], dim=2)" in zoo_code
    assert not re.search(r"^ +(sum|F|nn|torch) =", zoo_code, re.MULTILINE)  # no local hides a builtin or torch


@pytest.mark.parametrize("gate", ["topk", "noisy_topk", "switch", "expert_choice"])
@pytest.mark.parametrize("dispatch", ["sorted", "static"])
def test_every_moe_gate_and_dispatch_exports_to_the_same_outputs(tmp_path, gate, dispatch):
    project = moe_variant(gate, dispatch)
    net = perturbed_weights(project, tmp_path / "w.safetensors")
    for fmt in ("python", "pt2"):
        export_project(
            project, fmt, tmp_path / f"moe.{'py' if fmt == 'python' else fmt}", weights=tmp_path / "w.safetensors"
        )
    model = import_file(tmp_path / "moe.py").Model().eval()
    model.load_state_dict(net.state_dict(), strict=True)
    assert_same_outputs(project, net, model)
    program = torch.export.load(str(tmp_path / "moe.pt2")).module()
    fixed = (project.data.batch_size,) if gate == "expert_choice" else (1, 7)
    assert_same_outputs(project, net, program, batches=fixed)


def test_bad_weights_and_bad_output_paths_give_clear_errors_and_write_nothing(tmp_path):
    project = load_template("mlp_2d", default_catalog())
    before = set(tmp_path.iterdir())
    with pytest.raises(ExportError, match="does not exist"):
        export_project(project, "python", tmp_path / "m.py", weights=tmp_path / "missing.safetensors")
    state = copy.deepcopy(build_network(project).state_dict())
    state["fc1.weight"] = torch.zeros(3, 3)
    save_file(state, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(ExportError, match=r"fc1.weight \(3, 3\) \(the project has \(64, 2\)\)"):
        export_project(project, "python", tmp_path / "m.py", weights=tmp_path / "wrong.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ExportError, match=r"not a readable \.safetensors"):
        export_project(project, "pt2", tmp_path / "m.pt2", weights=tmp_path / "junk.safetensors")
    with pytest.raises(ExportError, match="does not exist"):
        export_project(project, "python", tmp_path / "no" / "m.py")
    with pytest.raises(ExportError, match="unknown format"):
        export_project(project, "tflite", tmp_path / "m.tflite")
    (tmp_path / "taken.py").write_text("keep me")
    with pytest.raises(ExportError, match="already exists"):
        export_project(project, "python", tmp_path / "taken.py")
    assert (tmp_path / "taken.py").read_text() == "keep me"
    assert set(tmp_path.iterdir()) - before == {
        tmp_path / n for n in ("wrong.safetensors", "junk.safetensors", "taken.py")
    }


@pytest.mark.parametrize("case", ["topk", "switch", "hierarchical_moe", "hard_gate"])
def test_exported_routers_compute_the_same_auxiliary_losses_while_training(tmp_path, case):
    if case in ("topk", "switch"):
        project = moe_variant(case, "sorted")
        project.main_module.node_named("moe").params.update(load_balance_weight=0.5, z_loss_weight=0.25)
    else:
        project = load_template(case, default_catalog())
    net = perturbed_weights(project, tmp_path / "w.safetensors")
    export_project(project, "python", tmp_path / "m.py", weights=tmp_path / "w.safetensors")
    model = import_file(tmp_path / "m.py").Model()
    model.load_state_dict(net.state_dict(), strict=True)
    (x,) = sample_inputs(project, 16)
    torch.manual_seed(3)  # the hard gate draws Gumbel noise while training: the same draws for both
    net.train()(x)
    torch.manual_seed(3)
    model.train()(x)
    layer = "gate" if case == "hard_gate" else "moe"
    expected, got = getattr(net, layer).aux_losses, getattr(model, layer).aux_losses
    assert expected and set(got) == set(expected)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key])
    model.eval()(x)
    assert getattr(model, layer).aux_losses == got  # an eval forward leaves the last training losses alone
