"""Live checking: shapes on every edge and error sentences per node, from shape inference.

Runs the torch-free :mod:`modstudio.compile.shapes` over the whole project (a module that is
used by the main module is checked with the shapes its use receives there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modstudio.blocks.catalog import Catalog
from modstudio.compile.shapes import ModuleShapes, ShapeInference
from modstudio.graph.model import Project


@dataclass
class CheckResult:
    """Shapes and problems of one module as shown on the canvas."""

    module: str
    edge_labels: dict[tuple[str, str], str] = field(default_factory=dict)  # (src id, src port) -> "[N, 64]"
    node_errors: dict[str, str] = field(default_factory=dict)  # node id -> sentence
    problems: list[str] = field(default_factory=list)  # every sentence in the project


def _find(shapes: ModuleShapes, module: str) -> ModuleShapes | None:
    if shapes.module == module:
        return shapes
    for child in shapes.children.values():
        found = _find(child, module)
        if found is not None:
            return found
    return None


def check_module(project: Project, catalog: Catalog, module: str) -> CheckResult:
    """Infer shapes for the project and pick out what the canvas of ``module`` shows."""
    inference = ShapeInference(project, catalog)
    main = inference.run()
    shapes = _find(main, module) if module != project.main else main
    if shapes is None:
        shapes = inference.run(module)  # not used by main: checked on its own
    result = CheckResult(module)
    result.problems = [p.message for p in main.errors]
    for node_id, node_shapes in shapes.nodes.items():
        for port, info in node_shapes.outputs.items():
            if info is not None:
                result.edge_labels[(node_id, port)] = str(info)
    for problem in shapes.errors:
        if problem.node_id is not None:
            result.node_errors.setdefault(problem.node_id, problem.message)
        if module != project.main:
            result.problems.append(problem.message)
    return result
