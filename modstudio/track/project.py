"""The project a tracked run is read back with: ``Tracker(..., project=PATH)``, or one found beside the model.

``modstudio evaluate``, ``doctor --run`` and the Evaluation dock rebuild the network of a run from its
folder's ``project.msproj``. A training loop of one's own has no such file, so the tracker copies one in:
the project given (checked before the tracker touches the model: a bad path, a file that is not a
project or a project whose network does not fit the model is a :class:`TrackError`), else one found
beside the file that defines the model's class (``project.msproj``, ``<stem>.msproj``, then any of at
most :data:`MAX_SEARCHED` ``.msproj`` files there whose network fits). Whether a project fits is
checked cheaply: its network built on the meta device (nothing allocated), its state-dict keys and
shapes compared with the model's. The copy names its files (datasets, starting and grafted weights)
by absolute paths, so it still finds them from the run folder.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from torch import nn

from modstudio.blocks import Catalog, default_catalog
from modstudio.compile.graphnet import build_on_meta
from modstudio.compile.weights import fit_problems
from modstudio.graph.graft import join_weights, split_weights
from modstudio.graph.io import load_project, save_project
from modstudio.graph.model import Project
from modstudio.graph.problems import ProjectError

from .layers import TrackError

RUN_PROJECT = "project.msproj"  # what the run folder's readers look for
MAX_SEARCHED = 20  # beside the model: more .msproj files than this are not tried one by one


def unwrapped(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel (``.module``) or torch.compile (``._orig_mod``) wrappers."""
    while True:
        inner = getattr(model, "_orig_mod", None) or (
            model.module if isinstance(model, nn.parallel.DistributedDataParallel) else None
        )
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def fit_with(project: Project, model: nn.Module, catalog: Catalog) -> list[str]:
    """What keeps ``model``'s weights from loading into the project's network ([] when they fit)."""
    net = build_on_meta(project, catalog)
    return fit_problems(unwrapped(model).state_dict(), net.state_dict(), "project's network")


def given_project(path: str | Path, model: nn.Module, catalog: Catalog | None = None) -> Project:
    """The project at ``path`` with absolute file paths; a TrackError naming the file and the problem."""
    catalog = catalog or default_catalog()
    file = Path(path).expanduser()
    where = f"project={str(path)!r}"
    if not file.exists():
        raise TrackError(f"{where}: {file} does not exist")
    if not file.is_file():
        raise TrackError(f"{where}: {file} is not a file (give the .msproj file that describes the model)")
    try:
        project = load_project(file, catalog)
    except ProjectError as exc:
        problems = "; ".join(str(p) for p in exc.problems[:2]) + ("; ..." if len(exc.problems) > 2 else "")
        raise TrackError(f"{where}: {file} is not a usable ModStudio project ({problems})") from None
    try:
        problems = fit_with(project, model, catalog)
    except Exception as exc:  # whatever stops the build: the project cannot describe the model
        raise TrackError(f"{where}: the network of {file} cannot be built ({exc})") from None
    if problems:
        raise TrackError(
            f"{where}: the model's weights do not fit the network of {file} ({'; '.join(problems)}); "
            "give the project the model was exported from"
        )
    return with_absolute_paths(project, file.resolve().parent)


def project_beside(model: nn.Module, catalog: Catalog | None = None) -> tuple[Project, Path] | None:
    """A project beside the file defining ``model``'s class whose network fits it, with absolute file
    paths, and its file; None when there is none."""
    catalog = catalog or default_catalog()
    try:
        source = Path(inspect.getfile(type(unwrapped(model)))).resolve()
    except (TypeError, OSError):  # a class defined in an interactive session has no file
        return None
    folder = source.parent
    named = [folder / RUN_PROJECT, folder / f"{source.stem}.msproj"]
    try:
        others = sorted(p for p in folder.glob("*.msproj") if p not in named)
    except OSError:
        others = []
    candidates = [p for p in named if p.is_file()]
    if len(candidates) + len(others) <= MAX_SEARCHED:
        candidates += [p for p in others if p.is_file()]
    for file in candidates:
        try:
            project = load_project(file, catalog)
            if not fit_with(project, model, catalog):
                return with_absolute_paths(project, file.parent), file
        except Exception:  # a file that cannot be read or built does not describe the model
            continue
    return None


def say_no_project(model: nn.Module) -> None:
    """The one line on stderr when the run gets no project."""
    kind = type(unwrapped(model))
    try:
        where = f" beside {inspect.getfile(kind)}"
    except (TypeError, OSError):
        where = ""
    print(
        f"modstudio.track: no project file whose network fits {kind.__name__} was found{where}, so this run "
        'cannot be evaluated or doctored; pass one: Tracker(..., project="model.msproj")',
        file=sys.stderr,
        flush=True,
    )


def write_run_project(project: Project, run_dir: Path) -> Path:
    """The run folder's ``project.msproj``, written atomically (a temporary file, then os.replace)."""
    target = Path(run_dir) / RUN_PROJECT
    save_project(project, target)
    return target


def with_absolute_paths(project: Project, base: Path) -> Project:
    """``project`` with the files it names relative to its own folder (``base``) named absolutely."""

    def absolute(value: str) -> str:
        path = Path(value).expanduser()
        return value if path.is_absolute() else str(base / path)

    def absolute_weights(reference: str) -> str:  # "<file>#<key prefix>"
        file, prefix = split_weights(reference)
        return join_weights(absolute(file), prefix)

    options = project.data.options
    for key in ("path", "targets") if project.data.dataset == "numpy" else ("path",):
        if isinstance(options.get(key), str) and options[key]:
            options[key] = absolute(options[key])
    if project.training.init_weights:
        project.training.init_weights = absolute_weights(project.training.init_weights)
    for module in project.modules.values():
        for node in module.nodes:
            if node.weights:
                node.weights = absolute_weights(node.weights)
    return project
