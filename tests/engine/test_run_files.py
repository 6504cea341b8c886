"""Damaged run folders: `modstudio analyze` and a resumed run name the damaged file and what is wrong
(exit 2, no traceback), keep going past what they do not need, and never unpickle anything."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import stat
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from modstudio.cli import main
from modstudio.engine.errors import EngineError
from modstudio.engine.records.run_files import check_safetensors, read_json_lines
from modstudio.engine.session import prepare
from modstudio.engine.settings import TrainSettings
from modstudio.engine.train import Trainer

from .conftest import moe_project, small_mlp, trained_run


def cut(file: Path, keep: float = 0.5) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * keep)])


def insert_line(file: Path, at: int, text: str) -> None:
    lines = file.read_text().splitlines(keepends=True)
    lines.insert(at, text + "\n")
    file.write_text("".join(lines))


class Marker:
    """Unpickling this creates a file: proof that a pickle was (or was not) run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def deeply_nested_project(file: Path) -> None:
    data = json.loads(file.read_text())
    file.write_text(json.dumps(data)[:-1] + ', "doc2": ' + "[" * 100_000 + "]" * 100_000 + "}")


@pytest.fixture(scope="module")
def moe_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return trained_run(tmp_path_factory.mktemp("moe"), moe_project(samples=300), "moe.msproj")


