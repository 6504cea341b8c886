"""Lenient loading for the editor: a file with errors opens wherever it can be represented.

The strict :func:`~modstudio.graph.io.load_project` (CLI, training, export) refuses a file with any
problem. The editor instead keeps what can be kept, so the file can be repaired and saved: a param of
the wrong type or out of range, an unknown param, a duplicate name, a node of an unknown block stay
as written and are flagged on their node (:func:`node_problems`). Only what a Project cannot hold is
changed (a field of the wrong type in a typed section, an unknown field, a dangling edge, a duplicate
id, a main module that does not exist), and every such change is listed in ``repairs``. What cannot be
represented at all (not JSON, not an object, values JSON cannot carry back, a newer format, no
``modules``) still raises ProjectError.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .io import check_representable, field_problems, parse_project_text, read_project_text, validate_fields
from .model import Edge, ModuleDef, Project, new_id
from .numbers import shown
from .ports import node_ports, port_named
from .problems import Problem, ProjectError, join_path
from .schema import BlockCatalog
from .validate import check_project, missing_blocks

MAX_FIELD_REPAIRS = 1000  # rounds of "repair one field, validate again"; more means a file too broken to show
_NODE_PATH = re.compile(r"^modules\.(.+)\.(nodes|edges)\[(\d+)\](?:\.(.*))?$")

_UNKNOWN_FIELD = ("extra_forbidden", "unexpected_keyword_argument")  # pydantic's kinds of error for it
Loc = tuple[str | int, ...]


@dataclass
class LenientLoad:
    """A project as far as it could be read, every problem the file has, and what the loader changed."""

    project: Project
    problems: list[Problem] = field(default_factory=list)  # of the file as written, as the strict load names them
    repairs: list[Problem] = field(default_factory=list)  # what was changed so the editor can show it
    # nodes of block types nobody here provides: no reason to refuse a file even strictly (see missing_blocks)
    missing_blocks: list[Problem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.repairs)

    @property
    def all_problems(self) -> list[Problem]:
        return [*self.problems, *self.missing_blocks]


def load_leniently(path: str | os.PathLike[str], catalog: BlockCatalog) -> LenientLoad:
    """Open a project file for repair (raises ProjectError only for what cannot be represented)."""
    return project_leniently(read_project_text(path), catalog, str(Path(path)))


def project_leniently(text: str, catalog: BlockCatalog, source: str = "") -> LenientLoad:
    data = parse_project_text(text, source)
    check_representable(data, source, text)
    if not isinstance(data.get("modules"), dict) or not data["modules"]:
        why = "required field is missing" if "modules" not in data else "must be an object holding at least one module"
        raise ProjectError([Problem("modules", why)], source)
    project, problems, repairs = _read_fields(data, text, source)
    if not project.modules:  # none of them could be read
        raise ProjectError(problems, source)
    problems += check_project(project, catalog)
    missing = missing_blocks(project, catalog)
    repairs += _make_representable(project, catalog)
    return LenientLoad(project, problems, repairs, missing)


def node_problems(problems: Iterable[Problem], project: Project, module: str) -> dict[str, str]:
    """The problems that lie on a node of ``module`` (an edge's on the node it feeds), by node id:
    each line says which field ("params.out_features: must be a whole number, not 'eight'")."""
    found: dict[str, list[str]] = {}
    target = project.modules.get(module)
    if target is None:
        return {}
    for problem in problems:
        match = _NODE_PATH.match(problem.path)
        if match is None or match.group(1) != module:
            continue
        kind, index, rest = match.group(2), int(match.group(3)), match.group(4)
        items = target.nodes if kind == "nodes" else target.edges
        if index >= len(items):
            continue
        item = items[index]
        node_id = item.id if kind == "nodes" else item.dst  # type: ignore[union-attr]
        line = f"{rest}: {problem.message}" if rest and kind == "nodes" else problem.message
        found.setdefault(node_id, []).append(line)
    return {node_id: "\n".join(lines) for node_id, lines in found.items()}


# field types ----------------------------------------------------------------------------


def _read_fields(data: dict[str, Any], text: str, source: str) -> tuple[Project, list[Problem], list[Problem]]:
    """Build the Project, repairing one field error at a time: the problems of the file, and the repairs."""
    data = copy.deepcopy(data)
    problems: list[Problem] = []
    repairs: list[Problem] = []
    for _ in range(MAX_FIELD_REPAIRS):
        try:
            return validate_fields(data), problems, repairs
        except ValidationError as exc:
            if not problems:  # the file as written; later rounds see it repaired (paths may have moved)
                problems = field_problems(exc, text)
            error = exc.errors()[0]
            repair = _repair_field(data, tuple(error["loc"]), error.get("type", ""))
            if repair is None:
                raise ProjectError(problems, source) from None
            repairs.append(repair)
    raise ProjectError([*problems, Problem("", "too many problems to open the file for repair")], source)


def _repair_field(data: dict[str, Any], loc: Loc, kind: str) -> Problem | None:
    """Change ``data`` so that the error at ``loc`` is gone; say how, or None where it cannot be."""
    path = join_path(*loc)
    if loc[:1] == ("modules",) and len(loc) >= 4 and loc[2] in ("nodes", "edges") and isinstance(loc[3], int):
        items = data["modules"][loc[1]][loc[2]]
        item = items[loc[3]]
        if loc[2] == "nodes" and isinstance(item, dict) and len(loc) == 5 and loc[4] in ("id", "name"):
            old = item.get(loc[4])
            item[loc[4]] = new_id() if loc[4] == "id" else f"node_{loc[3] + 1}"
            had = "none" if kind == "missing" else shown(old)
            return Problem(path, f"replaced by {shown(item[loc[4]])} (it had {had})")
        if kind in _UNKNOWN_FIELD and len(loc) == 5 and isinstance(item, dict):
            return Problem(path, f"unknown field removed (it held {shown(item.pop(loc[4]))})")
        if (
            loc[2] == "nodes"
            and isinstance(item, dict)
            and len(loc) >= 5
            and loc[4] in ("params", "weights", "frozen", "frozen_parts")
        ):
            return Problem(join_path(*loc[:5]), f"removed {shown(item.pop(loc[4]))}: it could not be read")
        del items[loc[3]]
        what = f"node {shown(item.get('name'))}" if loc[2] == "nodes" and isinstance(item, dict) else "this"
        return Problem(path, f"{what} could not be read and was removed: {shown(item)}")
    if kind == "missing":
        return None
    return _remove_key(data, loc, kind)


def _remove_key(data: dict[str, Any], loc: Loc, kind: str) -> Problem | None:
    """Remove the innermost object key on ``loc``, so that its default applies."""
    for end in range(len(loc), 0, -1):
        container: Any = data
        for part in loc[: end - 1]:
            container = container[part]
        key = loc[end - 1]
        if isinstance(container, dict) and key in container and loc[:end] != ("modules",):
            value = container.pop(key)
            path = join_path(*loc[:end])
            if kind in _UNKNOWN_FIELD:
                return Problem(path, f"unknown field removed (it held {shown(value)})")
            return Problem(path, f"{shown(value)} could not be read: removed, the default applies")
    return None


# what the editor cannot show ------------------------------------------------------------


def _make_representable(project: Project, catalog: BlockCatalog) -> list[Problem]:
    """Give duplicate ids new ones, drop edges that lead nowhere, name an existing main module."""
    repairs: list[Problem] = []
    seen: set[str] = set()
    for name, module in project.modules.items():
        positions = project.ui.positions.get(name, {})
        for i, node in enumerate(module.nodes):
            if node.id in seen:
                old, node.id = node.id, new_id()
                if old in positions:
                    positions[node.id] = list(positions[old])
                repairs.append(Problem(join_path("modules", name, "nodes", i, "id"), f"duplicate id '{old}' replaced"))
            seen.add(node.id)
        kept: list[Edge] = []
        for i, edge in enumerate(module.edges):
            why = _unshowable_edge(project, catalog, module.find(edge.src), module.find(edge.dst), edge)
            if why:
                repairs.append(Problem(join_path("modules", name, "edges", i), f"removed: {why}"))
            else:
                kept.append(edge)
        module.edges = kept
        repairs += _break_cycles(name, module)
    if project.main not in project.modules:
        used = {n.module for m in project.modules.values() for n in m.nodes if n.module}
        unused = [name for name in project.modules if name not in used]
        old, project.main = project.main, (unused or list(project.modules))[0]
        repairs.append(Problem("main", f"main module '{old}' does not exist: '{project.main}' is the main module now"))
    return repairs


def _break_cycles(name: str, module: ModuleDef) -> list[Problem]:
    """Remove the edge that closes each cycle (a network runs one way; the editor never makes one)."""
    import networkx as nx

    repairs: list[Problem] = []
    by_id = {n.id: n for n in module.nodes}
    while True:
        graph = nx.MultiDiGraph()
        graph.add_edges_from((e.src, e.dst, i) for i, e in enumerate(module.edges))
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            return repairs
        src, dst, index = cycle[-1]
        loop = " -> ".join(by_id[a].name for a, *_ in cycle) + f" -> {by_id[cycle[0][0]].name}"
        message = f"removed the edge from '{by_id[src].name}' to '{by_id[dst].name}', which closed the cycle {loop}"
        repairs.append(Problem(join_path("modules", name, "edges", index), message))
        del module.edges[index]


def _unshowable_edge(project: Project, catalog: BlockCatalog, src: Any, dst: Any, edge: Edge) -> str | None:
    if src is None or dst is None:
        missing, end = (edge.src, "from") if src is None else (edge.dst, "to")
        return f"dangling edge: it went {end} node '{missing}', which does not exist"
    src_ports, dst_ports = node_ports(project, catalog, src), node_ports(project, catalog, dst)
    if src_ports is not None and port_named(src_ports[1], edge.src_port) is None:
        return f"'{src.name}' has no output '{edge.src_port}'"
    if dst_ports is not None and port_named(dst_ports[0], edge.dst_port) is None:
        return f"'{dst.name}' has no input '{edge.dst_port}'"
    return None
