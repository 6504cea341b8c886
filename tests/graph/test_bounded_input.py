"""Issue 14's repro files: each number, nesting, string and recursion gives a named problem, never a traceback.

Every number in a file and every expression result is finite and within ±10^15 (or its
parameter's range); nesting is at most 64 deep; problems name the field and the line and
column in the user's own file.
"""

from __future__ import annotations

import json

import pytest

from modstudio.blocks import default_catalog
from modstudio.cli import main
from modstudio.compile.shapes import infer_shapes
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.expressions import ExpressionError, evaluate
from modstudio.graph.io import project_from_json, project_to_dict, project_to_json
from modstudio.graph.problems import ProjectError
from modstudio.graph.schema import ParamSpec
from tests.corpus.make_corpus import base_project

BASE = json.dumps(base_project(), indent=2)


def _problems(text: str) -> str:
    with pytest.raises(ProjectError) as info:
        project_from_json(text, default_catalog(), "p.msproj")
    return info.value.describe()


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_json_nested_1200_deep_names_the_place_in_the_users_file():
    text = BASE.replace('"view": {}', '"view": ' + "[" * 1200 + "]" * 1200)
    line = _line_of(text, '"view"')
    column = text.splitlines()[line - 1].index("[") + 1 + 62  # the file's object, 'ui', then the 63rd bracket
    described = _problems(text)
    assert "ui.view[0][0][0][0][0][0]...: nested more than 64 objects or arrays deep" in described
    assert f"(line {line}, column {column})" in described


def test_json_nested_100_deep_is_refused_before_the_schema_parser():
    text = BASE.replace('"view": {}', '"view": ' + '{"a": ' * 100 + "1" + "}" * 100)
    assert "nested more than 64 objects or arrays deep" in _problems(text)


def test_the_deepest_shipped_file_is_well_within_the_limit():
    from tests.graph.project_fuzzer import seed_files

    def depth(value):
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
        return 1 + max((depth(c) for c in children), default=0) if isinstance(value, (dict, list)) else 0

    assert max(depth(json.loads(p.read_text(encoding="utf-8"))) for p in seed_files()) <= 16


def test_an_integer_of_4301_digits_is_a_named_problem():
    text = BASE.replace('"out_features": 8', '"out_features": 1' + "0" * 4300)
    line = _line_of(text, '"out_features": 1')
    assert (
        "modules.main.nodes[1].params.out_features: a whole number with 4301 digits is too large: "
        f"numbers in a project lie within ±10^15 (line {line}, column 29)"
    ) in _problems(text)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("1" + "0" * 400, "a whole number with 401 digits is too large"),
        ("4611686018427387904", "a whole number with 19 digits is too large"),
        ("1e309", "1e309 is too large"),
        ("-1e400", "-1e400 is too large"),
        ("NaN", "NaN is not a number a project can hold (JSON has no NaN)"),
        ("-Infinity", "-Infinity is not a number a project can hold"),
        ("1000000000000001", "1000000000000001 is too large: numbers in a project lie within ±10^15"),
    ],
)
def test_out_of_bound_numbers_are_named_at_their_field(written, message):
    assert f"modules.main.nodes[1].params.out_features: {message}" in _problems(
        BASE.replace('"out_features": 8', f'"out_features": {written}')
    )


def test_a_range_message_never_overflows_while_formatting():
    spec = ParamSpec("out_features", "int", 1, min=1, max=1_000_000)
    assert spec.check(10**400) == "must be <= 1000000, not a number of about 10^400"
    assert spec.check(10**5000) == "must be <= 1000000, not a number of about 10^5000"
    assert ParamSpec("p", "float", 0.5, min=0.0, max=1.0).check(float("inf")) == "must be <= 1, not infinity"
    assert ParamSpec("p", "float", 0.5, min=0.0, max=1.0).check(float("nan")) == "NaN is not a finite number"
    unbounded = ParamSpec("s", "ints", None, min=1).check([1, 10**5000])  # no maximum: the bound on every number
    assert unbounded == "a number of about 10^5000 is too large: numbers in a project lie within ±10^15"


