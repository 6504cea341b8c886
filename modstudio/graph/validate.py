"""Checks of a whole project beyond field types: names, block types, params, edges,
cycles and module references. Each problem names what is wrong and where."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .expressions import ExpressionError, is_expression, names_used
from .model import ModuleDef, Node, Project
from .names import module_name_problem, node_name_problem
from .ports import node_ports, port_named
from .problems import Problem, join_path
from .references import MEMBER_KINDS, referenced_modules
from .schema import INPUT_BLOCK, OUTPUT_BLOCK, BlockCatalog, PortSpec
from .search_form import search_problems

if TYPE_CHECKING:
    import networkx as nx


def missing_block_message(block_id: str) -> str:
    """Why a node whose block type is not in the catalogue cannot be built, as a sentence."""
    return (
        f"unknown block type '{block_id}': neither ModStudio nor an installed plugin provides it "
        "(is the plugin that adds it installed?)"
    )


def missing_blocks(project: Project, catalog: BlockCatalog) -> list[Problem]:
    """Nodes whose block type no built-in block or loaded plugin provides.

    These do not stop a project from loading (projects never carry code, so a block from a
    plugin that is not installed here must not make the file unreadable): the node keeps its
    params, unchecked, and shape inference, training and export name it as the problem.
    """
    problems: list[Problem] = []
    for name, module in project.modules.items():
        for i, node in enumerate(module.nodes):
            if node.block is not None and node.module is None and catalog.lookup(node.block) is None:
                path = join_path("modules", name, "nodes", i, "block")
                problems.append(Problem(path, f"node '{node.name}' has {missing_block_message(node.block)}"))
    return problems


def check_project(project: Project, catalog: BlockCatalog) -> list[Problem]:
    """Problems that stop a project from loading; nodes of unknown block types are not among
    them (see :func:`missing_blocks`)."""
    problems: list[Problem] = []
    if project.main not in project.modules:
        known = ", ".join(sorted(project.modules)) or "none"
        problems.append(Problem("main", f"main module '{project.main}' does not exist (modules: {known})"))
    seen_ids: dict[str, str] = {}
    for name, module in project.modules.items():
        base = join_path("modules", name)
        why = module_name_problem(name)
        if why:
            problems.append(Problem(base, why))
        problems += _check_module(project, catalog, name, module, seen_ids)
    problems += _check_recursion(project, catalog)
    # the search section's own form; whether its targets exist is checked when a search starts
    # (search_problems with the catalogue), so renaming a node never makes a project unloadable
    problems += search_problems(project)
    return problems


def _check_module(
    project: Project, catalog: BlockCatalog, name: str, module: ModuleDef, seen_ids: dict[str, str]
) -> list[Problem]:
    problems: list[Problem] = []
    names: set[str] = set()
    for pname, value in module.params.items():
        why = node_name_problem(pname)
        if why or isinstance(value, bool):
            why = why or "a module parameter must be a number"
            problems.append(Problem(join_path("modules", name, "params", pname), why))
    for i, node in enumerate(module.nodes):
        path = join_path("modules", name, "nodes", i)
        if node.id in seen_ids:
            problems.append(Problem(join_path(path, "id"), f"duplicate node id '{node.id}' (also {seen_ids[node.id]})"))
        else:
            seen_ids[node.id] = path
        why = node_name_problem(node.name)
        if why:
            problems.append(Problem(join_path(path, "name"), why))
        elif node.name in names:
            problems.append(Problem(join_path(path, "name"), f"duplicate node name '{node.name}'"))
        names.add(node.name)
        problems += _check_node(project, catalog, module, node, path)
    problems += _check_edges(project, catalog, name, module)
    return problems


def _check_node(project: Project, catalog: BlockCatalog, module: ModuleDef, node: Node, path: str) -> list[Problem]:
    if (node.block is None) == (node.module is None):
        return [Problem(path, f"node '{node.name}' must have exactly one of 'block' or 'module'")]
    problems: list[Problem] = []
    if node.module is not None:
        target = project.modules.get(node.module)
        if target is None:
            return [
                Problem(
                    join_path(path, "module"),
                    f"node '{node.name}' refers to module '{node.module}', which does not exist",
                )
            ]
        for pname, value in node.params.items():
            ppath = join_path(path, "params", pname)
            if pname not in target.params:
                known = ", ".join(sorted(target.params)) or "none"
                problems.append(
                    Problem(ppath, f"module '{node.module}' has no parameter '{pname}' (parameters: {known})")
                )
            elif is_expression(value):
                problems += _check_expression(module, value, ppath)
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append(Problem(ppath, f"must be a number or an expression, not {value!r}"))
        return problems
    spec = catalog.lookup(node.block or "")
    if spec is None:
        return []  # a block from a plugin that is not installed: the node loads, see missing_blocks
    known = {p.name: p for p in spec.params}
    for pname, value in node.params.items():
        ppath = join_path(path, "params", pname)
        param = known.get(pname)
        if param is None:
            problems.append(Problem(ppath, f"{spec.title} has no parameter '{pname}'"))
            continue
        why = param.check(value)
        if why:
            problems.append(Problem(ppath, why))
        elif is_expression(value):
            problems += _check_expression(module, value, ppath)
        elif param.kind in MEMBER_KINDS:
            for name in value if isinstance(value, list) else [value]:
                if name not in project.modules:
                    problems.append(
                        Problem(ppath, f"{spec.title} '{node.name}' uses module '{name}', which does not exist")
                    )
    return problems


def _check_expression(module: ModuleDef, value: str, path: str) -> list[Problem]:
    try:
        used = names_used(value)
    except ExpressionError as exc:
        return [Problem(path, str(exc))]
    unknown = sorted(used - set(module.params))
    if unknown:
        known = ", ".join(sorted(module.params)) or "none"
        return [
            Problem(
                path, f"expression '{value[1:].strip()}' uses unknown name '{unknown[0]}' (module parameters: {known})"
            )
        ]
    return []


def _check_edges(project: Project, catalog: BlockCatalog, name: str, module: ModuleDef) -> list[Problem]:
    problems: list[Problem] = []
    by_id = {n.id: n for n in module.nodes}
    fed: set[tuple[str, str]] = set()
    import networkx as nx  # imported when first needed: it is slow to import (startup time)

    graph = nx.DiGraph()
    for i, edge in enumerate(module.edges):
        path = join_path("modules", name, "edges", i)
        src, dst = by_id.get(edge.src), by_id.get(edge.dst)
        if src is None or dst is None:
            missing = edge.src if src is None else edge.dst
            end = "from" if src is None else "to"
            problems.append(Problem(path, f"dangling edge: it goes {end} node '{missing}', which does not exist"))
            continue
        src_ports, dst_ports = node_ports(project, catalog, src), node_ports(project, catalog, dst)
        if src_ports is not None and port_named(src_ports[1], edge.src_port) is None:
            problems.append(
                Problem(
                    join_path(path, "src_port"),
                    f"'{src.name}' has no output '{edge.src_port}' (outputs: {_names(src_ports[1])})",
                )
            )
            continue
        if dst_ports is not None:
            port = port_named(dst_ports[0], edge.dst_port)
            if port is None:
                problems.append(
                    Problem(
                        join_path(path, "dst_port"),
                        f"'{dst.name}' has no input '{edge.dst_port}' (inputs: {_names(dst_ports[0])})",
                    )
                )
                continue
            if not port.multi and (edge.dst, edge.dst_port) in fed:
                problems.append(Problem(path, f"input '{edge.dst_port}' of '{dst.name}' is fed by more than one edge"))
            fed.add((edge.dst, edge.dst_port))
        if edge.src == edge.dst:
            problems.append(Problem(path, f"cycle: '{src.name}' feeds itself"))
            continue
        graph.add_edge(edge.src, edge.dst)
    if not problems:
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            cycle = []
        if cycle:
            loop = " -> ".join(by_id[a].name for a, _ in cycle) + f" -> {by_id[cycle[0][0]].name}"
            problems.append(Problem(join_path("modules", name, "edges"), f"cycle: {loop}"))
    for node in module.nodes:
        if node.block == INPUT_BLOCK and module.edges_into(node.id):
            problems.append(Problem(join_path("modules", name), f"Input '{node.name}' cannot have incoming edges"))
        if node.block == OUTPUT_BLOCK and module.edges_from(node.id):
            problems.append(Problem(join_path("modules", name), f"Output '{node.name}' cannot have outgoing edges"))
    return problems


def _names(ports: tuple[PortSpec, ...]) -> str:
    return ", ".join(p.name for p in ports) or "none"


def module_reference_graph(project: Project, catalog: BlockCatalog | None = None) -> nx.DiGraph:
    """Module name -> names of the modules it uses (members of compositions too, given the catalog)."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(project.modules)
    for name, module in project.modules.items():
        for node in module.nodes:
            for used in referenced_modules(node, catalog):
                if used in project.modules:
                    graph.add_edge(name, used)
    return graph


def _check_recursion(project: Project, catalog: BlockCatalog) -> list[Problem]:
    import networkx as nx

    graph = module_reference_graph(project, catalog)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return []
    loop = " -> ".join(a for a, _ in cycle) + f" -> {cycle[0][0]}"
    return [Problem(join_path("modules", cycle[0][0]), f"recursive module reference: {loop}")]
