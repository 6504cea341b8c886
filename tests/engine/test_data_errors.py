"""Damaged and absurd data files are refused before anything large is built, naming the file and what
is wrong; optimizer settings the float32 weights cannot take are named before training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modstudio.cli import main
from modstudio.engine import dataset_facts
from modstudio.engine.data import load_dataset
from modstudio.engine.dataset_facts import DatasetProblem
from modstudio.engine.errors import DataError, EngineError
from modstudio.engine.precheck import training_problems
from modstudio.engine.session import prepare
from modstudio.engine.settings import TrainSettings
from modstudio.graph.io import save_project
from modstudio.graph.model import DataSection

from .conftest import small_mlp


def both_refuse(section: DataSection, base: Path, message: str) -> None:
    """The loader (worker) and the pre-start facts (GUI, without torch) refuse it with the same words."""
    with pytest.raises(DataError, match=message):
        load_dataset(section, base)
    with pytest.raises(DatasetProblem, match=message):
        dataset_facts.dataset_facts(section, base)


def numpy_project(file: Path) -> DataSection:
    return DataSection(dataset="numpy", options={"path": str(file)})


def test_a_truncated_npz_is_named_not_a_bad_zip_crash(tmp_path, capsys) -> None:
    file = tmp_path / "data.npz"
    np.savez(file, x=np.zeros((50, 2), np.float32), y=np.arange(50) % 2)
    file.write_bytes(file.read_bytes()[:300])
    both_refuse(numpy_project(file), tmp_path, r"data\.npz: not a readable \.npz file \(truncated or damaged zip\)$")
    project = small_mlp()
    project.data = numpy_project(file)
    path = tmp_path / "p.msproj"
    save_project(project, path)
    assert main(["train", str(path), "--out", str(tmp_path / "runs"), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"error: {file}: not a readable .npz file (truncated or damaged zip)" in err
    assert "BadZipFile" not in err and "Traceback" not in err


def test_a_huge_class_label_is_refused_before_its_classes_are_built(tmp_path) -> None:
    file = tmp_path / "d.npz"
    y = np.arange(40) % 2
    y[17] = 2**40
    np.savez(file, x=np.zeros((40, 2), np.float32), y=y)
    both_refuse(numpy_project(file), tmp_path, r"y\[17\] is 1099511627776, which would make 1,099,511,627,777 classes")


def test_labels_that_are_not_0_to_k_minus_1_are_refused_with_what_was_found(tmp_path) -> None:
    file = tmp_path / "d.npz"
    np.savez(file, x=np.zeros((30, 2), np.float32), y=np.arange(30) % 3 + 1)  # 1, 2, 3: counted from one
    both_refuse(numpy_project(file), tmp_path, r"class labels must be 0\.\.k-1, but y has no label 0 while y\[2\] is 3")
    np.savez(file, x=np.zeros((30, 2), np.float32), y=np.arange(30) % 3 - 1)
    both_refuse(numpy_project(file), tmp_path, r"class labels in y must be 0 or more; y\[0\] is -1")


def test_too_many_classes_in_a_csv_or_an_image_folder_are_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(dataset_facts, "MAX_CLASSES", 3)  # the real limit, 100,000, takes as many files
    file = tmp_path / "d.csv"
    file.write_text("a,label\n" + "".join(f"{i},c{i % 5}\n" for i in range(20)))
    both_refuse(
        DataSection(dataset="csv", options={"path": str(file)}), tmp_path, "column 'label' holds 5 classes, more than 3"
    )
    for i in range(4):
        (tmp_path / "img" / f"class{i}").mkdir(parents=True)
        (tmp_path / "img" / f"class{i}" / "a.png").write_bytes(b"")
    section = DataSection(dataset="image_folder", options={"path": str(tmp_path / "img")})
    both_refuse(section, tmp_path, "one subfolder per class makes 4 classes, more than 3")


@pytest.mark.parametrize(("setting", "value"), [("learning_rate", 1e308), ("weight_decay", 1e39)])
def test_optimizer_settings_beyond_float32_are_named_before_training(setting, value) -> None:
    project = small_mlp(samples=100, epochs=1)
    project.training.optimizer = "sgd"
    setattr(project.training, setting, value)
    message = f"training.{setting} is {value:g}, too large: the weights are 32-bit floats, which end at 3.4e+38."
    assert message in training_problems(project)
    with pytest.raises(EngineError, match=rf"^training\.{setting} is") as caught:
        prepare(project, TrainSettings(device="cpu"))
    assert caught.value.kind == "settings"


def _npy_header_only(shape: tuple[int, ...], dtype: str) -> bytes:
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + b"\0" * 64


def test_an_array_header_declaring_terabytes_is_refused_before_numpy_allocates(tmp_path, capsys) -> None:
    import zipfile

    file = tmp_path / "huge.npz"
    with zipfile.ZipFile(file, "w") as archive:  # 64 bytes of data under a header that declares 800 GB
        archive.writestr("x.npy", _npy_header_only((10**11, 2), "<f4"))
        archive.writestr("y.npy", _npy_header_only((10**11,), "<i8"))
    message = (
        r"huge\.npz: array 'x' declares shape \[100000000000, 2\] of float32 \(800\.0 GB\) but the file holds 64 B"
    )
    both_refuse(numpy_project(file), tmp_path, message)
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    x.write_bytes(_npy_header_only((10**11, 2), "<f4"))
    np.save(y, np.zeros(4, np.int64))
    section = DataSection(dataset="numpy", options={"path": str(x), "targets": str(y)})
    both_refuse(section, tmp_path, r"x\.npy: the array declares shape \[100000000000, 2\]")
    project = small_mlp()
    project.data = numpy_project(file)
    save_project(project, tmp_path / "p.msproj")
    assert main(["train", str(tmp_path / "p.msproj"), "--out", str(tmp_path / "runs"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "declares shape [100000000000, 2]" in err and "out of memory" not in err and "Traceback" not in err
