"""``modstudio import`` on the command line: a project and its weights, or exit 2 and nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from modstudio.cli import main
from modstudio.compile.export.exporter import build_network
from modstudio.graph.io import load_project
from tests.environment import python_path

from . import resnet
from .conftest import HERE, difference

NMS_MODEL = '''import torch
from torch import nn


def nms(scores, k):
    """torchvision-style: keep the k best boxes."""
    return torch.topk(scores, k, dim=1).values


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(8, 16)
        self.act = nn.Mish()

    def forward(self, x):
        return self.act(nms(self.backbone(x), 4)) @ torch.ones(4, 2)
'''


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["import", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_import_writes_the_project_and_its_starting_weights(tmp_path, capsys) -> None:
    out = tmp_path / "net.msproj"
    code, stdout, stderr = _run(
        capsys, f"{HERE / 'resnet.py'}:resnet18", "-o", str(out), "--args", '{"num_classes": 7}'
    )
    assert code == 0, stderr
    assert len(stdout.strip().splitlines()) == 1 and "11,180,103 parameters" in stdout
    project = load_project(out)
    assert project.training.init_weights == "net.init.safetensors"
    assert (tmp_path / "net.init.safetensors").is_file()
    assert set(project.ui.positions) == set(project.modules)  # laid out: it opens readably
    # the starting weights are the model's own: the same model made again with the same seed
    torch.manual_seed(0)
    net = build_network(project, base_dir=tmp_path)
    assert sum(p.numel() for p in net.parameters()) == 11_180_103
    code, _, _ = _run(capsys, f"{HERE / 'resnet.py'}:resnet18", "-o", str(out))
    assert code == 2  # exists: --force to overwrite


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_the_files_get_the_permissions_a_new_file_gets_or_keep_those_they_had(tmp_path, capsys) -> None:
    model = tmp_path / "tiny.py"
    model.write_text("from torch import nn\n\n\ndef tiny():\n    return nn.Sequential(nn.Linear(4, 2))\n")
    out = tmp_path / "tiny.msproj"
    saved = os.umask(0o022)
    try:
        assert _run(capsys, f"{model}:tiny", "-o", str(out), "--input-shape", "1,4")[0] == 0
        modes = {p.name: p.stat().st_mode & 0o777 for p in (out, tmp_path / "tiny.init.safetensors")}
        assert modes == {"tiny.msproj": 0o644, "tiny.init.safetensors": 0o644}  # not mkstemp's 0600
        out.chmod(0o640)
        assert _run(capsys, f"{model}:tiny", "-o", str(out), "--input-shape", "1,4", "--force")[0] == 0
        assert out.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(saved)


def test_weights_given_are_the_ones_imported(tmp_path, capsys) -> None:
    torch.manual_seed(3)
    model = resnet.resnet18().eval()
    weights = tmp_path / "trained.pt"
    torch.save(model.state_dict(), weights)
    out = tmp_path / "net.msproj"
    code, _, stderr = _run(capsys, f"{HERE / 'resnet.py'}:resnet18", "-o", str(out), "--weights", str(weights))
    assert code == 0, stderr
    net = build_network(load_project(out), base_dir=tmp_path)
    assert difference(model, net, torch.randn(2, 3, 32, 32)) <= 1e-5


TINY = "from torch import nn\n\n\ndef tiny():\n    return nn.Sequential(nn.Linear(4, 3))\n"


@pytest.mark.parametrize(
    "saved",
    [
        lambda sd: {"epoch": 3, "model": sd, "optimizer": {"lr": 0.1}},  # a checkpoint
        lambda sd: {f"module.{k}": v for k, v in sd.items()},  # DistributedDataParallel's keys
        lambda sd: {"state_dict": {f"_orig_mod.module.{k}": v for k, v in sd.items()}},  # compiled, wrapped, nested
    ],
)
def test_weights_are_found_in_checkpoints_and_under_a_wrappers_prefix(tmp_path, capsys, saved) -> None:
    source = tmp_path / "tiny.py"
    source.write_text(TINY, encoding="utf-8")
    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    torch.save(saved(model.state_dict()), tmp_path / "w.pt")
    out = tmp_path / "t.msproj"
    argv = [f"{source}:tiny", "-o", str(out), "--input-shape", "1,4", "--weights", str(tmp_path / "w.pt")]
    code, _, stderr = _run(capsys, *argv)
    assert code == 0, stderr
    assert difference(model, build_network(load_project(out), base_dir=tmp_path), torch.randn(3, 4)) <= 1e-6


def test_weights_that_are_not_one_state_dict_are_refused_in_a_sentence(tmp_path, capsys) -> None:
    source = tmp_path / "tiny.py"
    source.write_text(TINY, encoding="utf-8")
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    torch.save(model, tmp_path / "whole.pt")
    torch.save({"generator": model.state_dict(), "critic": model.state_dict()}, tmp_path / "two.pt")
    argv = [f"{source}:tiny", "-o", str(tmp_path / "t.msproj"), "--input-shape", "1,4", "--weights"]
    code, _, stderr = _run(capsys, *argv, str(tmp_path / "whole.pt"))
    assert code == 2 and len(stderr.splitlines()) == 1
    assert (
        "is not a state dict that torch.load(weights_only=True) reads" in stderr and "save model.state_dict()" in stderr
    )
    code, _, stderr = _run(capsys, *argv, str(tmp_path / "two.pt"))
    assert code == 2 and "holds several sets of weights (generator, critic)" in stderr


def test_an_unmappable_op_exits_2_names_each_op_and_writes_nothing(tmp_path, capsys) -> None:
    source = tmp_path / "model.py"
    source.write_text(NMS_MODEL, encoding="utf-8")
    out = tmp_path / "det.msproj"
    code, stdout, stderr = _run(capsys, f"{source}:Detector", "-o", str(out), "--input-shape", "1,8")
    assert code == 2
    assert "torch.topk at model.py:7 has no block" in stderr
    assert "Mish 'act' at model.py:17 has no block" in stderr
    assert "operator.matmul at model.py:17 has no block" in stderr
    assert "Traceback" not in stderr and stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


BRANCHY = """from torch import nn


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return -self.fc(x)
"""


def test_a_forward_neither_fx_nor_export_follows_is_named_at_its_line_in_one_line(tmp_path, capfd) -> None:
    source = tmp_path / "model.py"
    source.write_text(BRANCHY, encoding="utf-8")
    code = main(["import", f"{source}:Branchy", "-o", str(tmp_path / "b.msproj"), "--input-shape", "1,4"])
    out, err = capfd.readouterr()  # the file descriptors: torch's own printing included
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[0] == "error: 1 op or layer cannot be imported:"
    assert lines[1].startswith("  Branchy 'Branchy' at model.py:10 cannot be traced by torch.fx")
    assert lines[2:] == ["nothing was written"]  # not torch.export's warnings and partial graph
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


def test_a_forward_of_two_inputs_is_refused_before_it_runs_naming_them(tmp_path, capsys) -> None:
    source = tmp_path / "model.py"
    source.write_text(BRANCHY.replace("def forward(self, x):", "def forward(self, x, mask):"), encoding="utf-8")
    code, _, stderr = _run(capsys, f"{source}:Branchy", "-o", str(tmp_path / "b.msproj"), "--input-shape", "1,4")
    assert code == 2
    assert "Branchy.forward takes 2 inputs (x, mask); the import gives the model one tensor" in stderr


def test_a_layer_of_a_sequential_a_function_returns_is_named_at_that_function(tmp_path, capsys) -> None:
    source = tmp_path / "model.py"
    source.write_text(
        "from torch import nn\n\n\ndef make():\n    return nn.Sequential(nn.Linear(4, 6), nn.Softplus())\n",
        encoding="utf-8",
    )
    code, _, stderr = _run(capsys, f"{source}:make", "-o", str(tmp_path / "m.msproj"), "--input-shape", "1,4")
    assert code == 2
    assert "Softplus '1' at model.py:4 has no block" in stderr  # no line of its own: where it is made


def test_a_syntax_error_in_the_model_file_names_its_line_only(tmp_path, capsys) -> None:
    source = tmp_path / "model.py"
    source.write_text("class Net(:\n    pass\n", encoding="utf-8")
    code, _, stderr = _run(capsys, f"{source}:Net", "-o", str(tmp_path / "x.msproj"))
    assert code == 2
    assert stderr == f"error: running {source} failed: SyntaxError: invalid syntax (model.py, line 1)\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.py:Net"], "missing.py does not exist"),
        (["{resnet}:resnet99"], "has no 'resnet99'; it defines BasicBlock, Bottleneck, ResNet"),
        (["{resnet}:resnet18", "--args", "{oops"], "--args is not valid JSON"),
        (["{resnet}:resnet18", "--args", '{"colour": 1}'], "does not take these --args"),
        (["{resnet}:resnet18", "--input-shape", "1,5,32,32"], "does not run on an input of shape [1, 5, 32, 32]"),
        (["{resnet}:resnet18", "--input-shape", "a,b"], "--input-shape must be whole numbers"),
        (["{resnet}", "--input-shape", "1,3,8,8"], "SOURCE must be path/to/file.py:Name"),
        (["no_such_package.models:Net"], "no Python module named 'no_such_package'"),
        (["{resnet}:resnet18", "--weights", "none.safetensors"], "none.safetensors does not exist"),
    ],
)
def test_bad_inputs_are_named_without_a_traceback(tmp_path, capsys, argv, message) -> None:
    args = [a.replace("{resnet}", str(HERE / "resnet.py")) for a in argv]
    code, _, stderr = _run(capsys, *args, "-o", str(tmp_path / "x.msproj"))
    assert code == 2
    assert message in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_a_plugin_importer_brings_a_sparse_moe_in(tmp_path) -> None:
    env = {**os.environ, "MODSTUDIO_PLUGIN_PATH": str(HERE / "plugins"), "PYTHONPATH": python_path(Path.cwd())}
    out = tmp_path / "moe.msproj"
    source = f"{HERE / 'mixtral.py'}:MixtralLayer"
    done = subprocess.run(
        [sys.executable, "-m", "modstudio", "import", source, "-o", str(out), "--input-shape", "1,5,16"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    moe = next(n for n in data["modules"]["MixtralLayer"]["nodes"] if n["name"] == "moe")
    assert moe["block"] == "moe" and moe["params"]["experts"] == ["MixtralExpert"]


def test_progress_is_told_in_order_up_to_done() -> None:
    from modstudio.importer.api import import_model

    seen: list[tuple[str, float]] = []
    import_model(resnet.resnet18().eval(), input_shape=(1, 3, 32, 32), progress=lambda t, f: seen.append((t, f)))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and seen[-1] == ("done", 1.0)
    assert "tracing layer2.0" in [text for text, _ in seen]  # each module as it is traced
