"""Export never runs a project's text as code: names, docs, data paths and string parameters
holding quotes, backslashes, line breaks, NUL bytes, Unicode separators or an encoding line are
written as inert text in every format, and read back as they were written."""

from __future__ import annotations

import ast
import csv
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from modstudio.blocks import default_catalog
from modstudio.cli import EXIT_BAD_INPUT, EXIT_OK, main
from modstudio.compile.export import ExportError, build_network, export_project
from modstudio.compile.export.check import import_file, largest_difference
from modstudio.compile.export.inert import python_text
from modstudio.compile.export.python_code import generate_python
from modstudio.engine.torchrun import export_torchrun
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.model import DataSection, Project
from modstudio.library import load_template

EXPORT_PACKAGE = Path(__file__).resolve().parents[2] / "modstudio" / "compile" / "export"
FORMATS = {"python": ".py", "torchscript": ".pt", "pt2": ".pt2", "onnx": ".onnx", "torchrun": ""}


def hostile_pieces(marker: Path) -> list[str]:
    """Text that becomes code if it is pasted into Python source: each piece creates ``marker``."""
    m = repr(str(marker))
    return [
        f'x""";open({m},"w");"""',
        f"x''';open({m},'w');'''",
        f'"\nopen({m},"w")\n"',
        f"line\nimport pathlib; pathlib.Path({m}).touch()",
        f"continued \\\nopen({m},'w')",
        "ends with a backslash \\",
        r"C:\Users\me\x.csv",
        "a NUL \x00 byte",
        f"separators \u2028open({m},'w')\u2029 \x85 \x0b\x0c \x1c",
        f"\n# -*- coding: utf-7 -*-\n+AAo-open({m},'w')\n",
        "\n# -*- coding: latin-1 -*-\n",
        f"carriage\ropen({m},'w')\r\nreturn",
        '"',
        "\x001\x00 @@1@@ {0} %s",
        "trailing spaces   \n\tand tabs\t",
        "emoji \U0001f600, accents é, right-to-left \u202e override",
    ]


def hostile_project(tmp_path: Path, marker: Path) -> tuple[Project, dict[str, str]]:
    """The smallest project with hostile text in every text field, and the most hostile names the
    document accepts (names that shadow torch, builtins and keywords once capitalised). Its data
    is a CSV file whose file name and target column are hostile too."""
    pieces = hostile_pieces(marker)
    texts = {field: f"{field}: " + "\n".join(pieces) for field in ("project name", "project doc", "module doc")}
    target = "target: " + " ".join(pieces[:7])  # a column name (csv holds no NUL byte)
    data = tmp_path / f'data x""";open("{marker.name}","w");"""\n.csv'
    with data.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["a", "b", target], *([i % 5 / 5, i % 3 / 3, i % 2] for i in range(40))])
    pb = ProjectBuilder("hostile")
    block = pb.module("none", doc=texts["module doc"], width=3)  # camel-cased, 'None' is a keyword
    block.output("print", block.add("linear", "torch", block.input("self"), out_features="=width"))
    main = pb.module("main")
    hidden = main.use("none", "F", main.input("x", [2]))
    sys_ = main.add("relu", "sys", hidden)
    main.output("math", main.add("linear", "nn", sys_, out_features=2), task="classification")
    project = pb.project(texts["project name"], doc=texts["project doc"])
    options = {"path": str(data), "target": target.strip(), "task": "classification"}
    project.data = DataSection(dataset="csv", options=options, batch_size=8)
    return project, texts


