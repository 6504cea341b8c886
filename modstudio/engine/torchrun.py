"""The torchrun folder: train.py, model.py, project.msproj, settings.json and data.safetensors.

It sits in the engine, above :mod:`modstudio.compile`: the data in the folder is prepared by the
engine's own splits and standardisation, and ``model.py`` is the checked Python export of
:func:`modstudio.compile.export.export_project`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from modstudio.blocks.catalog import Catalog
from modstudio.compile.export import ExportError, ExportResult, build_network, export_project
from modstudio.compile.export.destination import check_destination, put_in_place, staging_folder
from modstudio.engine.data import make_splits
from modstudio.engine.errors import EngineError
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


def export_torchrun(
    project: Project,
    out: str | Path,
    *,
    weights: str | Path | None = None,
    catalog: Catalog | None = None,
    force: bool = False,
    base_dir: str | Path | None = None,
) -> ExportResult:
    """Write the folder ``out`` that ``torchrun --nproc_per_node=N train.py`` trains from.

    Its ``model.py`` is the Python export, checked against GraphNet as that export always is;
    the options mean what they mean for :func:`~modstudio.compile.export.export_project`.
    The folder appears whole or not at all.
    """
    out = Path(out)
    check_destination(out, force)
    _task(project)  # before anything is built
    base = Path(base_dir) if base_dir is not None else None
    with staging_folder(out) as tmp:
        staged = tmp / "torchrun"
        staged.mkdir()
        result = export_project(project, "python", staged / "model.py", weights=weights, catalog=catalog, base_dir=base)
        net = build_network(project, weights, catalog, base)
        write_folder(project, result.top_class, staged, base, net)
        put_in_place(staged, out)
    return replace(result, path=out, format="torchrun")


def write_folder(project: Project, model_class: str, folder: Path, base_dir: Path | None, net: nn.Module) -> None:
    """Add to ``folder``, which holds ``model.py`` (whose top class is ``model_class``), the rest
    of what train.py needs.

    When the project starts from given weights (``init_weights`` or grafted nodes), ``net``'s
    state goes in as ``init.safetensors`` (train.py starts from it); the paths of frozen nodes
    go into settings.json (train.py keeps them frozen).
    """
    from modstudio.compile.weights import frozen_paths
    from modstudio.graph.io import save_project

    task = _task(project)
    data = prepared_data(project, base_dir)
    shutil.copy(Path(__file__).with_name("torchrun_script.py"), folder / "train.py")
    save_project(project, folder / "project.msproj")
    save_file(data, str(folder / "data.safetensors"))
    grafted = project.training.init_weights is not None or any(
        node.weights is not None for module in project.modules.values() for node in module.nodes
    )
    if grafted:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(folder / "init.safetensors")
        )
    settings = {
        "project": project.name,
        "model_class": model_class,
        "task": task,
        "data": asdict(project.data),
        "training": asdict(project.training),
        "frozen": frozen_paths(net, project),
    }
    (folder / "settings.json").write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")
    for file in folder.iterdir():
        file.chmod(0o644)
