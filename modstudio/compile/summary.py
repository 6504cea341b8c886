"""The module tree of a project with shapes and parameter counts (what `validate` prints)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from modstudio.blocks.catalog import Catalog, default_catalog
from modstudio.graph.model import Project

from .graphnet import BlockBuildError, CompileError, GraphNet, build_on_meta
from .memory import MemoryEstimate, estimate_memory, format_memory
from .shapes import ModuleShapes, ShapeInference
from .weights import freeze_nodes


@dataclass(frozen=True)
class SummaryRow:
    depth: int
    name: str
    kind: str
    inputs: str
    outputs: str
    params: int | None  # None for Input/Output nodes


@dataclass(frozen=True)
class Summary:
    rows: list[SummaryRow]
    total: int
    trainable: int
    memory: MemoryEstimate | None
    not_counted: str = ""  # why there are no counts: a block that cannot be built on the meta device


def summarize(project: Project, catalog: Catalog | None = None) -> Summary:
    """Raise CompileError when shapes do not fit; else one row per node, nested modules indented."""
    catalog = catalog or default_catalog()
    shapes = ShapeInference(project, catalog).run()
    if shapes.errors:
        raise CompileError(shapes.errors)
    try:
        net = build_on_meta(project, catalog)
    except BlockBuildError as exc:  # a plugin's build that needs real tensors: the shapes, without counts
        rows = []
        _rows(project, catalog, shapes, None, 0, rows)
        return Summary(rows, 0, 0, None, not_counted=str(exc))
    freeze_nodes(net, project, strict=False)  # frozen (grafted) nodes: counted apart, as training leaves them alone
    rows: list[SummaryRow] = []
    _rows(project, catalog, shapes, net, 0, rows)
    total = sum(p.numel() for p in net.parameters())
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return Summary(rows, total, trainable, estimate_memory(project, catalog, shapes, net))


def _rows(
    project: Project, catalog: Catalog, shapes: ModuleShapes, net: GraphNet | None, depth: int, rows: list[SummaryRow]
) -> None:
    module = project.modules[shapes.module]
    by_id = {n.id: n for n in module.nodes}
    for node_id in shapes.order:
        node = by_id[node_id]
        info = shapes.nodes[node_id]
        ins = ", ".join(str(v) if not isinstance(v, list) else " + ".join(map(str, v)) for v in info.inputs.values())
        outs = ", ".join(str(v) for v in info.outputs.values())
        kind = node.module if node.module is not None else catalog[node.block or ""].title
        child: nn.Module | None = getattr(net, node.name, None) if net and node_id in net.node_names else None
        params = None if child is None else sum(p.numel() for p in child.parameters())
        rows.append(SummaryRow(depth, node.name, kind, ins, outs, params))
        if node.module is not None and (net is None or isinstance(child, GraphNet)):
            _rows(
                project,
                catalog,
                shapes.children[node_id],
                child if isinstance(child, GraphNet) else None,
                depth + 1,
                rows,
            )
        elif child is not None and not isinstance(child, GraphNet):
            _member_rows(shapes, node_id, child, depth + 1, rows)


def _member_rows(shapes: ModuleShapes, node_id: str, block: nn.Module, depth: int, rows: list[SummaryRow]) -> None:
    """One row per member module of a composition (experts, branches...), with its shapes."""
    for path, member in block.named_modules():
        if not isinstance(member, GraphNet) or any(path.startswith(f"{p}.") for p in _seen_paths(rows, depth)):
            continue
        found = [(key[2], v) for key, v in shapes.members.items() if key[:2] == (node_id, member.module_name)]
        ins = outs = ""
        if found:
            inputs, inner = found[0]
            ins = ", ".join(map(str, inputs))
            outs = ", ".join(str(v) for v in inner.outputs if v is not None)
        rows.append(SummaryRow(depth, path, member.module_name, ins, outs, sum(p.numel() for p in member.parameters())))


def _seen_paths(rows: list[SummaryRow], depth: int) -> list[str]:
    """Member paths already listed at this depth (their own nested GraphNets are not listed again)."""
    out = []
    for row in reversed(rows):
        if row.depth < depth:
            break
        if row.depth == depth:
            out.append(row.name)
    return out


def format_summary(summary: Summary) -> str:
    header = ("node", "type", "input", "output", "params")
    table = [header] + [
        ("  " * r.depth + r.name, r.kind, r.inputs, r.outputs, "" if r.params is None else f"{r.params:,}")
        for r in summary.rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    count_width = max(12, *(len(row[4]) for row in table))
    lines = []
    for row in table:
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        lines.append(("  ".join(cells) + "  " + row[4].rjust(count_width)).rstrip())
    rule = "-" * max(map(len, lines))
    lines.insert(1, rule)
    lines.append(rule)
    if summary.memory is None:
        lines.append(f"parameters: not counted: {summary.not_counted}")
        return "\n".join(lines)
    frozen = summary.total - summary.trainable
    tail = f" ({frozen:,} frozen)" if frozen else ""
    lines.append(f"total parameters: {summary.total:,}{tail}")
    lines.append(format_memory(summary.memory))
    return "\n".join(lines)
