"""Which modules a node uses: the module it refers to, and the members named in its params.

Composition blocks (ensembles, mixtures of experts, trees...) take ModuleDefs as members
through parameters of kind ``module`` (one name) or ``modules`` (a list of names). Every
place that follows module references (validation, recursion checks, renaming, removal,
copying between projects) goes through these functions.
"""

from __future__ import annotations

from typing import Any

from .model import Node
from .schema import BlockCatalog

MEMBER_KINDS = ("module", "modules")


def member_params(node: Node, catalog: BlockCatalog | None) -> list[str]:
    """Names of the node's params that name member modules."""
    return list(_member_defaults(node, catalog))


def _member_defaults(node: Node, catalog: BlockCatalog | None) -> dict[str, Any]:
    """The node's member params, each with its spec's default."""
    if node.block is None or catalog is None:
        return {}
    spec = catalog.lookup(node.block)
    if spec is None:
        return {}
    return {p.name: p.default for p in spec.params if p.kind in MEMBER_KINDS}


def members_named(node: Node, catalog: BlockCatalog | None) -> dict[str, Any]:
    """Each member param with the value the node uses: its own, or the default when the file leaves it out
    (a Mixture of Experts left at its defaults uses the module 'Expert')."""
    return {name: node.params.get(name, default) for name, default in _member_defaults(node, catalog).items()}


def referenced_modules(node: Node, catalog: BlockCatalog | None) -> list[str]:
    """Every module name the node uses, in order, without repeats; defaults of unset member params count."""
    names: list[str] = [node.module] if node.module is not None else []
    for value in members_named(node, catalog).values():
        values = value if isinstance(value, list) else [value]
        names += [v for v in values if isinstance(v, str)]
    return list(dict.fromkeys(names))


def rename_references(node: Node, catalog: BlockCatalog | None, old: str, new: str) -> bool:
    """Point the node's uses of module ``old`` at ``new``; True if anything changed."""
    changed = False
    if node.module == old:
        node.module, changed = new, True
    for pname, value in members_named(node, catalog).items():
        if value == old:
            node.params[pname], changed = new, True
        elif isinstance(value, list) and old in value:
            node.params[pname], changed = [new if v == old else v for v in value], True
    return changed