def test_a_lone_surrogate_is_named_at_its_field_in_the_users_file():
    text = BASE.replace('"name": "fc1"', '"name": "fc\\ud800"')
    line = _line_of(text, '"fc\\ud800"')
    column = text.splitlines()[line - 1].index('"fc') + 1
    assert (
        "modules.main.nodes[1].name: the text holds a lone surrogate escape (\\ud800), which is not a character "
        f"(line {line}, column {column})"
    ) in _problems(text)


def test_schema_problems_give_the_line_and_column_of_the_users_file():
    text = BASE.replace('"epochs": 20', '"epochs": "20"')
    line = _line_of(text, '"epochs"')
    assert f"training.epochs: should be a valid integer (line {line}, column 15)" in _problems(text)


def test_a_missing_field_is_placed_at_its_object_and_a_union_error_at_its_value():
    text = BASE.replace('"id": ', '"idx": ', 1)
    node_line = _line_of(text, '"idx"') - 1  # the node's opening brace
    column = text.splitlines()[node_line - 1].index("{") + 1
    assert f"modules.main.nodes[0].id: required field is missing (line {node_line}, column {column})" in _problems(text)
    text = BASE.replace('"width": 16', '"width": "16"')
    line = _line_of(text, '"width": "16"')
    assert f"modules.Block.params.width.int: should be a valid integer (line {line}, " in _problems(text)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("=1e309", "'1e309': the result is out of range: infinity is not a finite number"),
        ("=int(1e309)", "'int(1e309)': the result is out of range: infinity is not a finite number"),
        ("=round(1e309)", "'round(1e309)': the result is out of range: infinity is not a finite number"),
        ("=1e15**64", "'1e15**64': a result is out of range (numbers lie within ±10^15)"),
        ("=round(5, -10**15)", "'round(5, -10**15)': round() to -1000000000000000 digits; at most 15"),
        ("=(10**15)**64", "'(10**15)**64': the result is out of range: a number of about 10^960 is too large"),
    ],
)
def test_expressions_out_of_range_are_named(expression, message):
    with pytest.raises(ExpressionError) as info:
        evaluate(expression, {})
    assert message in str(info.value)
    project = project_from_json(BASE.replace('"=width * 2"', json.dumps(expression)), default_catalog())
    [problem] = infer_shapes(project).errors
    assert f"Linear 'fc' has a bad parameter: cannot set out_features: {message}" in problem.message


def test_a_module_parameter_of_10_to_the_400_used_as_an_expression():
    text = BASE.replace('"width": 16', '"width": 1' + "0" * 400)
    assert "modules.Block.params.width: a whole number with 401 digits is too large" in _problems(text)
    project = project_from_json(BASE.replace('"width": 4', '"width": 1000000000000000'), default_catalog())
    [problem] = infer_shapes(project).errors
    assert "'width * 2': the result is out of range: 2000000000000000 is too large" in problem.message


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([2**62], "a whole number with 19 digits is too large"),
        ([10**30], "a whole number with 31 digits is too large"),
        ([65_537], "modules.main.nodes[0].params.shape: must be <= 65536, not 65537"),
    ],
)
def test_input_shape_entries_have_a_maximum(shape, message):
    data = base_project()
    data["modules"]["main"]["nodes"][0]["params"]["shape"] = shape
    assert message in _problems(json.dumps(data))


def test_input_shape_holds_at_most_2_to_the_24_values_per_sample():
    data = base_project()
    data["modules"]["main"]["nodes"][0]["params"]["shape"] = [60_000, 60_000]
    [problem] = infer_shapes(project_from_json(json.dumps(data), default_catalog())).errors
    assert problem.message == (
        "Input 'x' declares a sample of shape [60000, 60000], 3,600,000,000 values; one sample holds at most 16,777,216"
    )


def _moe_inside_its_default_expert() -> dict:
    """Module 'Expert' holds a Mixture of Experts left at its defaults, whose default expert is 'Expert'."""
    assert default_catalog()["moe"].params[0].default == ["Expert"]
    pb = ProjectBuilder("recursive experts")
    expert = pb.module("Expert")
    expert.output("y", expert.add("moe", "mix", expert.input("x")))
    b = pb.module("main")
    b.output("y", b.use("Expert", "team", b.input("x", [4])), task="classification")
    return project_to_dict(pb.project("recursive experts"))


