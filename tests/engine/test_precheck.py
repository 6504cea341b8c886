"""The pre-start check: real bad projects are refused with a sentence, good ones pass, no torch needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modstudio.blocks import default_catalog
from modstudio.engine.dataset_facts import OPTIONS, dataset_facts
from modstudio.engine.precheck import training_problems
from modstudio.engine.settings import TrainSettings
from modstudio.graph.model import DataSection, Project
from modstudio.library import load_template, templates

from .conftest import small_mlp


def only(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    return problems[0]


def test_every_template_with_its_own_data_passes() -> None:
    for info in templates():
        project = load_template(info.name, default_catalog())
        if project.data.dataset == "image_folder":
            continue  # needs the person's own folder
        assert training_problems(project) == [], info.name


def test_the_check_does_not_load_torch() -> None:
    code = (
        "import sys\n"
        "from modstudio.blocks import default_catalog\n"
        "from modstudio.engine.precheck import training_problems\n"
        "from modstudio.library import load_template\n"
        "for name in ('mlp_2d', 'cnn_digits', 'moe_2d'):\n"
        "    assert training_problems(load_template(name, default_catalog())) == []\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_network_that_cannot_be_built() -> None:
    project = small_mlp()
    project.main_module.node_named("x").params["shape"] = [2, 5]
    message = only(training_problems(project))
    assert message.startswith("The network cannot be built: Output 'y' (classification) expects logits [N, classes]")
    assert message.endswith("(in module 'main')")


def test_classes_of_the_data_and_the_output_differ() -> None:
    project = small_mlp()
    project.data = DataSection(dataset="blobs", options={"samples": 300, "classes": 5})
    message = only(training_problems(project))
    assert message == "Output 'y' gives 2 classes but the blobs dataset has 5."


def test_data_of_another_shape_than_the_input() -> None:
    project = small_mlp()
    project.data = DataSection(dataset="digits")
    problems = training_problems(project)
    assert "Input 'x' takes samples of shape [2] but the digits dataset gives [1, 8, 8]." in problems
    assert "Output 'y' gives 2 classes but the digits dataset has 10." in problems


def test_regression_data_for_a_classifier() -> None:
    project = small_mlp()
    project.data = DataSection(dataset="regimes", options={"samples": 300, "target": "value"})
    message = only(training_problems(project))
    assert "set to classification but the regimes dataset has real-valued targets" in message


def test_no_output_with_a_task() -> None:
    project = small_mlp()
    project.main_module.node_named("y").params["task"] = "none"
    message = only(training_problems(project))
    assert message.startswith("No Output of the main module has a task (Outputs: 'y')")


@pytest.mark.parametrize("dataset", ["csv", "numpy", "image_folder"])
def test_a_dataset_file_that_is_not_there(tmp_path: Path, dataset: str) -> None:
    project = small_mlp()
    project.data = DataSection(dataset=dataset, options={"path": "missing/data.file"})
    message = only(training_problems(project, project_path=tmp_path / "p.msproj"))
    assert str(tmp_path / "missing" / "data.file") in message and "does not exist" in message


def test_a_csv_beside_the_project_is_read_relative_to_it(tmp_path: Path) -> None:
    rows = ["a,b,label"] + [f"{i / 10},{-i / 10},{'red' if i % 3 else 'blue'}" for i in range(40)]
    (tmp_path / "points.csv").write_text("\n".join(rows) + "\n")
    project = small_mlp()
    project.data = DataSection(dataset="csv", options={"path": "points.csv"}, batch_size=8)
    assert training_problems(project, project_path=tmp_path / "p.msproj") == []
    project.data.batch_size = 64
    message = only(training_problems(project, project_path=tmp_path / "p.msproj"))
    assert message.startswith("The batch size 64 is larger than the training split (28 of the 40 samples")


def test_a_numpy_file_with_three_classes_for_a_two_class_network(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((50, 2), np.float32), y=np.arange(50) % 3)
    project = small_mlp()
    project.data = DataSection(dataset="numpy", options={"path": str(tmp_path / "d.npz")}, batch_size=8)
    assert only(training_problems(project)) == "Output 'y' gives 2 classes but the d.npz dataset has 3."


def test_an_image_folder_with_one_class(tmp_path: Path) -> None:
    (tmp_path / "cats").mkdir()
    project = load_template("cnn_digits", default_catalog())
    project.data = DataSection(dataset="image_folder", options={"path": str(tmp_path)})
    assert "needs one subfolder of images per class (at least two); found 1" in only(training_problems(project))


def test_splits_that_leave_no_training_data_or_an_empty_part() -> None:
    project = small_mlp(samples=20)
    project.data.val_fraction, project.data.test_fraction = 0.5, 0.5
    assert "leave no training samples of the 20 in the moons dataset" in only(training_problems(project))
    project.data.val_fraction, project.data.test_fraction, project.data.batch_size = 0.01, 0.0, 4
    assert "validation split would be empty" in only(training_problems(project))


def test_batch_larger_than_the_training_split() -> None:
    project = small_mlp(samples=100, batch_size=128)
    assert only(training_problems(project)).startswith("The batch size 128 is larger than the training split (70 of")


def test_bad_dataset_options_and_augmentation() -> None:
    project = small_mlp()
    project.data.options = {"samples": 5}
    assert "data.options.samples: must be >= 10, not 5" in only(training_problems(project))
    project = small_mlp(augmentation={"flip": True})
    assert only(training_problems(project)).startswith("Augmentation 'flip' is not available for non-image data")
    project = small_mlp(curriculum={"start": 0})
    assert only(training_problems(project)).startswith("The curriculum's start must be a share in (0, 1]")


def test_settings_epochs_and_devices() -> None:
    project = small_mlp()
    assert "The number of epochs must be at least 1, not 0." in training_problems(project, TrainSettings(epochs=0))
    assert "Unknown device 'tpu'" in only(training_problems(project, TrainSettings(device="tpu")))
    if sys.platform != "darwin":
        assert "MPS exists only on macOS" in only(training_problems(project, TrainSettings(device="mps")))
    import torch

    cuda = training_problems(project, TrainSettings(device="cuda"))
    assert cuda == ([] if torch.cuda.is_available() else [cuda[0]])
    assert torch.cuda.is_available() or "no CUDA GPU is available" in cuda[0]


def test_resume_from_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    problems = training_problems(small_mlp(), TrainSettings(resume=str(tmp_path)))
    assert only(problems) == f"{tmp_path} is not a run folder with a checkpoint to resume"


# The torch-free tables must agree with the loaders they describe.


def test_option_tables_match_the_loaders() -> None:
    from modstudio.engine.data import GENERATORS, LOADERS

    loaders = {**GENERATORS, **LOADERS}
    assert set(OPTIONS) == set(loaders)
    for name, (_, specs, _) in loaders.items():
        ours = [(o.name, o.kind, o.default, o.min, o.max, o.choices) for o in OPTIONS[name]]
        theirs = [(s.name, s.kind, s.default, s.min, s.max, s.choices) for s in specs]
        assert ours == theirs, name


@pytest.mark.parametrize("name", [n for n in OPTIONS if n not in ("csv", "numpy", "image_folder")])
def test_facts_match_the_real_datasets(name: str) -> None:
    from modstudio.engine.data import load_dataset

    options = {} if name == "digits" else {"samples": 60}
    for extra in ({}, {"target": "value"}) if name == "regimes" else ({},):
        section = DataSection(dataset=name, options={**options, **extra})
        facts, data = dataset_facts(section), load_dataset(section)
        width = data.y.shape[1] if data.target == "regression" else 1
        assert (facts.sample_shape, facts.target, facts.classes, facts.outputs, facts.samples) == (
            data.sample_shape,
            data.target,
            data.num_classes,
            width,
            len(data),
        )


def test_facts_of_a_csv_match_the_loader(tmp_path: Path) -> None:
    from modstudio.engine.data import load_dataset

    (tmp_path / "v.csv").write_text("a;b;c;t\n" + "".join(f"{i};{i};{i};{i * 0.5}\n" for i in range(12)))
    section = DataSection(dataset="csv", options={"path": str(tmp_path / "v.csv"), "delimiter": ";"})
    facts, data = dataset_facts(section), load_dataset(section)
    assert (facts.sample_shape, facts.target, facts.samples) == (data.sample_shape, data.target, len(data))
    assert facts.target == "regression"


def test_projects_are_not_changed_by_the_check() -> None:
    project: Project = small_mlp()
    before = repr(project)
    training_problems(project, TrainSettings(epochs=0))
    assert repr(project) == before


def test_starting_and_grafted_weights_must_be_there(tmp_path: Path) -> None:
    project = small_mlp()
    project.training.init_weights = "runs/best.safetensors"
    project.main_module.node_named("fc1").weights = "other/best.safetensors#fc1."
    assert training_problems(project) == [
        "The starting weights name the relative path 'runs/best.safetensors' but the project is not saved yet; "
        "save it first.",
        "The weights attached to 'fc1' in module 'main' name the relative path 'other/best.safetensors' but the "
        "project is not saved yet; save it first.",
    ]
    problems = training_problems(project, project_path=tmp_path / "p.msproj")
    assert problems[0] == f"The starting weights file {tmp_path / 'runs' / 'best.safetensors'} does not exist."
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "best.safetensors").write_bytes(b"")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "best.safetensors").write_bytes(b"")
    assert training_problems(project, project_path=tmp_path / "p.msproj") == []


def test_a_network_too_large_for_this_machine_is_refused_before_the_run_starts(tmp_path) -> None:
    from tests.compile.test_memory import huge_mlp

    project = huge_mlp()
    assert training_problems(project) == []  # the live check (on every edit) does not build the network
    message = only(training_problems(project, memory=True))
    assert message.startswith("'fc2' holds 4.0 TB of float32 weights: training needs about 16.0 TB (")
    assert message.endswith("; make the network or the batch smaller.")
    assert training_problems(small_mlp(), memory=True) == []
    resumed = TrainSettings(resume=str(tmp_path))  # resuming trains the run folder's project: not estimated
    assert not any("4.0 TB" in p for p in training_problems(project, resumed, memory=True))


def needs_real_tensors(monkeypatch) -> None:
    """Make the catalogue's Linear build the way some plugins do: reading a tensor's value, which a
    meta-device build cannot."""
    import dataclasses

    import torch

    catalog = default_catalog()
    spec = catalog["linear"]

    def build(params, inputs):
        torch.ones(1).item()
        return spec.make(params, inputs)

    monkeypatch.setitem(catalog._specs, "linear", dataclasses.replace(spec, build=build, layer=None))


def test_a_network_that_cannot_be_built_on_the_meta_device_is_not_refused(monkeypatch) -> None:
    from modstudio.compile.graphnet import BlockBuildError, build_on_meta, compile_project
    from modstudio.compile.memory import export_memory_problem

    needs_real_tensors(monkeypatch)
    with pytest.raises(BlockBuildError, match=r"Linear 'fc1' cannot be built on the meta device .*: RuntimeError"):
        build_on_meta(small_mlp(), default_catalog())
    assert compile_project(small_mlp(), default_catalog()) is not None  # it builds with real tensors
    assert training_problems(small_mlp(), memory=True) == []  # no estimate: the run is tried, as before
    assert export_memory_problem(small_mlp()) is None


def test_validate_of_a_block_that_needs_real_tensors_lists_shapes_without_counts(monkeypatch, tmp_path, capsys) -> None:
    from modstudio.cli import main
    from modstudio.graph.io import save_project

    needs_real_tensors(monkeypatch)
    target = tmp_path / "p.msproj"
    save_project(small_mlp(), target)
    assert main(["validate", str(target)]) == 0  # the file is valid; it ended in a traceback
    out = capsys.readouterr()
    assert "fc1" in out.out and "[N, 2]" in out.out
    assert "parameters: not counted: Linear 'fc1' cannot be built on the meta device" in out.out
    assert "Traceback" not in out.err
