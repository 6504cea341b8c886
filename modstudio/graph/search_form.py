"""The form of a project's search section, whatever the rest of the project holds: targets written as
one of the known forms, ranges the right way round, known objectives (the checks a file is loaded with;
graph/search_space.py checks the targets against the project)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Literal

from .model import OBJECTIVES, Project, SearchDimension, SearchSection
from .numbers import shown
from .problems import Problem, join_path

TargetKind = Literal["training", "data", "option", "node", "module"]
SECTION_NAMES = ("training", "data")


class TargetError(ValueError):
    """A target that names no setting of the project; the message says why."""


@dataclass(frozen=True)
class Target:
    """A parsed target: where the setting is (``kind``) and its names."""

    kind: TargetKind
    name: str  # the field, option or parameter
    module: str = ""
    node: str = ""


def parse_target(text: str) -> Target:
    """The parts of a target, or a TargetError naming what is wrong with its form."""
    if not isinstance(text, str) or not text:
        raise TargetError("a target must be text such as 'training.learning_rate'")
    if text.startswith("node:"):
        where, dot, param = text[5:].rpartition(".")
        module, slash, node = where.partition("/")
        if not (dot and slash and module and node and param):
            raise TargetError(f"'{text}' is not of the form node:<module>/<node>.<param>")
        return Target("node", param, module, node)
    if text.startswith("module:"):
        module, dot, param = text[7:].rpartition(".")
        if not (dot and module and param):
            raise TargetError(f"'{text}' is not of the form module:<ModuleDef>.<param>")
        return Target("module", param, module)
    section, dot, name = text.partition(".")
    if section == "data" and name.startswith("options."):
        option = name[len("options.") :]
        if option:
            return Target("option", option)
    if section in SECTION_NAMES and dot and name and "." not in name:
        return Target(section, name)  # type: ignore[arg-type]
    raise TargetError(
        f"'{text}' names no setting (targets: training.<field>, data.<field>, data.options.<name>, "
        "node:<module>/<node>.<param>, module:<ModuleDef>.<param>)"
    )


def dimension_shape_problem(dim: SearchDimension) -> str | None:
    """Why a dimension cannot describe values whatever it targets (a range the wrong way round, a log
    scale from zero, choices and a range at once...), or None."""
    if dim.kind == "choice":
        if dim.low is not None or dim.high is not None or dim.step is not None or dim.log:
            return "choices take no low, high, step or log"
        if not dim.choices:
            return "needs at least one choice"
        bad = [c for c in dim.choices if not isinstance(c, (str, int, float))]
        if bad:
            return f"a choice is text, a number or true/false, not {shown(bad[0])}"
        if len({(type(c), c) for c in dim.choices}) != len(dim.choices):
            return "lists a choice twice"
        return None
    if dim.choices:
        return f"an {dim.kind} range takes no choices (use kind 'choice')"
    if dim.low is None or dim.high is None:
        return "needs both low and high"
    for name in ("low", "high", "step"):
        value = getattr(dim, name)
        if value is None:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            return f"{name} must be a finite number, not {shown(value)}"
        if dim.kind == "int" and not isinstance(value, int):
            return f"{name} of a whole-number range must be a whole number, not {shown(value)}"
    if dim.low >= dim.high:
        return f"low ({shown(dim.low)}) must be below high ({shown(dim.high)})"
    if dim.log and dim.low <= 0:
        return f"a log scale needs low above 0, not {shown(dim.low)}"
    if dim.step is not None and dim.step <= 0:
        return f"step must be above 0, not {shown(dim.step)}"
    if dim.step is not None and dim.log:
        return "a log scale takes no step (optuna samples one or the other)"
    return None


def search_problems(project: Project) -> list[Problem]:
    """The problems of the form of the project's search section (those a file is refused for)."""
    section = project.search
    if section is None:
        return []
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, dim in enumerate(section.dimensions):
        path = join_path("search", "dimensions", i)
        if dim.target in seen:
            problems.append(Problem(path, f"{dim.target} is searched twice"))
        seen.add(dim.target)
        why = dimension_shape_problem(dim)
        why = f"{dim.target}: {why}" if why else _target_form_problem(dim.target)
        if why:
            problems.append(Problem(path, why))
    why = objectives_problem(section.objectives)
    if why:
        problems.append(Problem(join_path("search", "objectives"), why))
    return problems


def _target_form_problem(target: str) -> str | None:
    try:
        parse_target(target)
    except TargetError as exc:
        return str(exc)
    return None


def objectives_problem(objectives: list[str]) -> str | None:
    """Why a list of objectives cannot be optimised (empty, unknown, twice), or None."""
    if not objectives:
        return f"name at least one objective ({', '.join(OBJECTIVES)})"
    for name in objectives:
        if name not in OBJECTIVES:
            return f"unknown objective {shown(name)} (objectives: {', '.join(OBJECTIVES)})"
    if len(set(objectives)) != len(objectives):
        return "an objective is listed twice"
    return None


def renamed(section: SearchSection | None, old: str, new: str) -> SearchSection | None:
    """A copy of the section with each target that starts with ``old`` starting with ``new`` instead
    (a renamed node ``node:main/fc1.`` or module ``module:Expert.``), or None when no target changes."""
    if section is None or not any(d.target.startswith(old) for d in section.dimensions):
        return None
    changed = copy.deepcopy(section)
    for dim in changed.dimensions:
        if dim.target.startswith(old):
            dim.target = new + dim.target[len(old) :]
    return changed
