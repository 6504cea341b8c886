"""Writing ModuleDefs in code: used for templates and library modules.

Ids are deterministic (uuid5 of the module and node names) so generated files are stable.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from .model import Edge, ModuleDef, Node, Project
from .names import node_name_problem
from .schema import INPUT_BLOCK, OUTPUT_BLOCK, BlockCatalog

_NAMESPACE = uuid.UUID("6f1d0c3e-8a3b-4f6e-9c61-6d6f64737464")


@dataclass(frozen=True)
class Ref:
    """An output port of a node, to be wired into another node."""

    node_id: str
    port: str = "out"

    def __getitem__(self, port: str) -> Ref:
        return Ref(self.node_id, port)


class ModuleBuilder:
    """Adds nodes and wires them in one call each: ``h = b.add("linear", "fc1", x, out_features=64)``."""

    def __init__(self, project: ProjectBuilder, name: str, doc: str = "", **params: int | float) -> None:
        self.project = project
        self.name = name
        self.module = ModuleDef(doc=doc, params=dict(params))

    def _node(self, name: str, block: str | None, module: str | None, params: dict[str, Any]) -> Ref:
        node_id = str(uuid.uuid5(_NAMESPACE, f"{self.project.namespace}/{self.name}/{name}"))
        why = node_name_problem(name)
        if why:
            raise ValueError(why)
        if self.module.node_named(name) is not None:
            raise ValueError(f"duplicate node name '{name}' in module '{self.name}'")
        self.module.nodes.append(Node(id=node_id, name=name, block=block, module=module, params=params))
        return Ref(node_id)

    def _wire(self, target: Ref, port: str, sources: tuple[Ref, ...]) -> None:
        for source in sources:
            self.module.edges.append(Edge(source.node_id, source.port, target.node_id, port))

    def input(self, name: str = "x", shape: list[int] | None = None, dtype: str = "float") -> Ref:
        params: dict[str, Any] = {} if shape is None else {"shape": list(shape)}
        if dtype != "float":
            params["dtype"] = dtype
        return self._node(name, INPUT_BLOCK, None, params)

    def output(self, name: str, source: Ref, task: str | None = None) -> Ref:
        ref = self._node(name, OUTPUT_BLOCK, None, {} if task is None else {"task": task})
        self._wire(ref, "in", (source,))
        return ref

    def add(self, block: str, name: str, *sources: Ref, port: str = "in", **params: Any) -> Ref:
        """A block node fed by ``sources`` (several sources feed a multi port, e.g. Add)."""
        ref = self._node(name, block, None, params)
        self._wire(ref, port, sources)
        return ref

    def connect(self, source: Ref, target: Ref, port: str) -> None:
        self._wire(target, port, (source,))

    def use(self, module: str, name: str, *sources: Ref, **params: Any) -> Ref:
        """A node referring to another module; ``sources`` feed its inputs in order.

        Returns its output port when it has one; else index the result by output name."""
        target = self.project.modules[module]
        ref = self._node(name, None, module, params)
        for source, inp in zip(sources, target.input_nodes, strict=True):
            self._wire(ref, inp.name, (source,))
        outputs = target.output_nodes
        return Ref(ref.node_id, outputs[0].name) if len(outputs) == 1 else ref


class ProjectBuilder:
    def __init__(self, namespace: str, catalog: BlockCatalog | None = None) -> None:
        self.namespace = namespace
        self.catalog = catalog  # needed to follow members of compositions when including modules
        self.modules: dict[str, ModuleDef] = {}

    def module(self, name: str, doc: str = "", **params: int | float) -> ModuleBuilder:
        builder = ModuleBuilder(self, name, doc, **params)
        self.modules[name] = builder.module
        return builder

    def include(self, library: Project, *names: str) -> None:
        """Copy modules (and what they use) from a library project."""
        from .library import copy_modules

        copy_modules(library, list(names), self.modules, self.catalog)

    def project(self, name: str, main: str = "main", doc: str = "", **sections: Any) -> Project:
        ordered = {main: self.modules[main], **{k: v for k, v in self.modules.items() if k != main}}
        return Project(modules=ordered, main=main, name=name, doc=doc, **sections)