def check_source(source: str, project: Project) -> None:
    """The generated file: the project's text only as the docstrings it belongs in, equal to it;
    nothing but imports, classes and functions at the top; no call that could create a file."""
    tree = ast.parse(source)
    docs = {node.name: ast.get_docstring(node, clean=False) for node in tree.body if isinstance(node, ast.ClassDef)}
    assert docs["Model"] == project.doc
    assert docs["NoneModule"] == project.modules["none"].doc
    assert "    def __init__(self, in_features: int, width: int = 3) -> None:\n" in source
    assert "        self.torch = nn.Linear(in_features, width)\n" in source
    assert f"\nProject: {project.name}\n" in (ast.get_docstring(tree, clean=False) or "")
    for node in tree.body[1:]:
        assert isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef)), ast.dump(node)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        for statement in body[1:] if isinstance(body, list) else []:  # a string statement only as a docstring
            assert not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)), ast.dump(node)
        assert not (isinstance(node, ast.Name) and node.id in {"open", "pathlib", "exec", "eval", "__import__"})


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_text_in_every_field_exports_in_every_format_and_never_runs(tmp_path, fmt):
    marker = tmp_path / "INJECTED"
    project, texts = hostile_project(tmp_path, marker)
    out = tmp_path / f"out{FORMATS[fmt]}"
    result = export_torchrun(project, out) if fmt == "torchrun" else export_project(project, fmt, out)
    assert not marker.exists()
    assert result.max_difference is not None and result.max_difference <= 1e-5
    if fmt in ("python", "torchrun"):
        model_file = out / "model.py" if fmt == "torchrun" else out
        check_source(model_file.read_text(encoding="utf-8"), project)
        module = import_file(model_file)  # a later import runs nothing either
        # (Python 3.13 takes the indentation out of docstrings as it compiles them; cleandoc does the same here)
        assert inspect.cleandoc(module.Model.__doc__) == inspect.cleandoc(project.doc)
        assert inspect.cleandoc(module.NoneModule.__doc__) == inspect.cleandoc(texts["module doc"])
        assert not marker.exists()
    if fmt == "torchrun":
        train = subprocess.run([sys.executable, "train.py", "--epochs", "1", "--out", str(tmp_path / "run")],
                               cwd=out, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert train.returncode == 0, train.stderr
        assert (tmp_path / "run" / "best.safetensors").is_file() and not marker.exists()


@pytest.mark.parametrize("piece", range(len(hostile_pieces(Path("m")))))
def test_each_hostile_piece_alone_round_trips_in_the_generated_source(tmp_path, piece):
    marker = tmp_path / "INJECTED"
    project, _ = hostile_project(tmp_path, marker)
    text = hostile_pieces(marker)[piece]
    project.name, project.doc, project.modules["none"].doc = text, text, text
    source = generate_python(project, build_network(project)).source
    check_source(source, project)
    compile(source, "model.py", "exec")  # it is Python; nothing of it ran (no exec here, none needed)
    assert not marker.exists()


@pytest.mark.parametrize(
    "text",
    ["", '"', '""', '"""', 'x"', '\\"', "a\\", "\\", "\n", "\r\n", "\x00", "\ud800", "\U0001f600", "\u2028", " \n "],
)
@pytest.mark.parametrize("form", ["string", "docstring"])
def test_python_text_is_a_literal_of_exactly_the_text(text, form):
    source = python_text(text, form)
    tree = ast.parse(source, mode="eval")
    assert isinstance(tree.body, ast.Constant) and tree.body.value == text
    assert "\r" not in source and "\x00" not in source and (form == "docstring" or "\n" not in source)


def test_python_text_comments_hold_no_line_break():
    text = "plugin 'x'\nimport os\r# -*- coding: utf-7 -*-\u2028\x00C:\\path"
    comment = python_text(text, "comment")
    assert [line[:2] for line in comment.split("\n")] == ["# ", "# "] and "\r" not in comment
    assert ast.parse(comment + "\n").body == []  # comments only
    assert "C:\\path" in comment  # a path reads as it is


def test_generated_code_has_no_way_in_for_text_but_python_text():
    """The sources that write code never quote text themselves (no triple quotes, no json.dumps
    but for settings.json) and never run text (no eval): strings go through python_text."""
    writers = ["python_code.py", "constructors.py", "torchrun.py", "exporter.py", "check.py", "formats.py"]
    for name in writers:
        source = (
            EXPORT_PACKAGE.parent.parent / "engine" / name if name == "torchrun.py" else EXPORT_PACKAGE / name
        ).read_text(encoding="utf-8")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert '"""' not in node.value and "'''" not in node.value, f"{name}: {node.value!r}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "dumps":
                assert name == "torchrun.py", f"{name} writes JSON into code"  # settings.json only
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "eval":
                pytest.fail(f"{name} calls eval")


def test_repro_doc_injection_does_not_run_on_export_or_import(tmp_path):
    marker = tmp_path / "INJECTED"
    project = load_template("mlp_2d", default_catalog())
    project.doc = f'x""";__import__("pathlib").Path({str(marker)!r}).touch();"""'
    for fmt in ("python", "torchscript", "pt2"):
        export_project(project, fmt, tmp_path / f"m{FORMATS[fmt]}")
    assert not marker.exists()
    assert import_file(tmp_path / "m.py").Model.__doc__ == project.doc and not marker.exists()


@pytest.mark.parametrize(
    "field, text",
    [
        ("name", 'My """model"""\nwith a second line'),
        ("doc", r"Reads C:\Users\me\x.csv"),
        ("doc", "Ends in a backslash \\"),
    ],
)
def test_repro_names_and_docs_that_were_a_syntax_error_export(tmp_path, field, text):
    project = load_template("mlp_2d", default_catalog())
    setattr(project, field, text)
    result = export_project(project, "python", tmp_path / "m.py")
    assert result.max_difference is not None and result.max_difference <= 1e-5
    module = import_file(tmp_path / "m.py")
    assert (module.Model.__doc__ == text) if field == "doc" else (f"Project: {text}\n" in module.__doc__)


def test_a_node_name_that_is_not_an_identifier_stops_the_export_with_its_name(tmp_path):
    project = load_template("mlp_2d", default_catalog())
    project.main_module.nodes[1].name = "fc1\n"  # '$' in a name pattern lets a last newline through
    with pytest.raises(ExportError, match=r"modules\.main\.nodes\[1\]\.name: 'fc1\\n' is not a valid name"):
        export_project(project, "python", tmp_path / "m.py")
    assert list(tmp_path.iterdir()) == []


def _nan_weights(project: Project, path: Path, value: float = float("nan")) -> None:
    state = build_network(project).state_dict()
    save_file({k: torch.full_like(v, value) if v.is_floating_point() else v for k, v in state.items()}, str(path))


def test_repro_cli_export_of_nan_weights_says_so_instead_of_within_zero(tmp_path, capsys):
    project_file = tmp_path / "p.msproj"
    assert main(["new", "--template", "mlp_2d", "-o", str(project_file)]) == EXIT_OK
    _nan_weights(load_template("mlp_2d", default_catalog()), tmp_path / "nan.safetensors")
    capsys.readouterr()
    code = main(["export", str(project_file), "--format", "python", "-o", str(tmp_path / "m.py"),
                 "--weights", str(tmp_path / "nan.safetensors")])  # fmt: skip
    captured = capsys.readouterr()
    assert code == EXIT_BAD_INPUT and "within" not in captured.out + captured.err
    assert "the weights in" in captured.err and "are not all numbers (fc1.bias: NaN in 64 of 64 values;" in captured.err
    assert "Traceback" not in captured.err and not (tmp_path / "m.py").exists()


def test_nan_in_the_projects_own_starting_weights_is_an_error_not_a_match(tmp_path):
    project = load_template("mlp_2d", default_catalog())
    _nan_weights(project, tmp_path / "start.safetensors", float("inf"))
    project.training.init_weights = "start.safetensors"
    with pytest.raises(ExportError, match=r"the project's outputs hold (NaN|inf|NaN and inf) in \d+ of \d+ values"):
        export_project(project, "pt2", tmp_path / "m.pt2", base_dir=tmp_path)
    assert not (tmp_path / "m.pt2").exists()


class _Constant(torch.nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], 3)
        out[:, 1] = self.value
        return out


