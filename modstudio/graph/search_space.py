"""A project's search space: what each dimension's target names, its current value, the project with a
trial's values, and why a dimension cannot work.

Targets, in the user's words:

- ``training.<field>``: a field of the training section (``training.learning_rate``);
- ``data.<field>``: a field of the data section (``data.batch_size``);
- ``data.options.<name>``: an option of the dataset (``data.options.noise``);
- ``node:<module>/<node>.<param>``: a parameter of a node, by the names shown on the canvas
  (``node:main/moe.num_experts``; ``<module>`` is ``main`` or a ModuleDef's name);
- ``module:<ModuleDef>.<param>``: the default of a module parameter (``module:Expert.width``).
"""

from __future__ import annotations

import copy
import typing
from dataclasses import dataclass, fields
from typing import Any, Literal

from .document import OperationError
from .model import DataSection, Project, SearchDimension, SearchSection, TrainingSection
from .numbers import shown
from .problems import Problem, join_path
from .schema import BlockCatalog, ParamSpec
from .search_form import TargetError, dimension_shape_problem, parse_target, search_problems
from .section_ops import check_section_value

_SECTIONS: dict[str, type] = {"training": TrainingSection, "data": DataSection}
_NOT_SEARCHED = {"data": {"options", "augmentation", "curriculum"}, "training": {"aux_loss_weights", "init_weights"}}


@dataclass(frozen=True)
class Setting:
    """What a target holds: the kind of value (``int``, ``float``, ``choice``, ``any`` for dataset options),
    the choices it allows, and a check of one value (None: no check here, the engine checks it)."""

    kind: Literal["int", "float", "choice", "any"]
    choices: tuple[Any, ...] = ()
    spec: ParamSpec | None = None


def setting_of(project: Project, target: str, catalog: BlockCatalog) -> Setting:
    """What the target's setting holds, or a TargetError (unknown target, a setting that is not a number
    or a choice)."""
    where = parse_target(target)
    if where.kind in _SECTIONS:
        return _section_setting(where.kind, where.name)
    if where.kind == "option":
        return Setting("any")
    module = project.modules.get(where.module)
    if module is None:
        raise TargetError(f"{target}: there is no module '{where.module}'")
    if where.kind == "module":
        if where.name not in module.params:
            known = ", ".join(module.params) or "none"
            raise TargetError(
                f"{target}: module '{where.module}' has no parameter '{where.name}' (parameters: {known})"
            )
        return Setting("float" if isinstance(module.params[where.name], float) else "int")
    node = module.node_named(where.node)
    if node is None:
        raise TargetError(f"{target}: module '{where.module}' has no node named '{where.node}'")
    if node.module is not None:
        used = project.modules.get(node.module)
        if used is None or where.name not in used.params:
            known = ", ".join(used.params) if used is not None and used.params else "none"
            raise TargetError(f"{target}: module '{node.module}' has no parameter '{where.name}' (parameters: {known})")
        return Setting("float" if isinstance(used.params[where.name], float) else "int")
    spec = catalog.lookup(node.block or "")
    if spec is None:
        raise TargetError(f"{target}: '{node.name}' is of block type '{node.block}', which is not installed here")
    param = next((p for p in spec.params if p.name == where.name), None)
    if param is None:
        known = ", ".join(p.name for p in spec.params) or "none"
        raise TargetError(f"{target}: {spec.title} has no parameter '{where.name}' (parameters: {known})")
    if param.kind in ("int", "float"):
        return Setting(param.kind, spec=param)
    if param.kind == "choice":
        return Setting("choice", param.choices, param)
    if param.kind == "bool":
        return Setting("choice", (False, True), param)
    raise TargetError(f"{target}: a {param.kind} parameter cannot be searched (only numbers and choices)")


def _section_setting(section: str, name: str) -> Setting:
    cls = _SECTIONS[section]
    names = [f.name for f in fields(cls)]
    if name not in names or name in _NOT_SEARCHED[section]:
        known = ", ".join(n for n in names if n not in _NOT_SEARCHED[section])
        raise TargetError(f"{section}.{name}: {section} has no such setting to search (settings: {known})")
    hint = typing.get_type_hints(cls, include_extras=True)[name]
    kinds = [_bare(arg) for arg in (typing.get_args(hint) if typing.get_origin(hint) is typing.Union else (hint,))]
    kinds = [k for k in kinds if k is not type(None)]
    bare = kinds[0] if len(kinds) == 1 else None
    if typing.get_origin(bare) is Literal:
        return Setting("choice", typing.get_args(bare))
    if bare is bool:
        return Setting("choice", (False, True))
    if bare in (int, float):
        return Setting("int" if bare is int else "float")
    if bare is str:
        return Setting("choice")  # any text the engine accepts (a dataset's name)
    raise TargetError(f"{section}.{name} is not a number or a choice, so it cannot be searched")


