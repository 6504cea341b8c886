"""Each broken project file in tests/corpus gives its own named error, with a path."""

from __future__ import annotations

from pathlib import Path

import pytest

from modstudio.blocks import default_catalog
from modstudio.graph.io import load_project
from modstudio.graph.problems import ProjectError

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

EXPECTED = {
    "truncated": "not valid JSON: Unterminated string",
    "empty": "not valid JSON: Expecting value (line 1, column 1)",
    "not_utf8": "not a text file (bad UTF-8",
    "not_an_object": "a project file must hold a JSON object",
    "wrong_type_epochs": "training.epochs: should be a valid integer",
    "wrong_type_param": "modules.main.nodes[1].params.out_features: must be a whole number, not 'eight'",
    "out_of_range_param": "modules.main.nodes[1].params.out_features: must be >= 1, not 0",
    "unknown_param": "modules.main.nodes[1].params.kernel_size: Linear has no parameter 'kernel_size'",
    "unknown_field": "modules.main.nodes[0].colour: unknown field",
    "missing_field": "modules.main.nodes[1].id: required field is missing",
    "cycle": "modules.main.edges: cycle: fc1 -> relu1 -> fc1",
    "dangling_edge": "modules.main.edges[0]: dangling edge: it goes to node '0000-gone', which does not exist",
    "unknown_port": "modules.main.edges[0].dst_port: 'fc1' has no input 'input' (inputs: in)",
    "doubly_fed_port": "input 'in' of 'relu1' is fed by more than one edge",
    "missing_module": "modules.main.nodes[3].module: node 'block' refers to module 'Missing', which does not exist",
    "recursive_module": "modules.Block: recursive module reference: Block -> Block",
    "mutually_recursive_modules": "recursive module reference: Block -> Other -> Block",
    "bad_module_param": "modules.main.nodes[3].params.depth: module 'Block' has no parameter 'depth' (parameters: width)",
    "bad_expression": "modules.Block.nodes[1].params.out_features: cannot parse 'width *'",
    "unknown_name_in_expression": "expression 'widht * 2' uses unknown name 'widht' (module parameters: width)",
    "unsafe_expression": "only the functions abs, int, max, min, round may be called",
    "duplicate_ids": "modules.main.nodes[2].id: duplicate node id",
    "duplicate_names": "modules.main.nodes[2].name: duplicate node name 'fc1'",
    "reserved_name": "modules.main.nodes[1].name: 'forward' is reserved",
    "newer_format": "format_version: written by a newer ModStudio (format 99)",
    "missing_main": "main: main module 'network' does not exist (modules: Block, main)",
    "recursive_default_member": "modules.Expert: recursive module reference: Expert -> Expert",
    "huge_integer": (
        "modules.main.nodes[1].params.out_features: a whole number with 4301 digits is too large: "
        "numbers in a project lie within ±10^15 (line 26, column 29)"
    ),
    "not_a_number": "modules.main.nodes[1].params.out_features: NaN is not a number a project can hold",
    "deep_nesting": "ui.view[0][0][0][0][0][0]...: nested more than 64 objects or arrays deep (line 185, column 75)",
    "lone_surrogate": "modules.main.nodes[1].name: the text holds a lone surrogate escape (\\ud800), which is not a character",
}


def test_corpus_is_complete():
    on_disk = {p.stem for p in CORPUS.glob("*.msproj")}
    assert set(EXPECTED) <= on_disk
    assert on_disk - set(EXPECTED) == {"valid", "shape_mismatch", "expression_out_of_range", "unknown_block"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_gives_its_named_error(name):
    with pytest.raises(ProjectError) as info:
        load_project(CORPUS / f"{name}.msproj", default_catalog())
    text = info.value.describe()
    assert EXPECTED[name] in text
    assert text.startswith(str(CORPUS / f"{name}.msproj"))


@pytest.mark.parametrize("name", ["valid", "shape_mismatch", "expression_out_of_range", "unknown_block"])
def test_files_that_load(name):
    project = load_project(CORPUS / f"{name}.msproj", default_catalog())
    assert set(project.modules) == {"main", "Block"}


def test_a_block_nobody_provides_loads_with_the_node_marked():
    """Projects never carry code: a block type from a plugin that is not installed (or a typo)
    does not stop the file from opening; the node is kept and named as the problem."""
    from modstudio.compile.shapes import infer_shapes
    from modstudio.graph.validate import missing_blocks

    project = load_project(CORPUS / "unknown_block.msproj", default_catalog())
    node = project.main_module.node_named("relu1")
    assert node is not None and node.block == "rectifier"
    [problem] = missing_blocks(project, default_catalog())
    assert str(problem).startswith("modules.main.nodes[2].block: node 'relu1' has unknown block type 'rectifier'")
    shapes = infer_shapes(project, default_catalog())
    assert "node 'relu1' has unknown block type 'rectifier'" in shapes.error_for(node.id)


def test_corpus_matches_its_generator(tmp_path, monkeypatch):
    from tests.corpus import make_corpus

    monkeypatch.setattr(make_corpus, "HERE", tmp_path)
    make_corpus.main()
    for made in tmp_path.iterdir():
        assert made.read_bytes() == (CORPUS / made.name).read_bytes(), made.name
