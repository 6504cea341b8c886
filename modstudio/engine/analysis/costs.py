"""Parameters and FLOPs per node and per ModuleDef, with their share of the total (torch-free).

FLOPs come from the inferred shapes (``compile.flops``); parameters need a built network
(pass one, e.g. built on the meta device); without it they are left out (None).
"""

from __future__ import annotations

from typing import Any

from modstudio.blocks.catalog import Catalog, default_catalog
from modstudio.compile.flops import count_flops
from modstudio.engine.errors import EngineError
from modstudio.graph.model import Project

FLOPS_CONVENTION = "FLOPs per sample; a multiply-add counts as 2 FLOPs; MoE: router plus active experts only"


def _params(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def _module_paths(net: Any, name: str) -> list[str]:
    return [
        path for path, m in net.named_modules() if getattr(m, "module_name", None) == name and hasattr(m, "node_names")
    ]


def project_costs(project: Project, catalog: Catalog | None = None, net: Any = None) -> dict[str, Any]:
    """FLOPs (torch-free) and, when ``net`` is given, parameters per node and per module."""
    catalog = catalog or default_catalog()
    try:
        flops = count_flops(project, catalog)
    except ValueError as exc:
        raise EngineError(f"the network cannot be analysed: {exc}", "shape") from None
    params_total = _params(net) if net is not None else None
    nodes = []
    for row in flops.nodes:
        params = None
        if net is not None:
            params = _params(net.get_submodule(row.path))
        nodes.append(
            {
                "path": row.path, "name": row.name, "kind": row.kind, "module": row.module, "depth": row.depth,
                "params": params, "flops": row.flops, "flops_share": flops.share(row.flops), "exact": row.exact,
                "params_share": params / params_total if params is not None and params_total else None,
            }
        )  # fmt: skip
    modules = []
    for name, value in flops.by_module.items():
        params = None
        if net is not None:
            params = sum(_params(net.get_submodule(path)) for path in _module_paths(net, name))
        modules.append(
            {
                "name": name, "flops": value, "flops_share": flops.share(value), "params": params,
                "params_share": params / params_total if params is not None and params_total else None,
            }
        )  # fmt: skip
    return {
        "flops_total": flops.total,
        "params_total": params_total,
        "convention": FLOPS_CONVENTION,
        "nodes": nodes,
        "modules": modules,
    }
