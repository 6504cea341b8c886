"""Shared steps of the surgery tests: plan a surgery on a trained run, build networks, read files."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from modstudio.blocks import default_catalog
from modstudio.compile.graphnet import GraphNet
from modstudio.engine.surgery.surgery import Request, Surgery, plan, run_state
from modstudio.graph.document import Document, History
from modstudio.graph.io import load_project
from modstudio.graph.model import Project


def surgery_on(project_file: Path, run: Path, request: Request, project: Project | None = None) -> Surgery:
    project = project or load_project(project_file, default_catalog())
    return plan(project, project_file.parent, run, request, project_file.parent, project_file.stem)


def applied(project_file: Path, surgery: Surgery) -> tuple[Project, History]:
    """The project with the surgery done through an undo history (weights written first)."""
    surgery.write_weights()
    doc = Document(load_project(project_file, default_catalog()), default_catalog())
    history = History(doc)
    history.do(surgery.edit)
    return doc.project, history


def network(project: Project, state: dict[str, torch.Tensor]) -> GraphNet:
    net = GraphNet(project, default_catalog())
    net.load_state_dict(state, strict=True)
    return net.eval()


def trained_network(project_file: Path, run: Path) -> GraphNet:
    return network(load_project(project_file, default_catalog()), run_state(run))


def written(folder: Path, surgery: Surgery) -> dict[str, torch.Tensor]:
    return load_file(str(folder / surgery.reference))


def layer_input(net: GraphNet, path: str, x: torch.Tensor) -> torch.Tensor:
    """What the layer at ``path`` receives when ``net`` runs on ``x``."""
    seen: list[torch.Tensor] = []
    handle = net.get_submodule(path).register_forward_hook(lambda m, inputs, out: seen.append(inputs[0]))
    with torch.no_grad():
        net(x)
    handle.remove()
    return seen[0]
