"""Whether two ports may be wired, answered before the drop (for live feedback while dragging).

The checks and their sentences are Connect's own (:func:`modstudio.graph.wiring.connection_problem`);
this keeps, for one drag, the module's :class:`~modstudio.graph.wiring.Reach`, so the cycle check
builds its graph once per drag, not once per port.
"""

from __future__ import annotations

from modstudio.graph.model import Edge, ModuleDef, Project
from modstudio.graph.schema import BlockCatalog
from modstudio.graph.wiring import Reach, connection_problem


class WiringCheck:
    """Answers "can this output feed that input?" for one module during one drag."""

    def __init__(self, project: Project, catalog: BlockCatalog, module: ModuleDef) -> None:
        self.project = project
        self.catalog = catalog
        self.module = module
        self.module_name = next(name for name, m in project.modules.items() if m is module)
        self.reach = Reach(module)

    def problem(self, edge: Edge) -> str | None:
        """None when ``edge`` can be added, else why not: the sentence a refused Connect gives."""
        return connection_problem(self.project, self.catalog, self.module_name, edge, self.reach)
