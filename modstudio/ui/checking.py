"""Live checking: shapes on every edge and error sentences per node, from shape inference.

Runs the torch-free :mod:`modstudio.compile.shapes` over the whole project. A module other than
the main one shows the shapes of its first use (:mod:`modstudio.compile.module_use`) and says so;
a module used nowhere shows no shapes rather than false errors about its unfed inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modstudio.blocks.catalog import Catalog
from modstudio.compile.module_use import module_view
from modstudio.graph.model import Project


@dataclass
class CheckResult:
    """Shapes and problems of one module as shown on the canvas."""

    module: str
    edge_labels: dict[tuple[str, str], str] = field(default_factory=dict)  # (src id, src port) -> "[N, 64]"
    node_errors: dict[str, str] = field(default_factory=dict)  # node id -> sentence
    problems: list[str] = field(default_factory=list)  # every sentence in the project
    note: str = ""  # where the shapes come from: "shapes as used by 'moe' in main"; empty for the main module
    shapes_known: bool = True  # False: the module is used nowhere, or a problem before its use hides them
    countable: bool = True  # the shown module's parameters can be counted (its shapes are known and fit)


def check_module(project: Project, catalog: Catalog, module: str) -> CheckResult:
    """Infer shapes for the project and pick out what the canvas of ``module`` shows."""
    view = module_view(project, catalog, module)
    result = CheckResult(module, note=view.note)
    result.problems = [p.message for p in view.main.errors]
    shapes = view.shapes
    result.shapes_known = shapes is not None
    result.countable = shapes is not None and shapes.ok
    if shapes is None:
        return result
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