@pytest.mark.parametrize(
    "project_gives, export_gives, message",
    [
        (float("nan"), 0.0, r"the project's outputs hold NaN in 2 of 6 values on the check inputs"),
        (float("inf"), float("inf"), r"the project's outputs hold inf in 2 of 6 values"),
        (0.0, float("nan"), r"the export's outputs hold NaN in 2 of 6 values where the project's are finite"),
        (0.0, float("-inf"), r"the export's outputs hold inf in 2 of 6 values"),
    ],
)
def test_the_check_never_reports_nan_or_inf_as_no_difference(project_gives, export_gives, message):
    with pytest.raises(ExportError, match=message):
        largest_difference(_Constant(project_gives), _Constant(export_gives), (torch.zeros(2, 4),))
    assert largest_difference(_Constant(0.5), _Constant(0.25), (torch.zeros(2, 4),)) == 0.25


LABELLED_PLUGIN = '''
"""A test plugin whose layer prints a text parameter in its extra_repr."""
import torch
from modstudio.blocks.plugins import BlockSpec, ParamSpec, single


class Labelled(torch.nn.Module):
    def __init__(self, label):
        super().__init__()
        self.label = label

    def extra_repr(self):
        return QUOTED

    def forward(self, x):
        return x


BLOCKS = (
    BlockSpec(
        id="labelled", title="Labelled", category="Test", doc="Passes its input on, with a label.",
        params=(ParamSpec("label", "str", "", "any text"),),
        shape=lambda params, inputs: (single(inputs),), build=lambda params, inputs: Labelled(params["label"]),
    ),
)
'''


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from tests.blocks.test_plugins_support import plugin_places

    yield from plugin_places(tmp_path, monkeypatch)


