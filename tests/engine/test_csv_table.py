"""One CSV reader (dataset_facts.csv_table) for the loader and the pre-start facts: same refusals, same counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from modstudio.engine.data import load_dataset
from modstudio.engine.dataset_facts import DatasetProblem, checked_options, csv_table, dataset_facts
from modstudio.engine.errors import DataError
from modstudio.graph.model import DataSection

REFUSED = {
    "no data": ("a,label\n", r"needs a header row and at least one row of data"),
    "only blank rows": ("a,label\n\n , \n", r"x\.csv: no rows of data"),
    "short row": ("a,b,label\n1,2,x\n3,4\n", r"x\.csv, line 3: 2 values but the header has 3 columns"),
    "empty target": ("a,label\n1,x\n2, \n", r"x\.csv, line 3, column 'label': the target is empty"),
    "no such column": ("a,label\n1,x\n", r"no column named 'kind' \(columns: a, label\)"),
    "not text": (b"a,label\n1,\xff\n", r"not a text file \(bad UTF-8 at byte 10\)"),
}


def _section(tmp_path: Path, content: str | bytes, **options) -> DataSection:
    file = tmp_path / "x.csv"
    if isinstance(content, bytes):
        file.write_bytes(content)
    else:
        file.write_text(content)
    return DataSection(dataset="csv", options={"path": str(file), **options})


@pytest.mark.parametrize("case", REFUSED)
def test_loader_and_facts_refuse_a_bad_csv_with_the_same_sentence(tmp_path, case):
    content, message = REFUSED[case]
    section = _section(tmp_path, content, **({"target": "kind"} if case == "no such column" else {}))
    with pytest.raises(DataError, match=message) as loading:
        load_dataset(section, tmp_path)
    with pytest.raises(DatasetProblem, match=message) as facts:
        dataset_facts(section, tmp_path)
    assert str(loading.value) == str(facts.value)


def test_blank_rows_anywhere_are_skipped_and_lines_keep_their_numbers(tmp_path):
    section = _section(tmp_path, "\na;b;label\n1;2;cat\n\n3;4;dog\n5;x;cat\n", delimiter=";")
    table = csv_table(tmp_path / "x.csv", checked_options("csv", section.options))
    assert table.header == ["a", "b", "label"] and [line for line, _ in table.rows] == [3, 5, 6]
    with pytest.raises(DataError, match=r"line 6, column 'b': is not a number: 'x'"):
        load_dataset(section, tmp_path)
    (tmp_path / "x.csv").write_text("\na;b;label\n1;2;cat\n\n3;4;dog\n5;6;cat\n")
    facts, data = dataset_facts(section, tmp_path), load_dataset(section, tmp_path)
    assert (facts.sample_shape, facts.target, facts.classes, facts.samples) == ((2,), "classification", 2, 3)
    assert (data.sample_shape, data.target, data.num_classes, len(data)) == ((2,), "classification", 2, 3)
    assert data.class_names == ["cat", "dog"] and data.y.tolist() == [0, 1, 0]