def copied(run: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A copy of a trained run folder for one test to damage: (project file, the copy)."""
    path, folder = run
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    return path, copy


@pytest.fixture
def run_copy(moe_run, tmp_path) -> tuple[Path, Path]:
    return copied(moe_run, tmp_path)


def analyze(path: Path, run: Path, capsys) -> tuple[int, str, str]:
    code = main(["analyze", str(path), "--run", str(run), "--shuffles", "1"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.out, captured.err


def damage_best_truncated(run: Path) -> None:
    cut(run / "best.safetensors", 0.9)  # the header whole, the tensors cut short


def damage_best_pickle(run: Path) -> None:
    (run / "best.safetensors").write_bytes(pickle.dumps(Marker(run / "UNPICKLED"), protocol=4))


def damage_best_torch_save(run: Path) -> None:
    torch.save({"w": torch.zeros(3)}, run / "best.safetensors")


def damage_best_random_bytes(run: Path) -> None:
    (run / "best.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + b"x" * 64)


def damage_routing_middle(run: Path) -> None:
    insert_line(run / "routing.jsonl", 1, '{"type": "routing", "kind": "tr')


def damage_routing_list(run: Path) -> None:
    insert_line(run / "routing.jsonl", 1, "[1, 2, 3]")


def damage_routing_values(run: Path) -> None:
    lines = [json.loads(line) for line in (run / "routing.jsonl").read_text().splitlines()]
    for line in lines:
        for facts in line["probes"].values():
            for key in ("class_expert", "region_expert"):
                if key in facts:
                    facts[key] = "lots"
    (run / "routing.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def damage_routing_bytes(run: Path) -> None:
    file = run / "routing.jsonl"
    file.write_bytes(b'{"type": "routing", "kind": "train", "probes": {"a": "\xff\xfe"}}\n' + file.read_bytes())


def damage_snapshot_deep(run: Path) -> None:
    deeply_nested_project(run / "project.msproj")


def damage_snapshot_list(run: Path) -> None:
    (run / "project.msproj").write_text("[]")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (damage_best_truncated, "best.safetensors: truncated (its header says "),
        (damage_best_pickle, "best.safetensors: a Python pickle, not a .safetensors file; ModStudio never unpickles"),
        (damage_best_torch_save, "best.safetensors: a zip archive (torch.save's format, a pickle inside)"),
        (damage_best_random_bytes, "best.safetensors: not a .safetensors file (its header is not valid JSON"),
        (damage_routing_middle, "routing.jsonl line 2: not valid JSON: Unterminated string"),
        (damage_routing_list, "routing.jsonl line 2: not a JSON object (found a list)"),
        (damage_routing_values, "routing.jsonl: the class_expert of 'moe' (epoch 2) is not a table of numbers"),
        (damage_routing_bytes, "routing.jsonl line 1: not UTF-8 text (bad byte at 54)"),
        (damage_snapshot_deep, "project.msproj (the run's snapshot): "),
        (damage_snapshot_list, "project.msproj (the run's snapshot): a project file must hold a JSON object"),
    ],
)
def test_analyze_names_the_damaged_file_and_exits_2(run_copy, capsys, damage, message) -> None:
    path, run = run_copy
    damage(run)
    code, _, err = analyze(path, run, capsys)
    assert code == 2 and f"error: {message}" in err
    assert not (run / "analysis.json").exists() and not (run / "UNPICKLED").exists()


def test_a_deeply_nested_snapshot_says_how_deep(run_copy, capsys) -> None:
    path, run = run_copy
    damage_snapshot_deep(run)
    code, _, err = analyze(path, run, capsys)
    assert code == 2 and "nested" in err  # the depth is in the words of the project loader or of run_files


def test_analyze_skips_a_half_written_last_routing_line_and_says_so(run_copy, capsys) -> None:
    path, run = run_copy
    with (run / "routing.jsonl").open("a") as handle:
        handle.write('{"type": "routing", "kind": "test", "probes": {"moe": {"region_ex')
    code, out, _ = analyze(path, run, capsys)
    assert code == 0
    assert "note: routing.jsonl: its half-written last line was skipped" in out
    assert json.loads((run / "analysis.json").read_text())["specialization"][0]["source"] == "test"


def test_analyze_reports_damage_in_files_it_does_not_use_as_notes(run_copy, capsys) -> None:
    path, run = run_copy
    (run / "run.json").write_text('{"status": "comp')
    insert_line(run / "metrics.jsonl", 1, '"just a string"')
    cut(run / "last.safetensors")
    code, out, _ = analyze(path, run, capsys)
    assert code == 0 and "weight-graph modularity" in out
    assert "note: run.json: not valid JSON: Unterminated string" in out
    assert "note: metrics.jsonl line 2: not a JSON object (found a string) (not used here)" in out
    assert "note: last.safetensors: truncated" in out


def test_analyze_names_missing_files(run_copy, capsys) -> None:
    path, run = run_copy
    (run / "routing.jsonl").unlink()
    code, _, _ = analyze(path, run, capsys)
    assert code == 0  # no routing facts: nothing to say about specialization, the rest is there
    for name in ("best.safetensors", "last.safetensors"):
        (run / name).unlink()
    code, _, err = analyze(path, run, capsys)
    assert code == 2 and "has no weights (best.safetensors or last.safetensors)" in err
    (run / "project.msproj").unlink()
    code, _, err = analyze(path, run, capsys)
    assert code == 2 and "is not a run folder (it has no project.msproj)" in err


def test_a_whole_safetensors_file_passes_the_check_and_half_of_one_does_not(tmp_path) -> None:
    file = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(1000), "b": torch.ones(2, 3)}, str(file))
    check_safetensors(file)
    cut(file, 0.6)
    with pytest.raises(
        EngineError, match=r"w\.safetensors: truncated \(its header says 4.2 KB, the file holds 2.5 KB\)"
    ):
        check_safetensors(file)
    cut(file, 0.02)
    with pytest.raises(EngineError, match=r"truncated \(its header alone takes 136 B, the file holds 49 B\)"):
        check_safetensors(file)
    file.write_bytes(b"\x01\x02")
    with pytest.raises(EngineError, match=r"truncated \(2 bytes; a \.safetensors file starts with an 8-byte"):
        check_safetensors(file)


def test_json_lines_count_a_half_written_last_line_and_report_damage_elsewhere(tmp_path) -> None:
    file = tmp_path / "metrics.jsonl"
    file.write_text('{"a": 1}\n[2]\n{"b": 3\n{"c": 4}\n{"d": ')
    lines = read_json_lines(file)
    assert lines.records == [{"a": 1}, {"c": 4}] and lines.half_written == 1
    assert lines.problems == [
        "metrics.jsonl line 2: not a JSON object (found a list)",
        "metrics.jsonl line 3: not valid JSON: Expecting ',' delimiter (line 1, column 8)",
    ]


# -- resuming a damaged run --------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return trained_run(tmp_path_factory.mktemp("mlp"), small_mlp(samples=200, epochs=2), "mlp.msproj")


@pytest.fixture
def mlp_copy(mlp_run, tmp_path) -> tuple[Path, Path]:
    return copied(mlp_run, tmp_path)


def rewrite_json(file: Path, change) -> None:
    data = json.loads(file.read_text())
    change(data)
    file.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda run: (run / "optimizer.json").write_text('{"optimizer": {'), "optimizer.json: not valid JSON"),
        (
            lambda run: rewrite_json(run / "optimizer.json", lambda d: d.pop("trainer")),
            "optimizer.json: no trainer facts",
        ),
        (
            lambda run: rewrite_json(run / "optimizer.json", lambda d: d["trainer"].update(epoch="two")),
            "optimizer.json: trainer.epoch is 'two', not a whole number >= 0",
        ),
        (
            lambda run: rewrite_json(run / "optimizer.json", lambda d: d["optimizer"].update(param_groups=[{}, {}])),
            "optimizer.json: does not fit the run's optimizer",
        ),
        (lambda run: cut(run / "last.safetensors"), "last.safetensors: truncated"),
        (lambda run: cut(run / "optimizer.safetensors"), "optimizer.safetensors: truncated"),
        (lambda run: (run / "optimizer.safetensors").unlink(), "optimizer.safetensors: missing"),
        (
            lambda run: save_file({"trainer.rng_torch": torch.zeros(3)}, str(run / "optimizer.safetensors")),
            "optimizer.safetensors: no usable random-generator state",
        ),
        (
            lambda run: save_file({"w": torch.zeros(3)}, str(run / "last.safetensors")),
            "last.safetensors: does not fit the run's project: missing",
        ),
        (damage_snapshot_deep, "project.msproj (the run's snapshot): "),
    ],
)
def test_resume_names_the_damaged_file(mlp_copy, damage, message) -> None:
    _, run = mlp_copy
    damage(run)
    with pytest.raises(EngineError, match="^" + message.replace("(", r"\(").replace(")", r"\)")) as caught:
        prepare(small_mlp(), TrainSettings(device="cpu", resume=str(run), epochs=3))
    assert caught.value.kind in ("settings", "data")


def test_resume_never_unpickles_weights(mlp_copy) -> None:
    _, run = mlp_copy
    (run / "last.safetensors").write_bytes(pickle.dumps(Marker(run / "UNPICKLED"), protocol=2))
    with pytest.raises(EngineError, match=r"last\.safetensors: a Python pickle"):
        prepare(small_mlp(), TrainSettings(device="cpu", resume=str(run), epochs=3))
    assert not (run / "UNPICKLED").exists()


def test_modstudio_train_resume_names_a_corrupt_optimizer_json(mlp_copy, capsys) -> None:
    path, run = mlp_copy
    (run / "optimizer.json").write_text('{"optimizer": {"param_groups": [')
    assert main(["train", str(path), "--resume", str(run), "--epochs", "3", "-q"]) == 2
    err = capsys.readouterr().err
    assert "error: optimizer.json: not valid JSON: Expecting value (line 1, column 33)" in err
    assert "Traceback" not in err and "KeyError" not in err and "JSONDecodeError" not in err


def test_modstudio_train_resumes_past_a_half_written_line_and_a_corrupt_run_json(mlp_copy, capsys) -> None:
    path, run = mlp_copy
    (run / "run.json").write_text('{"status": "comp')
    with (run / "metrics.jsonl").open("a") as handle:
        handle.write('{"type": "progress", "ep')  # the run was killed while writing this line
    assert main(["train", str(path), "--resume", str(run), "--epochs", "3", "-q"]) == 0
    lines = read_json_lines(run / "metrics.jsonl")
    assert lines.problems == [] and lines.half_written == 0  # the half line was cut before the new ones
    assert [r["epoch"] for r in lines.records if r["type"] == "epoch"] == [1, 2, 3]
    assert json.loads((run / "run.json").read_text())["status"] == "completed"


# -- permissions of what a run writes ----------------------------------------------------------


def test_run_files_get_the_usual_permissions_less_the_umask(tmp_path) -> None:
    old = os.umask(0o027)
    try:
        session = prepare(small_mlp(samples=100, epochs=1), TrainSettings(device="cpu", runs_root=str(tmp_path)))
        Trainer(session, lambda message: None).run()
    finally:
        os.umask(old)
    files = sorted(p.name for p in session.folder.path.iterdir())
    assert {"best.safetensors", "last.safetensors", "optimizer.json", "metrics.jsonl", "run.json"} <= set(files)
    modes = {name: stat.S_IMODE((session.folder.path / name).stat().st_mode) for name in files}
    assert modes == dict.fromkeys(files, 0o640)
