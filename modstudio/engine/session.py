"""Everything a run needs, built and checked before the first step: network, data, optimizer, run folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from modstudio.blocks import default_catalog
from modstudio.compile.graphnet import GraphNet
from modstudio.compile.shapes import ShapeInference
from modstudio.compile.weights import WeightsError, apply_project_weights, fit_problems, freeze_nodes
from modstudio.engine.data import Augmentation, BatchStream, Curriculum, Splits, make_splits
from modstudio.engine.devices import autocast_dtype, pick_device
from modstudio.engine.errors import EngineError
from modstudio.engine.precheck import optimizer_problems
from modstudio.engine.records.run_files import RunFileError
from modstudio.engine.runs import RunFolder
from modstudio.engine.settings import TrainSettings
from modstudio.engine.task import Task, check_task, task_of
from modstudio.engine.threads import use_threads
from modstudio.graph.model import Project


@dataclass
class Session:
    """A prepared run. ``epoch``/``step`` say where it stands (more than zero after a resume)."""

    project: Project
    settings: TrainSettings
    folder: RunFolder
    device: torch.device
    amp: torch.dtype | None
    net: nn.Module
    task: Task
    splits: Splits
    stream: BatchStream
    optimizer: torch.optim.Optimizer
    epochs: int
    seed: int
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    best_val: float = float("inf")
    bad_epochs: int = 0
    base_lrs: list[float] = field(default_factory=list)

    @property
    def total_steps(self) -> int:
        return sum(self.stream.steps(e) for e in range(self.epochs))

    def rng_tensors(self) -> dict[str, torch.Tensor]:
        out = {"rng_torch": torch.get_rng_state(), "rng_data": self.stream.generator.get_state()}
        if self.device.type == "cuda":
            out["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return out

    def restore_rng(self, tensors: dict[str, torch.Tensor]) -> None:
        torch.set_rng_state(tensors["rng_torch"])
        self.stream.generator.set_state(tensors["rng_data"])
        if "rng_cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng_cuda"], self.device)


def make_optimizer(net: nn.Module, project: Project) -> torch.optim.Optimizer:
    t = project.training
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        raise EngineError("the network has no trainable parameters", "task")
    for problem in optimizer_problems(project):
        raise EngineError(problem, "settings")
    if t.optimizer == "sgd":
        return torch.optim.SGD(params, lr=t.learning_rate, momentum=t.momentum, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.learning_rate, weight_decay=t.weight_decay)
    return torch.optim.Adam(params, lr=t.learning_rate, weight_decay=t.weight_decay)


def attach_weights(net: nn.Module, project: Project, base: Path | None, resuming: bool = False) -> None:
    """Load the starting and grafted weights (not when resuming: the checkpoint has them),
    then freeze frozen nodes so the optimizer never sees their parameters."""
    try:
        if not resuming:
            apply_project_weights(net, project, base)
        freeze_nodes(net, project)
    except WeightsError as exc:
        raise EngineError(str(exc), "settings") from None


def shape_problems(project: Project) -> str | None:
    shapes = ShapeInference(project, default_catalog()).run()
    if not shapes.errors:
        return None
    return "; ".join(f"{p.message} (in module '{p.module}')" for p in shapes.errors)


def prepare(project: Project, settings: TrainSettings, project_path: Path | None = None) -> Session:
    """Check and build everything; raises EngineError (data, shape, task or settings) naming the problem."""
    folder = RunFolder(Path(settings.resume)) if settings.resume else None
    if folder is not None:
        if not folder.has("optimizer.json") or not folder.has("last.safetensors"):
            raise EngineError(f"{folder.path} is not a run folder with a checkpoint to resume", "settings")
        project = folder.load_project(default_catalog())
    use_threads(settings.threads)
    seed = project.training.seed if settings.seed is None else settings.seed
    torch.manual_seed(seed)
    device = pick_device(settings.device or project.training.device)
    catalog = default_catalog()
    shapes = ShapeInference(project, catalog).run()
    if shapes.errors:
        problems = "; ".join(p.message for p in shapes.errors)
        raise EngineError(f"the network cannot be built: {problems}", "shape")
    task = task_of(project, shapes)
    base = project_path.parent if project_path is not None else None
    splits = make_splits(project.data, base, task.input_shape)
    check_task(task, splits.train)
    if task.input_dtype == "long":
        for part in (splits.train, splits.val, splits.test):
            if part is not None:
                part.x = part.x.long()
    net = GraphNet(project, catalog, shapes=shapes)
    attach_weights(net, project, base, resuming=bool(settings.resume))
    net = net.to(device)
    d = project.data
    generator = torch.Generator().manual_seed(seed)
    stream = BatchStream(
        splits.train,
        d.batch_size,
        shuffle=d.shuffle,
        augmentation=Augmentation.from_section(d.augmentation, splits.train.is_image),
        curriculum=Curriculum.from_section(d.curriculum),
        generator=generator,
        device=device,
    )
    optimizer = make_optimizer(net, project)
    epochs = settings.epochs or project.training.epochs
    if folder is None:
        runs_root = Path(settings.runs_root) if settings.runs_root else None
        folder = RunFolder.create(project, project_path, runs_root)
    session = Session(
        project, settings, folder, device, autocast_dtype(project.training.precision, device), net, task, splits,
        stream, optimizer, epochs, seed, base_lrs=[g["lr"] for g in optimizer.param_groups],
    )  # fmt: skip
    if settings.resume:
        resume(session)
    return session


def resume(session: Session) -> None:
    """Load the last checkpoint of the session's run folder: weights, optimizer, position, random states.

    A damaged or missing file is an EngineError naming it (see :mod:`modstudio.engine.records.run_files`)."""
    folder = session.folder
    state = folder.load_weights("last")
    problems = fit_problems(state, session.net.state_dict())
    if problems:
        raise RunFileError("last.safetensors", f"does not fit the run's project: {'; '.join(problems)}")
    session.net.load_state_dict(state, strict=True)
    optimizer, tensors, info = folder.load_training_state()
    try:
        session.optimizer.load_state_dict(optimizer)
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise RunFileError("optimizer.json", f"does not fit the run's optimizer: {exc}") from None
    try:
        session.base_lrs = [float(v) for v in info.get("base_lrs", session.base_lrs)]
        session.best_val = float(info.get("best_val", "inf"))
        session.bad_epochs = int(info.get("bad_epochs", 0))
    except (ValueError, TypeError) as exc:
        raise RunFileError("optimizer.json", f"a trainer fact is not a number: {exc}") from None
    session.epoch, session.step = info["epoch"], info["step"]  # whole numbers, checked by load_training_state
    try:
        session.restore_rng(tensors)
    except (KeyError, RuntimeError, TypeError) as exc:
        raise RunFileError("optimizer.safetensors", f"no usable random-generator state ({exc})") from None
    if session.epoch >= session.epochs:
        raise EngineError(
            f"the run in {folder.path} already has {session.epoch} epochs; ask for more (--epochs) to continue it",
            "settings",
        )
