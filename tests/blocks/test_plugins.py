"""Plugins: found in all three places, broken ones reported with file and reason while the rest
load, the example plugins' blocks trained in the worker and exported, missing plugins survived."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from modstudio.blocks import builtin_catalog, default_catalog
from modstudio.blocks.plugins import PATH_VARIABLE, load_plugins, plugin_of_block
from modstudio.blocks.tensors import TensorInfo
from modstudio.cli import main

from .harness import check_block
from .test_plugins_support import Places, block_source, plugin_places

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Places]:
    yield from plugin_places(tmp_path, monkeypatch)


def test_example_plugins_load_from_the_repository_without_torch(tmp_path):
    code = (
        "import sys\n"
        "from modstudio.blocks import default_catalog\n"
        "from modstudio.blocks.plugins import load_plugins\n"
        "catalog = default_catalog()\n"
        "print(sorted(p.name for p in load_plugins().plugins), load_plugins().problems, 'torch' in sys.modules)\n"
        "print(catalog['maxout'].category, catalog['gated_linear'].title, catalog['gated_feed_forward'].title)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != PATH_VARIABLE}
    env["XDG_DATA_HOME"] = str(tmp_path)  # no user plugins (platformdirs follows it on Linux)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "['glu_block', 'maxout'] [] False",
        "Dense Gated Linear Unit Gated Feed-Forward",
    ]


def test_the_maxout_plugin_ships_a_template_that_compiles():
    from modstudio.compile.graphnet import GraphNet
    from modstudio.graph.io import load_project

    [maxout] = [p for p in load_plugins().plugins if p.name == "maxout"]
    assert maxout.templates == (ROOT / "plugins" / "maxout" / "templates" / "maxout_moons.msproj",)
    project = load_project(maxout.templates[0], default_catalog())
    net = GraphNet(project, default_catalog())
    assert [type(m).__name__ for m in net.children()] == ["Maxout", "Dropout", "Maxout", "Linear"]


def test_templates_must_be_project_files_beside_the_plugin(places: Places):
    places.write("with_template.py", block_source("templated", 'TEMPLATES = ("demo.msproj",)'))
    report = places.load()
    assert [p.reason for p in report.problems] == [f"TEMPLATES: 'demo.msproj' is not a .msproj file in {places.folder}"]
    places.write("demo.msproj", "{}")
    load_plugins.cache_clear()
    sys.modules.pop("with_template", None)
    assert [p.templates for p in load_plugins().plugins if p.name == "with_template"] == [
        (places.folder / "demo.msproj",)
    ]


def test_plugins_are_found_in_a_folder_the_user_folder_and_entry_points(places: Places):
    places.write("from_folder.py", block_source("folder_block"))
    places.write("from_user/__init__.py", block_source("user_block"), places.user)
    places.install("ep-blocks", {"ep_blocks": "ep_blocks"}, {"ep_blocks": block_source("entry_block")})
    report = places.load()
    assert report.problems == []
    found = {p.name: p for p in report.plugins}
    assert {"from_folder", "from_user", "ep_blocks", "maxout", "glu_block"} <= set(found)
    assert found["from_folder"].source == str(places.folder / "from_folder.py")
    assert found["from_user"].source == str(places.user / "from_user")
    assert found["ep_blocks"].source == "entry point 'ep_blocks = ep_blocks' of ep-blocks 1.0"
    assert found["ep_blocks"].folder is None and found["from_user"].folder == places.user
    assert found["from_folder"].doc == "A test plugin with the block folder_block."
    for block in ("folder_block", "user_block", "entry_block", "maxout", "linear"):
        assert block in report.catalog
    assert default_catalog() is report.catalog  # what the app, the CLI and the worker use
    assert plugin_of_block("entry_block") is found["ep_blocks"] and plugin_of_block("linear") is None
    assert "folder_block" not in builtin_catalog()
    assert report.folders[-1] == places.user


BROKEN = {
    "broken_syntax.py": ("def oops(:\n", "syntax error in broken_syntax.py, line 1: "),
    "raises.py": (
        "import os\nraise ValueError('no GPU here')\n",
        "import failed: ValueError: no GPU here (raises.py, line 2)",
    ),
    "bad_id.py": (
        block_source("Bad Id"),
        "invalid block: block id 'Bad Id' must be lower-case letters, digits and '_'",
    ),
    "bad_default.py": (
        block_source("bad_default").replace('"int", 4', '"int", 0'),
        "invalid block: block 'bad_default': the default of param 'width' must be >= 1, not 0",
    ),
    "not_a_spec.py": ("BLOCKS = ('linear',)\n", "BLOCKS[0] is a str, not a BlockSpec"),
    "no_blocks.py": ("WIDTH = 3\n", "defines no BLOCKS (a tuple of BlockSpec)"),
    "takes_linear.py": (block_source("linear"), "block id 'linear' is already taken by a built-in block"),
    "takes_maxout.py": (block_source("maxout"), "block id 'maxout' is already taken by plugin 'maxout' ("),
    "uses_catalog.py": (
        "from modstudio.blocks import default_catalog\ndefault_catalog()\n",
        "import failed: RuntimeError: a plugin cannot use the block catalogue while plugins are loading",
    ),
    "json.py": (block_source("json_block"), "its name 'json' is taken by the module already imported from"),
    "my-plugin.py": (block_source("dash_block"), "'my-plugin' is not a valid Python module name"),
    "package/__init__.py": ("from . import helper\n", "import failed: KeyError: 'CUDA_HOME' (helper.py, line 3)"),
    "package/helper.py": ("import os\n\nHOME = os.environ['CUDA_HOME']\n", None),
}


def test_each_broken_plugin_is_reported_with_its_file_and_reason_and_the_rest_load(places: Places, monkeypatch):
    monkeypatch.delenv("CUDA_HOME", raising=False)
    for name, (text, _) in BROKEN.items():
        places.write(name, text)
    places.write("a_first.py", block_source("shared_block"))
    places.write("b_second.py", block_source("shared_block"))
    places.write("fine.py", block_source("fine_block"))
    places.install("broken-ep", {"broken_ep": "no_such_module_here"}, {})
    report = places.load()
    reasons = {
        p.source if p.source.startswith("entry point") else Path(p.source).name: p.reason for p in report.problems
    }
    for name, (_, reason) in BROKEN.items():
        if reason is not None:
            key = name.split("/")[0]
            assert key in reasons, f"{name} was not reported: {report.problems}"
            assert reasons[key].startswith(reason), (name, reasons[key])
    assert (
        reasons["b_second.py"]
        == f"block id 'shared_block' is already taken by plugin 'a_first' ({places.folder / 'a_first.py'})"
    )
    assert reasons["entry point 'broken_ep = no_such_module_here' of broken-ep 1.0"] == (
        "import failed: ModuleNotFoundError: No module named 'no_such_module_here'"
    )
    assert len(report.problems) == len([r for _, r in BROKEN.values() if r]) + 2
    loaded = {p.name for p in report.plugins}
    assert loaded == {"a_first", "fine", "maxout", "glu_block"}
    assert "fine_block" in report.catalog and "shared_block" in report.catalog and "bad_default" not in report.catalog
    for problem in report.problems:  # the source is a file or folder that exists, or an entry point
        assert problem.source.startswith("entry point") or Path(problem.source).exists(), problem


def test_every_command_prints_plugin_problems_once_and_carries_on(places: Places, capsys):
    bad = places.write("oops.py", "raise ImportError('needs scipy')\n")
    places.load()
    assert main(["templates", "--brief"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"plugin problem: {bad}: import failed: ImportError: needs scipy (oops.py, line 1)"
    ]
    assert "mlp_2d" in captured.out


@pytest.mark.parametrize(
    ("block_id", "params", "shape"),
    [
        ("maxout", {"out_features": 5, "pieces": 3}, (7,)),
        ("maxout", {"out_features": 4, "pieces": 2, "bias": False}, (6, 3)),
        *[
            ("gated_linear", {"out_features": 5, "gate": gate}, (4,))
            for gate in ("sigmoid", "silu", "gelu", "relu", "linear")
        ],
        ("gated_linear", {"out_features": 3}, (5, 8)),
        ("gated_feed_forward", {"hidden": 12, "dropout": 0.1}, (6,)),
        ("gated_feed_forward", {"hidden": 9, "gate": "gelu"}, (4, 6)),
    ],
)
def test_example_plugin_blocks_build_what_their_shape_rules_say(block_id, params, shape):
    check_block(default_catalog()[block_id], params, {"in": TensorInfo(shape)})


def test_maxout_takes_the_largest_piece_and_glu_gates():
    import torch

    catalog = default_catalog()
    maxout = catalog["maxout"].make({"out_features": 2, "pieces": 3, "bias": True}, {"in": TensorInfo((4,))})
    x = torch.randn(5, 4)
    pieces = maxout.linear(x).reshape(5, 2, 3)
    torch.testing.assert_close(maxout(x), pieces.max(dim=-1).values)
    glu = catalog["gated_linear"].make({"out_features": 3, "gate": "sigmoid", "bias": True}, {"in": TensorInfo((4,))})
    a, b = glu.proj(x).chunk(2, dim=-1)
    torch.testing.assert_close(glu(x), a * torch.sigmoid(b))
    torch.testing.assert_close(glu(x), torch.nn.functional.glu(glu.proj(x), dim=-1))


def plugin_project(extra_block: str | None = None):
    """Two moons through the three example plugin blocks (and ``extra_block`` before the head)."""
    from modstudio.graph.builder import ProjectBuilder
    from modstudio.library import load_template

    template = load_template("mlp_2d", default_catalog())
    template.data.options = {"samples": 240, "noise": 0.2}
    template.training.epochs = 2
    b = ProjectBuilder("plugin-blocks", default_catalog())
    m = b.module("main")
    h = m.add("maxout", "units", m.input("x", [2]), out_features=16, pieces=3)
    h = m.add("gated_linear", "gate", h, out_features=12, gate="silu")
    h = m.add("gated_feed_forward", "ffn", h, hidden=24)
    if extra_block is not None:
        h = m.add(extra_block, "extra", h, width=8)
    m.output("y", m.add("linear", "head", h, out_features=2), task="classification")
    return b.project("plugin blocks", data=template.data, training=template.training)


DENSE_TANH = textwrap.dedent(
    """
    \"\"\"A plugin whose block is built from torch.nn layers only.\"\"\"
    from modstudio.blocks.plugins import BlockSpec, ParamSpec, TensorInfo, single

    def _shape(params, inputs):
        return (TensorInfo((*single(inputs).shape[:-1], params["width"])),)

    def _build(params, inputs):
        from torch import nn

        return nn.Sequential(nn.Linear(single(inputs).shape[-1], params["width"]), nn.Tanh())

    BLOCKS = (
        BlockSpec(id="dense_tanh", title="Dense Tanh", category="Dense", doc="A Linear and a Tanh in one block.",
                  params=(ParamSpec("width", "int", 4, "output features", min=1),), shape=_shape, build=_build),
    )
    """
)


def test_plugin_blocks_train_in_the_worker_and_export_to_python(places: Places, tmp_path, capsys):
    """The example plugins (from the repository) and a plugin from MODSTUDIO_PLUGIN_PATH: the
    spawned worker finds the same plugins as this process."""
    import torch
    from safetensors.torch import load_file

    from modstudio.compile.export import build_network, export_project
    from modstudio.compile.export.check import import_file, sample_inputs
    from modstudio.graph.io import save_project

    places.write("dense_tanh.py", DENSE_TANH)
    assert places.load().problems == []
    project = plugin_project("dense_tanh")
    file = tmp_path / "plugins.msproj"
    save_project(project, file)
    code = main(
        ["train", str(file), "--epochs", "2", "--device", "cpu", "--seed", "3", "-q", "--out", str(tmp_path / "runs")]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "epoch 2/2: train loss" in out.out
    [run] = (tmp_path / "runs").iterdir()
    trained = load_file(str(run / "best.safetensors"))
    assert "units.linear.weight" in trained and "ffn.up.weight" in trained and "extra.0.weight" in trained
    fresh = build_network(project).state_dict()
    assert not torch.equal(trained["units.linear.weight"], fresh["units.linear.weight"])  # training changed it

    target = tmp_path / "model.py"
    result = export_project(project, "python", target, weights=run / "best.safetensors")
    source = target.read_text()
    assert "\nimport glu_block.layer\nimport maxout.layer\n" in source
    assert f"sys.path.append({json.dumps(str(ROOT / 'plugins'))})" in source
    assert (
        "# 'maxout': plugin 'maxout'" in source
        and "# 'gated_feed_forward' and 'gated_linear': plugin 'glu_block'" in source
    )
    assert (
        f"# 'dense_tanh': plugin 'dense_tanh', {places.folder / 'dense_tanh.py'} (built from torch.nn layers only"
        in source
    )
    assert "self.extra = nn.Sequential(nn.Linear(12, 8), nn.Tanh())" in source  # only what differs from defaults
    assert "import dense_tanh" not in source
    assert "self.units = maxout.layer.Maxout(2, 16, pieces=3, bias=True)" in source
    assert result.max_difference is not None and result.max_difference < 1e-5
    model = getattr(import_file(target), result.top_class)()
    model.load_state_dict(trained, strict=True)
    net = build_network(project, run / "best.safetensors").eval()
    model.eval()
    for batch in (1, 9):
        inputs = sample_inputs(project, batch, seed=batch)
        with torch.no_grad():
            torch.testing.assert_close(model(*inputs), net(*inputs), atol=1e-6, rtol=0)
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists():  # ruff is in the dev extra
        for args in (["--isolated"], ["--config", str(ROOT / "pyproject.toml")]):
            done = subprocess.run([str(ruff), "check", *args, str(target)], capture_output=True, text=True)
            assert done.returncode == 0, done.stdout


def test_a_plugin_layer_without_a_usable_extra_repr_cannot_be_exported(places: Places, tmp_path):
    from modstudio.compile.export import ExportError, export_project
    from modstudio.graph.builder import ProjectBuilder

    places.write(
        "scaler.py",
        block_source("scaler").replace("return nn.Identity()", "return Scale(2.0)")
        + textwrap.dedent(
            """
            import torch


            class Scale(torch.nn.Module):
                def __init__(self, factor):
                    super().__init__()
                    self.factor = factor

                def forward(self, x):
                    return x * self.factor
            """
        ),
    )
    catalog = places.load().catalog
    b = ProjectBuilder("scaled", catalog)
    m = b.module("main")
    m.output("y", m.add("linear", "fc", m.add("scaler", "scale", m.input("x", [2])), out_features=2))
    with pytest.raises(
        ExportError, match=r"cannot write Scale of plugin 'scaler' as code \(scaler.Scale\(\)\).*extra_repr"
    ):
        export_project(b.project("scaled"), "python", tmp_path / "out.py", catalog=catalog)
    assert not (tmp_path / "out.py").exists()


def test_a_project_using_a_plugin_that_is_not_installed_opens_and_says_so(tmp_path, capsys):
    from modstudio.compile.export import ExportError, export_project
    from modstudio.compile.shapes import infer_shapes
    from modstudio.engine.errors import EngineError
    from modstudio.engine.session import prepare
    from modstudio.engine.settings import TrainSettings
    from modstudio.graph.document import Document, OperationError
    from modstudio.graph.io import load_project, project_to_dict
    from modstudio.graph.validate import missing_blocks

    data = project_to_dict(plugin_project())
    for node in data["modules"]["main"]["nodes"]:
        if node["block"] == "maxout":
            node["block"] = "kan_spline"  # a plugin block this installation does not have
            node["params"] = {"grid": 5, "order": "cubic"}
    file = tmp_path / "elsewhere.msproj"
    file.write_text(json.dumps(data), encoding="utf-8")
    project = load_project(file, default_catalog())
    node = project.main_module.node_named("units")
    assert node.block == "kan_spline" and node.params == {"grid": 5, "order": "cubic"}  # kept as it was
    sentence = "node 'units' has unknown block type 'kan_spline': neither ModStudio nor an installed plugin provides it"
    assert [str(p) for p in missing_blocks(project, default_catalog())] == [
        f"modules.main.nodes[1].block: {sentence} (is the plugin that adds it installed?)"
    ]
    assert infer_shapes(project).error_for(node.id).startswith(sentence)
    assert main(["validate", str(file)]) == 2
    assert sentence in capsys.readouterr().err
    with pytest.raises(ExportError, match=f"the project does not compile: {sentence}"):
        export_project(project, "python", tmp_path / "out.py")
    with pytest.raises(EngineError, match=f"the network cannot be built: {sentence}"):
        prepare(project, TrainSettings(runs_root=str(tmp_path / "runs"), device="cpu"))
    with pytest.raises(OperationError, match="cannot set grid of 'units': 'units' has unknown block type 'kan_spline'"):
        Document(project, default_catalog()).check_param("main", node, "grid", 7)


def test_plugin_templates_are_listed_and_open_like_modstudios_own(tmp_path: Path, capsys) -> None:
    from modstudio.cli import main
    from modstudio.library import load_template, resources_dir, template_path, templates

    infos = {t.name: t for t in templates()}
    maxout = infos["maxout_moons"]
    assert maxout.plugin == "maxout" and maxout.title == "Maxout network on two moons"
    assert template_path("maxout_moons") == maxout.path and maxout.path.parent.parent.name == "maxout"
    own = resources_dir() / "templates"
    assert all((t.plugin is None) == (t.path.parent == own) for t in infos.values())
    project = load_template("maxout_moons")
    assert any(n.block == "maxout" for m in project.modules.values() for n in m.nodes)
    assert main(["templates", "--brief"]) == 0
    assert "Maxout network on two moons  (from the plugin maxout)" in capsys.readouterr().out
    out = tmp_path / "mine.msproj"
    assert main(["new", "--template", "maxout_moons", "-o", str(out)]) == 0 and out.is_file()
