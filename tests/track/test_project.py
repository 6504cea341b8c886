"""A tracked run carries the project that describes its model, so ``modstudio evaluate`` and ``doctor`` read it."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from modstudio.blocks import default_catalog
from modstudio.cli import main
from modstudio.engine.data import make_splits
from modstudio.engine.evaluation.evaluate import evaluate_run
from modstudio.engine.runs import RunFolder
from modstudio.graph.io import load_project, save_project
from modstudio.graph.model import Project
from modstudio.library import load_template
from modstudio.track import Tracker, TrackError

from .helpers import exported_moe

NO_PROJECT = "cannot be evaluated or doctored"


def _exported(folder: Path) -> tuple[ModuleType, str, Project]:
    """moe_2d's Python export in ``folder`` (``model.py``), its data cut small, and the project."""
    folder.mkdir(parents=True, exist_ok=True)
    module, top, project = exported_moe(folder)
    project.data.options = {"samples": 1000, "regions": 4}
    return module, top, project


def _train(model: nn.Module, tracker: Tracker, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(order), 64):
            batch = order[start : start + 64]
            loss = F.cross_entropy(model(x[batch]), y[batch]) + sum(model.moe.aux_losses.values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.step(loss=loss)
        tracker.epoch()


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(-1) == y).float().mean())


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float]:
    """(the project file, the tracked run folder, the model's own test accuracy) of a plain loop
    that trained moe_2d's export with ``Tracker(..., project=...)`` and saved its best weights."""
    folder = tmp_path_factory.mktemp("tracked")
    module, top, project = _exported(folder / "code")
    file = folder / "net.msproj"
    save_project(project, file)
    splits = make_splits(project.data, folder, (2,))
    torch.manual_seed(0)
    model = getattr(module, top)()
    with Tracker(folder / "runs" / "one", model, every=5, project=file) as tracker:
        _train(model, tracker, splits.train.x, splits.train.y.long(), epochs=20)
        tracker.save_weights("best")
    assert splits.test is not None
    return file, folder / "runs" / "one", _accuracy(model, splits.test.x, splits.test.y.long())


def test_modstudio_evaluate_reads_a_tracked_run_with_its_project(tracked, capsys):
    file, run, own_accuracy = tracked
    assert load_project(run / "project.msproj", default_catalog()).name == load_project(file).name
    assert main(["evaluate", str(run / "project.msproj"), "--run", str(run), "--no-what-if"]) == 0
    out = capsys.readouterr().out
    result = evaluate_run(run, "test", what_if=False)
    assert result["weights"] == "best" and result["samples"] == 150
    assert result["accuracy"] == pytest.approx(own_accuracy)  # the loop's weights, on the split the project cuts
    assert result["accuracy"] > 0.8  # two classes: trained, not chance
    assert f"accuracy {result['accuracy']:.4f}" in out and "expert 0" in out


def test_modstudio_doctor_reads_a_tracked_runs_routing(tracked, capsys):
    file, run, _ = tracked
    code = main(["doctor", str(file), "--run", str(run)])
    out = capsys.readouterr().out
    assert code in (0, 1)  # healthy or with problems, not a bad input
    assert out.startswith("run one: ") and "in 1 conditional layer" in out


@pytest.mark.parametrize(
    ("fitting", "decoy"),
    [("project.msproj", None), ("model.msproj", None), ("mine.msproj", "project.msproj")],
)
def test_the_project_is_found_beside_the_file_defining_the_model(tmp_path, capsys, fitting, decoy):
    module, top, project = _exported(tmp_path / "code")
    project.name = "the fitting one"
    save_project(project, tmp_path / "code" / fitting)
    if decoy is not None:  # another network beside it, under the name looked at first: not taken
        save_project(load_template("class_tree", default_catalog()), tmp_path / "code" / decoy)
    model = getattr(module, top)()
    with Tracker(tmp_path / "run", model) as tracker:
        tracker.save_weights("last")
    assert NO_PROJECT not in capsys.readouterr().err
    copy = load_project(tmp_path / "run" / "project.msproj", default_catalog())
    assert copy.name == "the fitting one"
    assert evaluate_run(tmp_path / "run", "test", what_if=False)["weights"] == "last"