@pytest.mark.parametrize("quoted", [True, False])
def test_a_plugin_text_parameter_is_written_as_text_or_refused_never_run(places, tmp_path, quoted):
    marker = tmp_path / "INJECTED"
    extra_repr = "f'label={self.label!r}'" if quoted else "f'label={self.label}'"
    places.write("labelled.py", LABELLED_PLUGIN.replace("QUOTED", extra_repr))
    catalog = places.load().catalog
    label = f'"", x=open({str(marker)!r}, "w") and ""' + ("\n\\" if quoted else "")
    pb = ProjectBuilder("labelled", catalog)
    m = pb.module("main")
    m.output("y", m.add("linear", "fc", m.add("labelled", "tag", m.input("x", [2]), label=label), out_features=2))
    out = tmp_path / "m.py"
    if not quoted:  # printed as code: it cannot be read back as plain values, so it is refused
        with pytest.raises(ExportError, match=r"cannot write Labelled of plugin '.*' as code .*not plain values"):
            export_project(pb.project("labelled"), "python", out, catalog=catalog)
        assert not marker.exists() and not out.exists()
        return
    export_project(pb.project("labelled"), "python", out, catalog=catalog)
    calls = [n for n in ast.walk(ast.parse(out.read_text(encoding="utf-8"))) if isinstance(n, ast.Call)]
    written = [k.value for c in calls for k in c.keywords if k.arg == "label"]
    assert len(written) == 1 and isinstance(written[0], ast.Constant) and written[0].value == label
    assert import_file(out).Model().tag.label == label and not marker.exists()


def test_a_project_opened_for_repair_is_not_exported_before_its_problems_are_fixed(tmp_path: Path) -> None:
    """The editor keeps a file's bad names and values to be fixed (graph/repair.py); export refuses them."""
    from modstudio.graph.repair import load_leniently

    corpus = Path(__file__).resolve().parents[1] / "corpus"
    project = load_leniently(corpus / "reserved_name.msproj", default_catalog()).project
    out = tmp_path / "model.py"
    with pytest.raises(ExportError, match=r"the project has 1 problem to fix first: .*'forward' is reserved"):
        export_project(project, "python", out)
    assert not out.exists() and list(tmp_path.iterdir()) == []
