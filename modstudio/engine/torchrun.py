"""The torchrun folder: train.py, model.py, project.msproj, settings.json and data.safetensors."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from modstudio.compile.export.constructors import ExportError
from modstudio.compile.export.python_code import PythonModule
from modstudio.graph.model import Project

DATA_LIMIT_BYTES = 512 * 1024 * 1024  # the prepared data travels in the folder up to this size


def _task(project: Project) -> dict:
    for index, node in enumerate(project.main_module.output_nodes):
        kind = node.params.get("task", "none")
        if kind in ("classification", "regression"):
            return {"kind": kind, "index": index, "output": node.name}
    raise ExportError("the torchrun export trains the main module: give one of its Outputs a task")


def prepared_data(project: Project, base_dir: Path | None) -> dict[str, torch.Tensor]:
    """The project's dataset, split and standardised as ModStudio's engine does, as tensors."""
    try:
        from modstudio.engine.data import make_splits
        from modstudio.engine.errors import EngineError
    except ImportError as exc:  # the engine is optional for the other formats
        raise ExportError(f"the torchrun export needs ModStudio's data engine: {exc}") from None
    inputs = project.main_module.input_nodes
    shape = tuple(inputs[0].params.get("shape") or ()) if len(inputs) == 1 else None
    if shape is None:
        raise ExportError("the torchrun export needs a main module with exactly one Input")
    try:
        splits = make_splits(project.data, base_dir, shape)
    except EngineError as exc:
        raise ExportError(f"cannot prepare the data: {getattr(exc, 'message', exc)}") from None
    tensors: dict[str, torch.Tensor] = {}
    for part in ("train", "val", "test"):
        data = getattr(splits, part)
        if data is not None:
            tensors[f"{part}_x"], tensors[f"{part}_y"] = data.x.contiguous(), data.y.contiguous()
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    if size > DATA_LIMIT_BYTES:
        raise ExportError(f"the prepared data is {size / 2**20:.0f} MiB, too large to put in the folder")
    return tensors


def write_folder(
    project: Project, code: PythonModule, folder: Path, base_dir: Path | None = None, net: nn.Module | None = None
) -> None:
    """Fill ``folder`` (new) with everything ``torchrun --nproc_per_node=N train.py`` needs.

    When the project starts from given weights (``init_weights`` or grafted nodes), ``net``'s
    state goes in as ``init.safetensors`` (train.py starts from it); the paths of frozen nodes
    go into settings.json (train.py keeps them frozen).
    """
    from modstudio.compile.weights import frozen_paths
    from modstudio.graph.io import save_project

    task = _task(project)
    data = prepared_data(project, base_dir)
    folder.mkdir()
    (folder / "model.py").write_text(code.source, encoding="utf-8")
    shutil.copy(Path(__file__).with_name("torchrun_script.py"), folder / "train.py")
    save_project(project, folder / "project.msproj")
    save_file(data, str(folder / "data.safetensors"))
    grafted = project.training.init_weights is not None or any(
        node.weights is not None for module in project.modules.values() for node in module.nodes
    )
    if net is not None and grafted:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(folder / "init.safetensors")
        )
    settings = {
        "project": project.name,
        "model_class": code.top_class,
        "task": task,
        "data": asdict(project.data),
        "training": asdict(project.training),
        "frozen": frozen_paths(net, project) if net is not None else [],
    }
    (folder / "settings.json").write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")
    for file in folder.iterdir():
        file.chmod(0o644)