def test_without_a_project_one_line_on_stderr_says_how_to_give_one(tmp_path, capsys):
    module, top, _ = _exported(tmp_path / "code")
    save_project(load_template("class_tree", default_catalog()), tmp_path / "code" / "project.msproj")  # not it
    model = getattr(module, top)()
    with Tracker(tmp_path / "run", model) as tracker:
        tracker.save_weights("best")
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert NO_PROJECT in err and 'Tracker(..., project="model.msproj")' in err and top in err
    assert not (tmp_path / "run" / "project.msproj").exists()
    assert main(["evaluate", str(tmp_path / "code" / "project.msproj"), "--run", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "has no project.msproj" in err and "Tracker(..., project=" in err and "Traceback" not in err


def _not_a_project(folder: Path) -> Path:
    (folder / "notes.msproj").write_text('{"hello": 1}\n')
    return folder / "notes.msproj"


def _another_network(folder: Path) -> Path:
    save_project(load_template("class_tree", default_catalog()), folder / "tree.msproj")
    return folder / "tree.msproj"


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (lambda folder: folder / "missing.msproj", "missing.msproj does not exist"),
        (lambda folder: folder, "is not a file"),
        (_not_a_project, "notes.msproj is not a usable ModStudio project"),
        (_another_network, "the model's weights do not fit the network of"),
    ],
)
def test_a_bad_project_is_a_named_error_before_anything_is_written(tmp_path, given, problem):
    module, top, _ = _exported(tmp_path / "code")
    model = getattr(module, top)()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TrackError, match="project=") as caught:
        Tracker(tmp_path / "run", model, project=given(tmp_path))
    assert problem in str(caught.value)
    assert not (tmp_path / "run").exists()
    assert not hasattr(model.moe, "probe") and "_combine" not in model.moe.__dict__  # the model was not touched
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_save_weights_writes_the_models_current_weights_for_evaluate(tmp_path):
    module, top, project = _exported(tmp_path / "code")
    save_project(project, tmp_path / "net.msproj")
    torch.manual_seed(4)
    model = getattr(module, top)()
    tracker = Tracker(tmp_path / "run", model, project=tmp_path / "net.msproj")
    tracker.save_weights("last")
    with torch.no_grad():
        model.moe.router.weight.mul_(-1.0)
    assert tracker.save_weights("best") == tmp_path / "run" / "best.safetensors"
    with pytest.raises(TrackError, match="'best' and 'last'"):
        tracker.save_weights("final")
    tracker.close()
    saved = RunFolder(tmp_path / "run").load_weights("best")
    assert saved.keys() == model.state_dict().keys()
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    last = RunFolder(tmp_path / "run").load_weights("last")
    assert not torch.equal(last["moe.router.weight"], saved["moe.router.weight"])
    splits = make_splits(project.data, tmp_path, (2,))
    assert splits.test is not None
    result = evaluate_run(tmp_path / "run", "test", what_if=False)
    assert result["accuracy"] == pytest.approx(_accuracy(model, splits.test.x, splits.test.y.long()))


def test_only_rank_0_writes_the_project_and_the_weights(tmp_path, monkeypatch):
    import modstudio.track.tracker as tracker_module

    module, top, project = _exported(tmp_path / "code")
    save_project(project, tmp_path / "net.msproj")
    monkeypatch.setattr(tracker_module, "world", lambda: (1, 2))
    with Tracker(tmp_path / "run", getattr(module, top)(), project=tmp_path / "net.msproj") as tracker:
        assert tracker.save_weights("best") is None
    assert not (tmp_path / "run").exists()
    with pytest.raises(TrackError, match="does not exist"):  # every rank checks the project it is given
        Tracker(tmp_path / "run", getattr(module, top)(), project=tmp_path / "other.msproj")


def test_relative_data_and_weight_paths_resolve_from_the_runs_copy(tmp_path):
    module, top, project = _exported(tmp_path / "project" / "code")
    generator = torch.Generator().manual_seed(1)
    points = torch.randn(400, 2, generator=generator)
    rows = ["a,b,label"] + [f"{x:.5f},{y:.5f},{int(x * y > 0)}" for x, y in points.tolist()]
    (tmp_path / "project" / "data").mkdir()
    (tmp_path / "project" / "data" / "points.csv").write_text("\n".join(rows) + "\n")
    model = getattr(module, top)()
    RunFolder(tmp_path / "project").save_weights("start", model.state_dict())
    project.data.dataset, project.data.options = "csv", {"path": "data/points.csv", "target": "label"}
    project.training.init_weights = "start.safetensors"
    file = tmp_path / "project" / "net.msproj"
    save_project(project, file)
    with Tracker(tmp_path / "elsewhere" / "run", model, project=file) as tracker:
        tracker.save_weights("best")
    copy = load_project(tmp_path / "elsewhere" / "run" / "project.msproj", default_catalog())
    assert Path(copy.data.options["path"]) == tmp_path / "project" / "data" / "points.csv"
    assert Path(copy.training.init_weights) == tmp_path / "project" / "start.safetensors"
    assert load_project(file).data.options["path"] == "data/points.csv"  # the original is left as it was
    result = evaluate_run(tmp_path / "elsewhere" / "run", "test", what_if=False)  # reads the CSV from the run's copy
    assert result["dataset"] == "points.csv" and result["samples"] == 60
