"""Reusing ModuleDefs across projects: copy a module and every module it uses."""

from __future__ import annotations

import copy

from .model import ModuleDef, Project
from .schema import BlockCatalog
from .validate import module_reference_graph


def dependencies(project: Project, name: str, catalog: BlockCatalog | None = None) -> list[str]:
    """``name`` and every module it uses, directly or not, dependencies first."""
    import networkx as nx

    graph = module_reference_graph(project, catalog)
    needed = {name} | nx.descendants(graph, name)
    return [m for m in reversed(list(nx.topological_sort(graph))) if m in needed]


def copy_modules(
    source: Project, names: list[str], into: dict[str, ModuleDef], catalog: BlockCatalog | None = None
) -> list[str]:
    """Copy modules with their dependencies into ``into``; an existing, identical module is
    kept; a different module of the same name is an error. Returns the names copied."""
    copied: list[str] = []
    for name in names:
        for dep in dependencies(source, name, catalog):
            module = source.modules[dep]
            if dep in into:
                if into[dep] != module:
                    raise ValueError(f"a different module named '{dep}' already exists")
                continue
            into[dep] = copy.deepcopy(module)
            copied.append(dep)
    return copied
