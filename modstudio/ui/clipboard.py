"""Copy, paste and duplicate: selected nodes (with the edges among them) as JSON text."""

from __future__ import annotations

import json
from typing import Any

from modstudio.graph.document import Batch, Document, Operation
from modstudio.graph.model import Edge, new_id
from modstudio.graph.ops import AddNode, Connect

MIME_NODES = "application/x-modstudio-nodes"


def copy_nodes(doc: Document, module: str, node_ids: list[str]) -> str:
    """The selected nodes of ``module``, their positions and the edges among them, as JSON."""
    mod = doc.module(module)
    chosen = [n for n in mod.nodes if n.id in set(node_ids)]
    ids = {n.id for n in chosen}
    positions = doc.project.ui.positions.get(module, {})
    data: dict[str, Any] = {
        "nodes": [
            {
                "id": n.id,
                "name": n.name,
                "block": n.block,
                "module": n.module,
                "params": n.params,
                "position": positions.get(n.id),
            }
            for n in chosen
        ],
        "edges": [[e.src, e.src_port, e.dst, e.dst_port] for e in mod.edges if e.src in ids and e.dst in ids],
    }
    return json.dumps(data)


def paste_operation(doc: Document, module: str, text: str, offset: float = 40.0) -> tuple[Operation, list[str]] | None:
    """One undoable step adding copies of the nodes in ``text``; None when it holds no nodes."""
    try:
        data = json.loads(text)
        nodes = data["nodes"]
        edges = data.get("edges", [])
    except (ValueError, KeyError, TypeError):
        return None
    if not nodes:
        return None
    fresh: dict[str, str] = {}
    ops: list[Operation] = []
    for n in nodes:
        fresh[n["id"]] = new_id()
        pos = n.get("position")
        position = (pos[0] + offset, pos[1] + offset) if pos else None
        ops.append(
            AddNode(
                module,
                n.get("block"),
                n.get("module"),
                n.get("name"),
                dict(n.get("params") or {}),
                position,
                fresh[n["id"]],
            )
        )
    for src, sp, dst, dp in edges:
        if src in fresh and dst in fresh:
            ops.append(Connect(module, Edge(fresh[src], sp, fresh[dst], dp)))
    count = len(nodes)
    return Batch(ops, f"Paste {count} node{'s' if count != 1 else ''}"), list(fresh.values())
