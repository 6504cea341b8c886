"""The doctor's fixes as edits of the project: each one undoable step (a graph ``Operation``).

A fix names the conditional layer by its probe path (``moe``, ``block.gate``: the submodule path
in the network) and says which of the layer's parameters to set. :func:`layer_node` finds the node
a path stands for (a node inside a module used by several nodes is one node for all of them: the
edit changes every use, as editing it on the canvas does). Re-initialising a dead expert also
writes weights; that part needs torch and lives in :mod:`modstudio.engine.doctor.reinit`, but its
edit of the project (``training.init_weights``) is made here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modstudio.graph.document import Batch, Operation
from modstudio.graph.model import Node, Project
from modstudio.graph.ops import SetParam
from modstudio.graph.references import MEMBER_KINDS
from modstudio.graph.schema import BlockCatalog
from modstudio.graph.section_ops import SetSectionField


@dataclass(frozen=True)
class Fix:
    """One suggested edit. ``params``: the layer's parameters to set (name -> new value);
    ``expert``/``source``: for ``reinit_expert``, the dead expert and the live one it copies."""

    kind: str  # raise_load_balance, add_z_loss, raise_capacity, switch_gate, add_noise, lower_aux, reinit_expert
    layer: str
    label: str  # "Raise the load-balance weight of 'moe' from 0 to 0.01"
    params: dict[str, Any] = field(default_factory=dict)
    expert: int = -1
    source: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "layer": self.layer,
            "label": self.label,
            "params": dict(self.params),
            **({"expert": self.expert, "source": self.source} if self.kind == "reinit_expert" else {}),
        }


class FixError(ValueError):
    """A fix that does not fit the project (its layer is gone, a parameter unknown), in a sentence."""


@dataclass(frozen=True)
class LayerNode:
    module: str  # the ModuleDef that holds the node
    node: Node
    params: dict[str, Any]  # the node's parameters with the block's defaults filled in


def layer_node(project: Project, catalog: BlockCatalog, path: str) -> LayerNode:
    """The node a probe path stands for: ``a.b`` is node ``b`` inside the module node ``a``; a member
    list is crossed as ``experts.<i>`` (a repeated single expert is the same module for every i)."""
    parts = path.split(".") if path else []
    module = project.main
    node: Node | None = None
    i = 0
    while i < len(parts):
        found = next((n for n in project.modules[module].nodes if n.name == parts[i]), None)
        if found is None:
            raise FixError(f"the network has no layer '{path}' (no node '{parts[i]}' in module '{module}')")
        node, i = found, i + 1
        if i == len(parts):
            break
        if found.module is not None:
            module = found.module
            continue
        spec = catalog.lookup(found.block or "")
        member = next((p for p in spec.params if p.name == parts[i] and p.kind in MEMBER_KINDS), None) if spec else None
        value = found.params.get(parts[i]) if member else None
        if member is None or value is None:
            raise FixError(f"the network has no layer '{path}' ('{found.name}' has no member '{parts[i]}')")
        names = value if isinstance(value, list) else [value]
        index = int(parts[i + 1]) if i + 1 < len(parts) and parts[i + 1].isdigit() else 0
        module = names[min(index, len(names) - 1)]
        i += 2 if i + 1 < len(parts) and parts[i + 1].isdigit() else 1
    if node is None:
        raise FixError("the network itself is not a conditional layer")
    spec = catalog.lookup(node.block or "")
    if spec is None:
        raise FixError(f"'{path}' is not a block of the catalogue")
    params = {p.name: p.default for p in spec.params}
    params.update(node.params)
    return LayerNode(module, node, params)


def fix_operation(project: Project, catalog: BlockCatalog, fix: Fix, weights_file: str | None = None) -> Operation:
    """The one undoable edit for ``fix``. ``reinit_expert`` needs ``weights_file``: the starting
    weights written by :func:`modstudio.engine.doctor.reinit.write_reinit_weights` (relative to the
    project file); its edit sets ``training.init_weights`` and its undo puts the old setting back."""
    if fix.kind == "reinit_expert":
        if not weights_file:
            raise FixError("re-initialising an expert needs its weights file written first")
        return Batch([SetSectionField("training", "init_weights", weights_file)], text=fix.label)
    found = layer_node(project, catalog, fix.layer)
    spec = catalog.lookup(found.node.block or "")
    known = {p.name for p in spec.params} if spec else set()
    unknown = sorted(set(fix.params) - known)
    if unknown:
        raise FixError(f"'{fix.layer}' has no parameter '{unknown[0]}'")
    ops: list[Operation] = [SetParam(found.module, found.node.id, name, value) for name, value in fix.params.items()]
    return Batch(ops, text=fix.label)
