"""Lenient loading (graph/repair.py): what can be kept is kept and flagged, every change is listed,
and what cannot be represented is refused as strictly as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modstudio.blocks import default_catalog
from modstudio.graph.io import project_to_json
from modstudio.graph.problems import ProjectError
from modstudio.graph.repair import load_leniently, node_problems, project_leniently

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
REFUSED = ["truncated", "empty", "not_utf8", "not_an_object", "newer_format", "huge_integer", "not_a_number"]
REFUSED += ["deep_nesting", "lone_surrogate"]


def loaded(name: str):
    return load_leniently(CORPUS / f"{name}.msproj", default_catalog())


@pytest.mark.parametrize("name", REFUSED)
def test_what_cannot_be_represented_is_refused_with_the_strict_message(name: str) -> None:
    with pytest.raises(ProjectError) as info:
        loaded(name)
    assert info.value.describe().startswith(str(CORPUS / f"{name}.msproj"))


def test_every_other_corpus_file_opens_and_names_its_problems() -> None:
    for path in sorted(CORPUS.glob("*.msproj")):
        if path.stem in REFUSED:
            continue
        result = load_leniently(path, default_catalog())
        fine = path.stem in ("valid", "shape_mismatch", "expression_out_of_range", "unknown_block")
        assert bool(result.problems) != fine, path.stem
        assert result.project.main in result.project.modules


def test_a_wrong_param_is_kept_as_written_and_flagged_on_its_node() -> None:
    result = loaded("wrong_type_param")
    fc1 = result.project.main_module.node_named("fc1")
    assert fc1.params["out_features"] == "eight" and not result.changed
    flagged = node_problems(result.problems, result.project, "main")
    assert flagged == {fc1.id: "params.out_features: must be a whole number, not 'eight'"}


def test_a_field_of_a_typed_section_is_reset_and_listed() -> None:
    result = loaded("wrong_type_epochs")
    assert [str(p) for p in result.problems] == ["training.epochs: should be a valid integer (line 175, column 15)"]
    assert [str(p) for p in result.repairs] == [
        "training.epochs: 'ten' could not be read: removed, the default applies"
    ]
    assert result.project.training.epochs == 20


def test_an_unknown_field_is_removed_and_listed() -> None:
    result = loaded("unknown_field")
    assert [str(p) for p in result.repairs] == ["modules.main.nodes[0].colour: unknown field removed (it held 'red')"]
    assert len(result.project.main_module.nodes) == 6 and "colour" not in project_to_json(result.project)


def test_dangling_edges_cycles_duplicate_ids_and_a_missing_main_are_repaired_and_listed() -> None:
    dangling = loaded("dangling_edge")
    assert len(dangling.project.main_module.edges) == 4
    assert "removed: dangling edge: it went to node '0000-gone'" in str(dangling.repairs[0])
    cycle = loaded("cycle")
    assert "closed the cycle fc1 -> relu1 -> fc1" in str(cycle.repairs[0])
    ids = loaded("duplicate_ids")
    nodes = ids.project.main_module.nodes
    assert len({n.id for n in nodes}) == len(nodes) and "duplicate id" in str(ids.repairs[0])
    main = loaded("missing_main")
    assert main.project.main == "main" and "'main' is the main module now" in str(main.repairs[0])


def test_an_unknown_block_is_a_missing_block_not_a_problem() -> None:
    result = loaded("unknown_block")
    assert result.problems == [] and "unknown block type 'rectifier'" in str(result.missing_blocks[0])
    assert result.all_problems == result.missing_blocks


def test_without_modules_nothing_can_be_shown() -> None:
    for text, why in [
        ('{"format_version": 1}', "modules: required field is missing"),
        ('{"format_version": 1, "modules": {}}', "modules: must be an object holding at least one module"),
    ]:
        with pytest.raises(ProjectError, match=why):
            project_leniently(text, default_catalog(), "x.msproj")


def test_a_node_that_cannot_be_read_is_removed_and_listed() -> None:
    data = json.loads((CORPUS / "valid.msproj").read_text())
    data["modules"]["main"]["nodes"][2]["block"] = 7
    result = project_leniently(json.dumps(data), default_catalog())
    assert "modules.main.nodes[2].block" in str(result.problems[0])
    assert "node 'relu1' could not be read and was removed" in str(result.repairs[0])
    assert "relu1" not in [n.name for n in result.project.main_module.nodes]


def test_a_file_whose_modules_cannot_be_read_is_refused() -> None:
    text = '{"format_version": 1, "modules": {"main": 3}}'
    with pytest.raises(ProjectError, match=r"modules\.main: should be an object"):
        project_leniently(text, default_catalog(), "x.msproj")
