"""The shapes a module's canvas shows: those of its first use (torch-free).

A module has no shapes of its own: its Input nodes take whatever feeds it. Its shapes are those
of its first use, found by walking from the main module node by node (in the stable topological
order of shape inference, ties by position), depth first: the first node that refers to it, or
names it as a member (the experts of a Mixture of Experts, an ensemble's members...).
"""

from __future__ import annotations

from dataclasses import dataclass

from modstudio.blocks.catalog import Catalog
from modstudio.graph.model import Node, Project
from modstudio.graph.references import referenced_modules

from .shapes import ModuleShapes, ShapeInference, topological_order


@dataclass(frozen=True)
class ModuleUse:
    """A node that uses a module: its name, the module that holds it, and the shapes it gives the module
    (None when a problem before that node leaves them unknown)."""

    module: str
    node: str
    parent: str
    shapes: ModuleShapes | None

    def __str__(self) -> str:
        return f"'{self.node}' in {self.parent}"


@dataclass(frozen=True)
class ModuleView:
    """What the canvas of one module shows: its shapes (None: unknown) and a line that says where they come
    from ("shapes as used by 'moe' in main"; empty for the main module)."""

    module: str
    shapes: ModuleShapes | None
    note: str
    main: ModuleShapes  # the whole project's inference, for its problems
    use: ModuleUse | None = None


def first_use(project: Project, catalog: Catalog, main: ModuleShapes, module: str) -> ModuleUse | None:
    """The first place the module is used, walking from the main module; None when it is used nowhere."""
    return _search(project, catalog, project.main, main, module, set())


def _search(
    project: Project, catalog: Catalog, name: str, shapes: ModuleShapes | None, target: str, seen: set[str]
) -> ModuleUse | None:
    module = project.modules.get(name)
    if module is None or name in seen:
        return None
    seen.add(name)
    by_id = {node.id: node for node in module.nodes}
    for node_id in shapes.order if shapes is not None else _order(project, name):
        node = by_id[node_id]
        for used in referenced_modules(node, catalog):
            there = _shapes_at(shapes, node, used)
            if used == target:
                return ModuleUse(target, node.name, name, there)
            found = _search(project, catalog, used, there, target, seen)
            if found is not None:
                return found
    return None


def _order(project: Project, name: str) -> list[str]:
    module = project.modules[name]
    try:
        return topological_order(module)
    except Exception:  # a cycle (the document's validation names it): the node list's order will do
        return [node.id for node in module.nodes]


def _shapes_at(shapes: ModuleShapes | None, node: Node, used: str) -> ModuleShapes | None:
    if shapes is None:
        return None
    if node.module == used:
        return shapes.children.get(node.id)
    for (node_id, member, _inputs), child in shapes.members.items():
        if node_id == node.id and member == used:
            return child  # the first inputs it was inferred with (a member inferred twice agrees on them)
    return None


def module_view(project: Project, catalog: Catalog, module: str, inference: ShapeInference | None = None) -> ModuleView:
    """The shapes of ``module`` as its canvas shows them, and where they come from."""
    inference = inference or ShapeInference(project, catalog)
    main = inference.run()
    if module == project.main:
        return ModuleView(module, main, "", main)
    use = first_use(project, catalog, main, module)
    if use is not None:
        if use.shapes is None:
            note = f"shapes unknown: its first use, {use}, gets none until the problems before it are fixed"
        else:
            note = f"shapes as used by {use}"
        return ModuleView(module, use.shapes, note, main, use)
    target = project.modules[module]
    if all(node.params.get("shape") is not None for node in target.input_nodes):
        return ModuleView(module, inference.run(module), "not used yet: shapes from its own Input nodes", main)
    return ModuleView(module, None, "not used yet: shapes appear once it is used", main)
