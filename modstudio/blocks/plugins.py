"""Plugins: Python modules that add blocks (and project templates) to ModStudio.

Writing a plugin
================
A plugin is a Python module — one ``.py`` file or a package folder — that defines
``BLOCKS``, a sequence of :class:`BlockSpec`, the way ModStudio's own block modules
(``modstudio/blocks/dense.py``...) define ``SPECS``. Everything a plugin needs is importable
from this module::

    # mish.py, in a plugins folder
    from modstudio.blocks.plugins import BlockSpec, require_float, single

    def _shape(params, inputs):
        x = single(inputs)  # the TensorInfo on the input port: per-sample shape and dtype
        require_float(x)
        return (x,)  # one TensorInfo per output port

    def _build(params, inputs):
        from torch import nn  # import torch here, not at the top: loading plugins stays fast

        return nn.Mish()

    BLOCKS = (
        BlockSpec(id="mish", title="Mish", category="Activation",
                  doc="x * tanh(softplus(x)): a smooth, self-gated activation.",
                  shape=_shape, build=_build),
    )

Optionally ``TEMPLATES``: paths of ``.msproj`` project files, relative to the plugin, that
the plugin ships as starting points (listed in Help > Plugins…, where a double-click opens one).

The shape rule receives the evaluated params and a TensorInfo per input port and returns a
TensorInfo per output port, or raises ShapeError with the rest of the sentence "<Block>
'<name>' ..." ("expects ... but receives ..."). It must not import torch. ``build`` gets the
same arguments and returns an ``nn.Module``; input sizes come from the inputs, never params.

Where plugins are found, in this order
======================================
1. the ``plugins/`` folder of a source checkout (beside the ``modstudio`` package) or of a
   frozen app, then the folders listed in the ``MODSTUDIO_PLUGIN_PATH`` environment variable;
2. the user plugins folder, ``platformdirs.user_data_dir("ModStudio")/plugins``;
3. installed packages that declare a ``modstudio.plugins`` entry point naming their module,
   e.g. in pyproject.toml ``[project.entry-points."modstudio.plugins"] maxout = "mypkg.maxout"``.

A file or folder plugin is imported under its own name (``maxout.py`` -> ``maxout``); names
starting with ``_`` or ``.`` are skipped. Plugins load once per process, also in the
spawned training worker, which finds them in the same places.

What is checked
===============
A plugin that does not import (syntax error, exception), whose BLOCKS are not valid
BlockSpecs, or that reuses a block id or alias of a built-in block or of a plugin loaded
before it, is not loaded at all: it becomes a :class:`PluginProblem` naming its file (or
entry point) and the reason, and every other plugin still loads. So is a plugin whose import
takes longer than ``IMPORT_TIME_LIMIT_S`` (10 s; the ``MODSTUDIO_PLUGIN_TIME_LIMIT`` environment
variable sets another number of seconds): "import took over 10 s; skipped". Keep imports quick.

Plugins load when a command needs blocks, after its arguments are read: ``modstudio --version``,
``--help`` and a command's ``-h`` never import a plugin.

Export to Python
================
A block with ``layer=Layer("maxout.layer.Maxout", arguments)`` (the class's dotted path and a
function of params and inputs giving its constructor keywords) is built and exported like a
built-in one: ``maxout.layer.Maxout(64, 32, pieces=3)``, the file importing the plugin's
module. A block with only ``build`` is exported from what it returns: torch.nn layers as they
are, a layer class of the plugin's own as ``module.ClassName(<its extra_repr()>)`` (give it an
``extra_repr`` that prints its constructor arguments as Python; export checks it by
rebuilding). Keep the class in a module of the plugin that imports torch (a package plugin's
submodule), so that the plugin itself loads without torch.

FLOPs
=====
``flops=rule`` with ``rule(params, inputs, outputs) -> int`` (FLOPs per sample; a multiply-add
counts 2; ``outputs`` by port name) gives the block's cost in ModStudio's FLOP counts. Without one the block is measured on its built layer with torch's
``FlopCounterMode`` (matrix products and convolutions only) and shown as approximate.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import TextIO

from modstudio.graph.schema import ParamSpec, PortSpec

from .catalog import Catalog
from .importing import LayerImporter, Mapped, MemberModules, NoBlock
from .plugins_loading import (
    ENTRY_POINT_GROUP,
    IMPORT_TIME_LIMIT_S,
    PATH_VARIABLE,
    TIME_LIMIT_VARIABLE,
    Plugin,
    PluginProblem,
    PluginReport,
    load_all,
    plugin_folders,
)
from .spec import BlockSpec, Inputs, Layer, Member, MemberCosts, Params, many, require_float, require_rank, single
from .tensors import ShapeError, TensorInfo

__all__ = [
    "ENTRY_POINT_GROUP",
    "IMPORT_TIME_LIMIT_S",
    "PATH_VARIABLE",
    "TIME_LIMIT_VARIABLE",
    "BlockSpec",
    "Inputs",
    "Layer",
    "LayerImporter",
    "Mapped",
    "Member",
    "MemberCosts",
    "MemberModules",
    "NoBlock",
    "ParamSpec",
    "Params",
    "Plugin",
    "PluginProblem",
    "PluginReport",
    "PortSpec",
    "ShapeError",
    "TensorInfo",
    "load_plugins",
    "many",
    "plugin_catalog",
    "plugin_folders",
    "plugin_of_block",
    "plugin_of_module",
    "print_plugin_problems",
    "require_float",
    "require_rank",
    "single",
]

_loading = False


@lru_cache(maxsize=1)
def load_plugins() -> PluginReport:
    """Every plugin from every place, loaded once per process: the catalogue with the built-in
    blocks and the plugins' blocks, the plugins that loaded, and the problems of those that did not."""
    global _loading
    if _loading:
        raise RuntimeError("a plugin cannot use the block catalogue while plugins are loading")
    _loading = True
    try:
        return load_all()
    finally:
        _loading = False


def plugin_catalog() -> Catalog:
    """The built-in blocks and every loaded plugin's blocks (what ``default_catalog()`` gives)."""
    return load_plugins().catalog


def plugin_of_block(block_id: str) -> Plugin | None:
    """The loaded plugin that provides ``block_id`` (an id or alias); None for built-ins."""
    for plugin in load_plugins().plugins:
        if any(block_id in (spec.id, *spec.aliases) for spec in plugin.blocks):
            return plugin
    return None


def plugin_of_module(module_name: str) -> Plugin | None:
    """The loaded plugin that a Python module (``maxout.layer``, say) belongs to."""
    for plugin in load_plugins().plugins:
        if module_name == plugin.module or module_name.startswith(plugin.module + "."):
            return plugin
    return None


def print_plugin_problems(stream: TextIO | None = None) -> int:
    """Write ``plugin problem: <file>: <reason>`` for each plugin that did not load; returns how many."""
    problems = load_plugins().problems
    out = stream if stream is not None else sys.stderr
    for problem in problems:
        print(f"plugin problem: {problem}", file=out)
    return len(problems)