def test_a_member_left_at_its_default_counts_for_the_recursion_check():
    data = _moe_inside_its_default_expert()
    assert "mix" in json.dumps(data) and '"experts"' not in json.dumps(data)  # the param is not in the file
    assert "modules.Expert: recursive module reference: Expert -> Expert" in _problems(json.dumps(data))


def test_shape_inference_names_recursion_instead_of_recursing():
    """Shape inference runs on projects the editor holds, checked or not: it names the loop."""
    data = _moe_inside_its_default_expert()
    project = project_from_json(json.dumps(data))  # no catalogue: loaded without the checks
    [problem] = infer_shapes(project, default_catalog()).errors
    assert "uses module 'Expert' inside itself (recursive module reference: Expert -> Expert)" in problem.message


def test_renaming_a_module_follows_members_left_at_their_default():
    from modstudio.graph.references import referenced_modules, rename_references

    pb = ProjectBuilder("rename")
    b = pb.module("main")
    b.output("y", b.add("moe", "mix", b.input("x", [4])))
    node = pb.project("rename").main_module.node_named("mix")
    assert referenced_modules(node, default_catalog()) == ["Expert"]
    assert rename_references(node, default_catalog(), "Expert", "Specialist")
    assert node.params["experts"] == ["Specialist"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda t: t.replace('"out_features": 8', '"out_features": 1' + "0" * 4300), "with 4301 digits is too large"),
        (lambda t: t.replace('"view": {}', '"view": ' + "[" * 1200 + "]" * 1200), "nested more than 64"),
        (lambda t: t.replace('"name": "fc1"', '"name": "fc\\ud800"'), "lone surrogate escape (\\ud800)"),
        (lambda t: json.dumps(_moe_inside_its_default_expert()), "recursive module reference: Expert -> Expert"),
        (lambda t: t.replace('"=width * 2"', '"=1e15**64"'), "'1e15**64': a result is out of range"),
    ],
)
def test_validate_on_the_command_line_exits_2_with_the_named_problem(tmp_path, capsys, change, words):
    path = tmp_path / "bad.msproj"
    path.write_text(change(BASE), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert words in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_a_valid_file_still_round_trips():
    project = project_from_json(BASE, default_catalog())
    assert json.loads(project_to_json(project)) == json.loads(BASE)


# ints lists that the block's shape rule checks against its input (an index or a split of it)
CHECKED_AGAINST_THE_INPUT = {
    ("tree", "branch_of_class"),
    ("cooperative", "splits"),
    ("reshape", "shape"),
    ("permute", "dims"),
}


def test_every_number_param_of_every_block_has_a_maximum():
    """A layer's size follows from its params: with no maximum, 'mlp_ratio: 1e15' or 'num_embeddings: 10**15'
    made weights of more than 2**63 values, which even the meta device cannot describe."""
    unbounded = {
        (spec.id, p.name)
        for spec in default_catalog()
        for p in spec.params
        if p.kind in ("int", "float", "ints") and p.max is None
    }
    assert unbounded == CHECKED_AGAINST_THE_INPUT
    assert default_catalog()["transformer_encoder_block"].params[1].check(1e15) == "must be <= 64, not 1000000000000000"
    assert default_catalog()["embedding"].params[0].check(10**15) == "must be <= 16777216, not 1000000000000000"


def test_modules_nested_more_than_32_deep_are_named_not_recursed_into():
    pb = ProjectBuilder("deep modules")
    last = pb.module("M40")
    last.output("y", last.add("relu", "act", last.input("x")))
    for i in range(39, -1, -1):
        m = pb.module(f"M{i}")
        m.output("y", m.use(f"M{i + 1}", "inner", m.input("x")))
    b = pb.module("main")
    b.output("y", b.use("M0", "outer", b.input("x", [4])), task="classification")
    project = project_from_json(project_to_json(pb.project("deep modules")), default_catalog())
    [problem] = infer_shapes(project).errors
    assert "nests modules more than 32 deep (through 'M31')" in problem.message


@pytest.mark.parametrize("name", ["fc1\n", "fc1\nimport os", "Block\n"])
def test_a_name_ending_in_a_line_break_is_refused(name):
    from modstudio.graph.names import module_name_problem, node_name_problem

    assert node_name_problem(name) and module_name_problem(name)