def _bare(hint: Any) -> Any:
    return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint


def read_value(project: Project, target: str) -> Any:
    """The target's value in the project now (a parameter left unset: None, its default applies)."""
    where = parse_target(target)
    if where.kind in _SECTIONS:
        return copy.deepcopy(getattr(getattr(project, where.kind), where.name))
    if where.kind == "option":
        return copy.deepcopy(project.data.options.get(where.name))
    module = project.modules.get(where.module)
    if module is None:
        raise TargetError(f"{target}: there is no module '{where.module}'")
    if where.kind == "module":
        return module.params.get(where.name)
    node = module.node_named(where.node)
    if node is None:
        raise TargetError(f"{target}: module '{where.module}' has no node named '{where.node}'")
    return copy.deepcopy(node.params.get(where.name))


def dimension_problem(project: Project, dim: SearchDimension, catalog: BlockCatalog) -> str | None:
    """Why this dimension cannot be searched in this project, as a sentence naming its target, or None."""
    why = dimension_shape_problem(dim)
    if why:
        return f"{dim.target}: {why}"
    try:
        setting = setting_of(project, dim.target, catalog)
    except TargetError as exc:
        return str(exc)
    if dim.kind != "choice":
        if setting.kind == "choice":
            listed = f" ({', '.join(shown(c) for c in setting.choices)})" if setting.choices else ""
            return f"{dim.target} is a choice{listed}: search it with kind 'choice'"
        if setting.kind == "int" and dim.kind == "float":
            return f"{dim.target} is a whole number: search it with kind 'int'"
        values = [dim.low, dim.high]
    else:
        values = list(dim.choices)
        if setting.choices:
            bad = [
                c
                for c in values
                if c not in setting.choices or isinstance(c, bool) != isinstance(setting.choices[0], bool)
            ]
            if bad:
                allowed = ", ".join(shown(c) for c in setting.choices)
                return f"{dim.target}: {shown(bad[0])} is not one of its choices ({allowed})"
        elif setting.kind in ("int", "float"):
            bad = [
                c
                for c in values
                if isinstance(c, bool) or not isinstance(c, int if setting.kind == "int" else (int, float))
            ]
            if bad:
                return f"{dim.target} is a {'whole ' if setting.kind == 'int' else ''}number, not {shown(bad[0])}"
    return _values_problem(dim.target, setting, values)


def _values_problem(target: str, setting: Setting, values: list[Any]) -> str | None:
    where = parse_target(target)
    for value in values:
        if setting.spec is not None:
            why = setting.spec.check_value(value)
        elif where.kind in _SECTIONS:
            why = _section_value_problem(where.kind, where.name, value)
        else:
            why = None
        if why:
            return f"{target}: {shown(value)} is not allowed ({why})"
    return None


def _section_value_problem(section: str, name: str, value: Any) -> str | None:
    current = _SECTIONS[section]()
    try:
        check_section_value(section, current, name, value)
    except OperationError as exc:
        return str(exc)
    return None


def searchable_targets(project: Project, catalog: BlockCatalog) -> list[str]:
    """Every target of the project a dimension can vary: training and data settings, the numeric and
    choice parameters of every node and the module parameters (dataset options are not listed: the
    dataset knows them)."""
    found: list[str] = []
    for section, cls in _SECTIONS.items():
        for f in fields(cls):
            target = f"{section}.{f.name}"
            if f.name not in _NOT_SEARCHED[section] and _settable(project, target, catalog):
                found.append(target)
    for name, module in project.modules.items():
        found += [f"module:{name}.{param}" for param in module.params]
        for node in module.nodes:
            if node.module is not None:
                used = project.modules.get(node.module)
                found += [f"node:{name}/{node.name}.{p}" for p in (used.params if used else {})]
                continue
            spec = catalog.lookup(node.block or "")
            for param in spec.params if spec is not None else ():
                if param.kind in ("int", "float", "choice", "bool"):
                    found.append(f"node:{name}/{node.name}.{param.name}")
    return found


def _settable(project: Project, target: str, catalog: BlockCatalog) -> bool:
    try:
        setting_of(project, target, catalog)
    except TargetError:
        return False
    return True


def all_search_problems(project: Project, catalog: BlockCatalog) -> list[Problem]:
    """Every problem of the project's search section: its form, and each target checked against the
    project (what a search refuses to start with)."""
    problems = search_problems(project)
    if problems or project.search is None:
        return problems
    for i, dim in enumerate(project.search.dimensions):
        why = dimension_problem(project, dim, catalog)
        if why:
            problems.append(Problem(join_path("search", "dimensions", i), why))
    return problems


def new_section(project: Project) -> SearchSection:
    """The project's search section, or a new empty one (not attached)."""
    return copy.deepcopy(project.search) if project.search is not None else SearchSection()
