"""Grafting from a run: find where a module's trained weights are in another project's run,
and apply :class:`~modstudio.graph.graft.GraftModule` with a reference to them."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import NamedTuple

from modstudio.blocks.catalog import Catalog
from modstudio.compile.graphnet import CompileError, build_on_meta
from modstudio.compile.weights import WeightsError, fit_problems, module_paths, node_paths, read_tensors
from modstudio.engine.errors import EngineError
from modstudio.graph.document import Document, OperationError
from modstudio.graph.graft import GraftModule, join_weights
from modstudio.graph.model import Project

from .report import find_run


class GraftError(ValueError):
    """The graft cannot be made; the message says why."""


def weight_prefixes(source: Project, module: str, catalog: Catalog) -> list[str]:
    """Key prefixes (``block1.``, ``moe.experts.0.``) of every use of ``module`` in the source network."""
    try:
        net = build_on_meta(source, catalog)
    except CompileError as exc:
        raise GraftError(f"the source project does not compile: {exc}") from None
    return [f"{path}." if path else "" for path in module_paths(net, module)]


class GraftPlan(NamedTuple):
    """A graft checked on a copy of the project: the operation to apply and what it does."""

    op: GraftModule
    note: str


def plan_graft(
    project: Project,
    source: Project,
    source_file: Path,
    run: str,
    module: str,
    project_dir: Path,
    catalog: Catalog,
    *,
    frozen: bool = False,
    into: str | None = None,
    replace: str | None = None,
    weights_of: str | None = None,
) -> GraftPlan:
    """Check the graft of ``module`` of ``source`` with the weights of its run into ``project``.

    Everything (finding the run, reading the weights, applying the graft and checking the
    fit) happens on a copy: ``project`` is not changed. Returns a fresh, unapplied
    :class:`GraftModule` (applying it to ``project`` gives the checked result, the same
    node id) and a sentence saying what it does. Raises :class:`GraftError`.
    """
    if module not in source.modules:
        raise GraftError(f"{source_file} has no module '{module}' (modules: {', '.join(source.modules)})")
    try:
        run_folder = find_run(source_file.resolve(), run)
    except EngineError as exc:
        raise GraftError(exc.message) from None
    weights_file = run_folder / "best.safetensors"
    if not weights_file.is_file():
        weights_file = run_folder / "last.safetensors"
    prefixes = weight_prefixes(source, module, catalog)
    if not prefixes:
        raise GraftError(
            f"module '{module}' is not used by the network of {source_file}, so the run has no weights for it"
        )
    if weights_of is not None:
        wanted = weights_of.rstrip(".") + "."
        if wanted not in prefixes:
            raise GraftError(
                f"'{weights_of}' is not a use of '{module}'; its uses: {', '.join(p[:-1] for p in prefixes)}"
            )
        prefix = wanted
    else:
        prefix = prefixes[0]
    try:
        selected = {k[len(prefix) :]: v for k, v in read_tensors(weights_file).items() if k.startswith(prefix)}
    except WeightsError as exc:
        raise GraftError(str(exc)) from None
    if not selected:
        raise GraftError(f"{weights_file} has no tensors under '{prefix}'")
    relative = Path(os.path.relpath(weights_file.resolve(), project_dir.resolve())).as_posix()
    trial = copy.deepcopy(project)
    op = GraftModule(source, module, join_weights(relative, prefix), frozen, into, replace=replace)
    try:
        Document(trial, catalog).apply(op)
    except OperationError as exc:
        raise GraftError(str(exc)) from None
    fits = _check_fit(trial, catalog, op.node_id, selected)
    if fits is not None and fits.startswith("the weights"):
        raise GraftError(fits)
    state = "frozen" if frozen else "trainable"
    where = f"'{prefix[:-1]}'" if prefix else "the whole network"
    others = f" (other uses: {', '.join(p[:-1] for p in prefixes if p != prefix)})" if len(prefixes) > 1 else ""
    note = f"grafted '{module}' as '{op.grafted}' with the weights of {where}{others} from {weights_file} ({state})"
    fresh = GraftModule(source, module, op.weights, frozen, into, replace=replace, node_id=op.node_id)
    return GraftPlan(fresh, note if fits is None else f"{note}; {fits}")


def graft_from_run(
    project: Project,
    source: Project,
    source_file: Path,
    run: str,
    module: str,
    project_dir: Path,
    catalog: Catalog,
    *,
    frozen: bool = False,
    into: str | None = None,
    replace: str | None = None,
    weights_of: str | None = None,
) -> str:
    """Graft ``module`` of ``source`` with the weights of its run into ``project`` (in place).

    ``project_dir``: the folder of the file ``project`` will be saved to (the weights path is
    stored relative to it). Returns a sentence saying what was done.
    """
    plan = plan_graft(
        project, source, source_file, run, module, project_dir, catalog,
        frozen=frozen, into=into, replace=replace, weights_of=weights_of,
    )  # fmt: skip
    try:
        Document(project, catalog).apply(plan.op)
    except OperationError as exc:
        raise GraftError(str(exc)) from None
    return plan.note


def _check_fit(project: Project, catalog: Catalog, node_id: str, selected: dict) -> str | None:
    """None when the grafted node compiles and its weights fit; else what is wrong."""
    try:
        net = build_on_meta(project, catalog)
    except CompileError:
        return (
            "the network does not compile yet (wire the new node in the editor); its weights are checked when it does"
        )
    for path in node_paths(net, node_id):
        problems = fit_problems(selected, net.get_submodule(path).state_dict())
        if problems:
            return f"the weights do not fit the grafted node where it is wired: {'; '.join(problems)}"
    return None
