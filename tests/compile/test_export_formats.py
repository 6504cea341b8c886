"""TorchScript, torch.export (.pt2) and ONNX exports of the templates, loaded back and compared."""

from __future__ import annotations

import pytest
import torch

from modstudio.blocks import default_catalog
from modstudio.compile.export import ExportError, export_project, formats
from modstudio.compile.export.check import import_file, sample_inputs
from modstudio.library import load_template, templates

from .test_export_python import assert_same_outputs, perturbed_weights, zoo

TEMPLATES = [t.name for t in templates()]
# every template, as for the other formats (ONNX export takes 4-18 s per template on 2 cores)
ONNX_TEMPLATES = sorted(t.name for t in templates())


def _export(tmp_path, name: str, fmt: str, suffix: str):
    project = zoo() if name == "zoo" else load_template(name, default_catalog())
    net = perturbed_weights(project, tmp_path / "w.safetensors")
    result = export_project(project, fmt, tmp_path / f"{name}{suffix}", weights=tmp_path / "w.safetensors")
    return project, net, result


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("name", [*TEMPLATES, "zoo"])
def test_torchscript_scripts_every_template_without_falling_back_to_tracing(tmp_path, name):
    project, net, result = _export(tmp_path, name, "torchscript", ".pt")
    # If a future torch stops scripting these modules, this fails loudly here: the export would trace.
    assert not [note for note in result.notes if "traced instead" in note], result.notes
    assert formats.TORCHSCRIPT_DEPRECATED in result.notes
    loaded = torch.jit.load(str(result.path))
    assert isinstance(loaded, torch.jit.RecursiveScriptModule) and loaded.original_name == "Model"
    assert_same_outputs(project, net, loaded, batches=(1, 2) if name == "resnet18" else (1, 7))


@pytest.mark.parametrize("name", [*TEMPLATES, "zoo"])
def test_pt2_exports_every_template_with_a_dynamic_batch(tmp_path, name):
    project, net, result = _export(tmp_path, name, "pt2", ".pt2")
    program = torch.export.load(str(result.path))
    if result.notes:  # only expert-choice gates fix the batch, and the export says so
        assert "fixed batch" in result.notes[0]
        assert_same_outputs(project, net, program.module(), batches=(project.data.batch_size,))
    else:
        assert_same_outputs(project, net, program.module(), batches=(1, 2) if name == "resnet18" else (1, 7))


def test_script_falls_back_to_trace_with_a_warning_naming_why():
    class Unscriptable(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return sum(t for t in (x, x))  # generator expressions are not TorchScript

    example = (torch.randn(3, 2),)
    with pytest.warns(UserWarning, match=r"torch.jit.script failed \(.+\); traced instead"):
        module, notes = formats.script_or_trace(Unscriptable(), example)
    assert notes and "traced instead" in notes[0]
    torch.testing.assert_close(module(*example), 2 * example[0])


needs_onnx = pytest.mark.skipif(
    not (formats.onnx_available() and formats.onnxruntime_available()),
    reason=f"the onnx extra is not installed ({formats.ONNX_HINT})",
)


@needs_onnx
@pytest.mark.parametrize("name", ONNX_TEMPLATES)
def test_onnx_export_runs_in_onnxruntime_with_the_same_outputs(tmp_path, name):
    project, net, result = _export(tmp_path, name, "onnx", ".onnx")
    net.eval()
    for batch in (1, 7):
        inputs = sample_inputs(project, batch, seed=batch)
        with torch.no_grad():
            expected = net(*inputs)
        (got,) = formats.run_onnx(result.path, inputs)
        if not torch.allclose(got, expected, atol=1e-5, rtol=0):
            # onnxruntime's own kernels (deep conv nets: ResNet-18 differs by ~2e-3 on logits of
            # magnitude ~10): as the issue allows, the predicted classes must then be equal
            assert torch.equal(got.argmax(-1), expected.argmax(-1)), name
            assert (got - expected).abs().max() <= 1e-2 * expected.abs().max(), name


def test_onnx_without_the_extra_names_it_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "onnx_available", lambda: False)
    with pytest.raises(ExportError, match=r"pip install 'modstudio\[onnx\]'"):
        export_project(load_template("mlp_2d", default_catalog()), "onnx", tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_format_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ExportError("torch.export failed: on purpose")

    monkeypatch.setattr(formats, "export_program", broken)
    with pytest.raises(ExportError, match="on purpose"):
        export_project(load_template("mlp_2d", default_catalog()), "pt2", tmp_path / "m.pt2")
    assert list(tmp_path.iterdir()) == []


def test_expert_choice_is_exported_for_a_fixed_batch_and_says_so(tmp_path):
    project = load_template("moe_2d", default_catalog())
    project.main_module.node_named("moe").params["gate"] = "expert_choice"
    result = export_project(project, "pt2", tmp_path / "m.pt2")
    assert any(f"fixed batch of {project.data.batch_size}" in note for note in result.notes)


def test_generated_module_is_what_torchscript_and_pt2_wrap(tmp_path):
    project = load_template("mlp_2d", default_catalog())
    export_project(project, "python", tmp_path / "m.py")
    model = import_file(tmp_path / "m.py").Model()
    assert [n for n, _ in model.named_children()] == ["fc1", "fc2", "head"]  # the ReLUs are torch.relu calls
