"""The ports of a node: from its block type, or from the Input/Output nodes of the module it uses."""

from __future__ import annotations

from .model import Node, Project
from .schema import BlockCatalog, PortSpec


def node_ports(
    project: Project, catalog: BlockCatalog, node: Node
) -> tuple[tuple[PortSpec, ...], tuple[PortSpec, ...]] | None:
    """(inputs, outputs) of ``node``; None when its block type or module is unknown."""
    if node.module is not None:
        module = project.modules.get(node.module)
        if module is None:
            return None
        inputs = tuple(PortSpec(n.name) for n in module.input_nodes)
        outputs = tuple(PortSpec(n.name) for n in module.output_nodes)
        return inputs, outputs
    spec = catalog.lookup(node.block or "")
    if spec is None:
        return None
    return spec.inputs, spec.outputs


def port_named(ports: tuple[PortSpec, ...], name: str) -> PortSpec | None:
    for port in ports:
        if port.name == name:
            return port
    return None
