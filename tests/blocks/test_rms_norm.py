"""RMSNorm, the block added the one-place way: one spec entry, and it trains and exports."""

from __future__ import annotations

import torch
from safetensors.torch import save_file

from modstudio.blocks import default_catalog
from modstudio.compile.export import export_project
from modstudio.compile.export.check import import_file
from modstudio.compile.flops import count_flops
from modstudio.compile.graphnet import GraphNet
from modstudio.graph.builder import ProjectBuilder


def project():
    pb = ProjectBuilder("tests/rms_norm", default_catalog())
    m = pb.module("main")
    x = m.input("x", [5, 8])
    norm = m.add("rms_norm", "norm", m.add("linear", "fc", x, out_features=8), eps=1e-6)
    m.output("y", m.add("linear", "head", norm, out_features=3))
    return pb.project("rms")


def test_rms_norm_divides_each_token_by_its_root_mean_square() -> None:
    net = GraphNet(project())
    with torch.no_grad():
        net.norm.weight.copy_(torch.linspace(0.5, 2.0, 8))
    h = torch.randn(4, 5, 8)
    want = h / torch.sqrt(h.square().mean(-1, keepdim=True) + 1e-6) * net.norm.weight
    assert torch.allclose(net.norm(h), want, atol=1e-5)


def test_a_project_with_rms_norm_exports_to_python_with_the_same_outputs(tmp_path) -> None:
    torch.manual_seed(0)
    net = GraphNet(project())
    with torch.no_grad():
        net.norm.weight.uniform_(0.5, 2.0)  # not the initial ones: the weights must really load
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "w.safetensors"))
    export_project(project(), "python", tmp_path / "rms.py", weights=tmp_path / "w.safetensors")
    code = (tmp_path / "rms.py").read_text()
    assert "self.norm = nn.RMSNorm(8, eps=1e-06)" in code
    model = import_file(tmp_path / "rms.py").Model()
    model.load_state_dict(net.state_dict(), strict=True)
    x = torch.randn(3, 5, 8)
    assert torch.allclose(model.eval()(x), net.eval()(x), atol=1e-6)


def test_rms_norm_counts_four_flops_per_element() -> None:
    rows = {row.name: row for row in count_flops(project()).nodes}
    assert rows["norm"].flops == 4 * 5 * 8 and not rows["norm"].exact
