"""Rules for the names people give to nodes and modules.

Node names become attribute names of the compiled ``nn.Module`` (and of exported code),
so they must be Python identifiers that do not shadow an ``nn.Module`` attribute.
Module names become class names in exported code.
"""

from __future__ import annotations

import keyword
import re

from .numbers import shown

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # whole name: fullmatch ("$" lets "fc1\n" through)

# Public attributes of torch.nn.Module (checked against torch in the tests), plus the
# GraphNet attributes a node name must not overwrite.
RESERVED_NODE_NAMES = frozenset(
    [
        "T_destination",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
        "module_name",  # GraphNet's own attributes
        "node_names",
        "output_names",
        "plan",
        "shapes",
        "chain",
    ]
)


def node_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a node, or None."""
    if not _IDENTIFIER.fullmatch(name):
        return f"{shown(name)} is not a valid name: use letters, digits and underscores, starting with a letter"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"'{name}' is a Python keyword"
    if name in RESERVED_NODE_NAMES:
        return f"'{name}' is reserved (it is an attribute of every torch module)"
    return None


def module_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a ModuleDef, or None."""
    if not _IDENTIFIER.fullmatch(name):
        return f"{shown(name)} is not a valid module name: use letters, digits and underscores, starting with a letter"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"'{name}' is a Python keyword"
    return None


def unique_name(base: str, taken: set[str] | frozenset[str]) -> str:
    """``base`` if free, else ``base_2``, ``base_3``, ... (also avoiding reserved names)."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", base) or "node"
    if not base[0].isalpha():
        base = "n" + base
    candidate, counter = base, 1
    while candidate in taken or node_name_problem(candidate) is not None:
        counter += 1
        candidate = f"{base}_{counter}"
    return candidate
