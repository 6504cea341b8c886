"""The project as one standalone, readable ``.py`` that imports only torch (and the plugins
whose own layers it uses, each import with a comment naming the plugin).

The code is the network's plan (``GraphNet.plan``, the same ``Step`` records its forward runs)
printed: a class per ModuleDef whose module params are ``__init__`` arguments
(``BasicBlock(in_channels, channels=64, stride=1)``), with the input sizes its layers need as
arguments too; inner params written as the expressions the document holds (``channels * 4``,
see ``module_pass``); layer constructors with only the arguments that differ from the class's
defaults (see ``calls``). A module whose uses still give different bodies (a rule that branches
on a value) gets a class per body. Submodules are named after the nodes so a ModStudio
``state_dict`` loads with ``strict=True``; the forward (``forward_code``) lets each value go after
its last use as GraphNet's forward does, and writes parameterless layers as plain calls.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from modstudio.blocks.catalog import Catalog, default_catalog
from modstudio.blocks.plugins import Plugin, plugin_of_block
from modstudio.blocks.spec import Layer, Member
from modstudio.compile.graphnet import GraphNet
from modstudio.compile.shapes import ModuleShapes
from modstudio.graph.model import Project

from .calls import call_text, trimmed_torch_call, value_text
from .constructors import RUNTIME_NAMES, Constructors, ExportError, code_value, dotted_name
from .forward_code import TAKEN, forward_lines, inline_expression, local_name, wrapped
from .inert import python_text
from .module_pass import SizeArgument, identifier, size_arguments, symbolic_inputs, symbolic_pass
from .symbolic import names_in, symbol_of

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass
class PythonModule:
    """Generated source and the name of its top-level class."""

    source: str
    top_class: str


@dataclass
class _Class:
    """One class body: the module it writes, its text (nested class names as placeholders) and
    its ``__init__`` arguments that are input sizes (callers pass them first, by position)."""

    module: str
    text: str
    sizes: list[SizeArgument] = field(default_factory=list)
    params: list[str] = field(default_factory=list)  # the module params it takes (those it uses)


def camel(name: str) -> str:
    """``basic_block`` -> ``BasicBlock``; anything but ASCII letters, digits and underscores is dropped,
    so a class name never holds what a name could smuggle in."""
    parts = re.sub(r"[^A-Za-z0-9_]", "_", name.replace("-", "_")).split("_")
    return "".join(part[:1].upper() + part[1:] for part in parts if part)


def _checked(name: str, module: str) -> str:
    """A node name as it goes into code (an attribute, a local variable): it must already be a
    plain identifier (the document's rules ensure it; a name that is not stops the export)."""
    if not _IDENTIFIER.fullmatch(name) or keyword.iskeyword(name):
        raise ExportError(
            f"node {name!r} of module '{module}' cannot be written as code: its name is not an identifier "
            "(letters, digits and underscores, starting with a letter)"
        )
    return name


def _placeholder(variant: int) -> str:
    """Where a nested module's class name goes once every class is named (a NUL byte never
    appears in generated text otherwise: ``python_text`` writes it as an escape)."""
    return f"\0{variant}\0"


class _Writer:
    def __init__(self, project: Project, catalog: Catalog) -> None:
        self.project, self.catalog = project, catalog
        self.variants: dict[tuple[str, str], int] = {}  # (module, body) -> variant id
        self.classes: list[_Class] = []
        self.constructors = Constructors(self._nested)

    def _nested(self, module: nn.Module) -> str | None:
        """A member GraphNet a fallback constructor holds, as its class called with its sizes."""
        if not isinstance(module, GraphNet):
            return None
        variant = self.write(module)
        inputs = _inputs_of(self.project, module.shapes)
        sizes = [code_value(int(inputs[s.input].shape[s.dim])) for s in self.classes[variant].sizes]
        return f"{_placeholder(variant)}({', '.join(sizes)})"

    def write(self, net: GraphNet, top: bool = False) -> int:
        """Write the class of one GraphNet's ModuleDef; returns its variant id."""
        shapes = net.shapes
        module = self.project.modules[net.module_name]
        for node in module.nodes:
            _checked(node.name, net.module_name)
        local = {p: local_name(identifier(p, f"parameter of module '{net.module_name}'")) for p in module.params}
        sizes = [] if top else size_arguments(self.project, shapes, set(local.values()) | TAKEN)
        env = {p: symbol_of(local[p], shapes.bindings.get(p, default)) for p, default in module.params.items()}
        inputs = symbolic_inputs(self.project, shapes, sizes)
        done = symbolic_pass(self.project, self.catalog, shapes, env, inputs)
        by_name = {n.name: n for n in module.nodes}
        used: set[str] = set()
        init: list[str] = []
        for step in net.plan.steps:
            child = net.get_submodule(step.target)
            if inline_expression(child, ["x"] * len(step.arguments)) is not None:
                continue
            node = by_name[step.node]
            call = self._constructor(node, child, shapes, done, used)
            init.append(wrapped(f"        self.{step.target} = ", call))
        taken = [p for p in module.params if local[p] in used]
        arguments = [f"{s.name}: int" for s in sizes if s.name in used]
        arguments += [f"{local[p]}: {type(module.params[p]).__name__} = {code_value(module.params[p])}" for p in taken]
        lines = [
            f"    def __init__({', '.join(['self', *arguments])}) -> None:",
            "        super().__init__()",
            *init,
            "",
            *forward_lines(self.project, net, done),
        ]
        text = "\n".join(lines)
        key = (net.module_name, text)
        if key not in self.variants:
            self.variants[key] = len(self.classes)
            self.classes.append(_Class(net.module_name, text, [s for s in sizes if s.name in used], taken))
        return self.variants[key]

    def _constructor(self, node: Any, child: nn.Module, shapes: ModuleShapes, done: Any, used: set[str]) -> str:
        """The constructor call of one node's submodule."""
        if node.module is not None:
            assert isinstance(child, GraphNet)
            variant = self.write(child)
            received = done.inputs[node.id]
            infos = [received[n.name] for n in self.project.modules[node.module].input_nodes]
            args = [value_text(infos[s.input].shape[s.dim], used) for s in self.classes[variant].sizes]
            defaults = self.project.modules[node.module].params
            for param in self.classes[variant].params:
                value = done.params[node.id].get(param, defaults[param])
                if names_in(value) or value != defaults[param] or type(value) is not type(defaults[param]):
                    args.append(f"{local_name(param)}={value_text(value, used)}")
            return f"{_placeholder(variant)}({', '.join(args)})"
        spec = self.catalog[node.block or ""]
        if spec.layer is None:  # a plugin block that names no Layer: written from the built layer
            text = self.constructors(child)
            return trimmed_torch_call(text) if text.startswith("nn.") else text
        members = _Members(shapes, node.id) if spec.uses_members else None
        try:  # with the class's symbols; a rule that cannot take them gets this use's plain values
            arguments = _arguments(spec.layer, done.params[node.id], done.inputs[node.id], members)
        except Exception:
            arguments = _arguments(spec.layer, shapes.params[node.id], shapes.nodes[node.id].inputs, members)
        arguments = spec.layer.export_arguments(arguments)
        cls = spec.layer.load_exported()
        return call_text(
            self.constructors.class_name(cls, spec), cls, arguments, used, self._member_call(shapes, node.id)
        )

    def _member_call(self, shapes: ModuleShapes, node_id: str):
        def write(value: Any) -> str | None:
            if not isinstance(value, Member):
                return None
            member = shapes.members[(node_id, value.module, tuple(value.inputs))]
            with torch.device("meta"):
                net = GraphNet(self.project, self.catalog, shapes=member)
            return self._nested(net)

        return write

    def class_names(self, top: int) -> dict[int, str]:
        taken = set(self.constructors.used) | RUNTIME_NAMES | TAKEN | set(keyword.kwlist) | {"sys"}
        names: dict[int, str] = {}
        count: dict[str, int] = {}
        for variant, described in enumerate(self.classes):
            module = described.module
            base = (camel(module) or "Module") if variant != top or module != "main" else "Model"
            count[module] = count.get(module, 0) + 1
            if count[module] > 1:
                base += str(count[module])
            if not base[0].isalpha():
                base = "Module" + base
            while base in taken:
                base += "Module"
            taken.add(base)
            names[variant] = base
        return names


class _Members:
    """A composition's members as its Layer's ``arguments`` sees them while code is written."""

    def __init__(self, shapes: ModuleShapes, node_id: str) -> None:
        self.shapes, self.node_id = shapes, node_id

    def infer(self, module: str, inputs: list) -> list:
        return list(self.shapes.members[(self.node_id, module, tuple(inputs))].outputs)

    def build(self, module: str, inputs: list) -> nn.Module:
        raise TypeError("code generation builds no members")


def _arguments(layer: Layer, params: dict, inputs: dict, members: _Members | None) -> dict[str, Any]:
    return layer.arguments(params, inputs, members) if members is not None else layer.arguments(params, inputs)


def _inputs_of(project: Project, shapes: ModuleShapes) -> list:
    return [shapes.nodes[n.id].outputs["out"] for n in project.modules[shapes.module].input_nodes]


def generate_python(project: Project, net: GraphNet, catalog: Catalog | None = None) -> PythonModule:
    """The source of a torch-only module equal to ``net`` (a GraphNet of the project's main)."""
    writer = _Writer(project, catalog or default_catalog())
    top = writer.write(net, top=True)
    names = writer.class_names(top)
    parts: list[str] = []
    docs: dict[str, str] = {}  # placeholder line -> the class docstring, put in after _tidy (which would change it)
    for variant, described in enumerate(writer.classes):
        text = described.text
        for variant_id, name in names.items():
            text = text.replace(_placeholder(variant_id), name)
        docs[f"    {_placeholder(variant)}"] = _class_doc(project, writer, variant, top)
        parts.append("\n".join([f"class {names[variant]}(nn.Module):", f"    {_placeholder(variant)}", "", text]))
    runtime = [writer.constructors.sources()] if writer.constructors.classes else []
    code = "\n\n".join(runtime + parts)  # the docstrings go in last: "math." or "F." below is the code's own
    plugins = writer.constructors.plugin_imports
    imports = ["import math"] if "math." in code else []
    if any(plugin.folder is not None for plugin in plugins.values()):
        imports.append("import sys")
    imports += ["", "import torch"] if imports else ["import torch"]
    if "F." in code:
        imports.append("import torch.nn.functional as F")
    imports.append("from torch import nn")
    imports += plugin_imports(project, plugins)
    top_name = names[top]
    needs = "only torch" if not plugins else "torch and the ModStudio plugin(s) imported below"
    # the file's first two lines are always these: no project text where Python looks for an encoding line
    about = [
        "A PyTorch model exported from ModStudio.",
        "",
        f"Project: {project.name}",
        "",
        f"Needs {needs}. Load weights saved by ModStudio (a run's best.safetensors) with:",
        "",
        f"    model = {top_name}()",
        "    model.load_state_dict(safetensors.torch.load_file(path), strict=True)",
        "",
    ]
    header = [python_text("\n".join(about), "docstring"), "", "from __future__ import annotations", "", *imports]
    body = "\n".join(docs.get(line, line) for line in _tidy(code).split("\n"))
    return PythonModule("\n".join(header) + "\n\n\n" + body, top_name)


def _class_doc(project: Project, writer: _Writer, variant: int, top: int) -> str:
    """A class's docstring: exactly the module's doc (the project's, for the main class)."""
    module = writer.classes[variant].module
    doc = project.modules[module].doc or f"The '{module}' module."
    if variant == top and project.doc:
        doc = project.doc
    return "    " + python_text(doc, "docstring")


def plugin_imports(project: Project, plugins: dict[str, Plugin]) -> list[str]:
    """Comments naming the plugins whose blocks the project uses, and the imports of the plugin
    modules whose own layers the file uses."""
    used: dict[str, tuple[Plugin, list[str]]] = {}
    for block in sorted({n.block for m in project.modules.values() for n in m.nodes if n.block is not None}):
        plugin = plugin_of_block(block)
        if plugin is not None:
            used.setdefault(plugin.name, (plugin, []))[1].append(block)
    if not used and not plugins:
        return []
    lines = ["", "# Blocks from ModStudio plugins; this file imports each plugin whose own layers it uses."]
    imported = {plugin.name for plugin in plugins.values()}
    for name, (plugin, blocks) in used.items():
        note = "" if name in imported else " (built from torch.nn layers only: not imported)"
        lines.append(
            python_text(f"{' and '.join(repr(b) for b in blocks)}: plugin '{name}', {plugin.source}{note}", "comment")
        )
    folders = dict.fromkeys(str(p.folder) for p in plugins.values() if p.folder is not None)
    if folders:
        lines.append("# Plugins from a plugins folder are imported from there (or install them, or use PYTHONPATH):")
        lines += [f"sys.path.append({python_text(folder)})" for folder in folders]
    lines += [f"import {dotted_name(module)}" for module in sorted(plugins, key=str.lower)]
    return lines


def _tidy(source: str) -> str:
    """Two blank lines between top-level definitions, one inside classes, none doubled."""
    out: list[str] = []
    blank = 0
    for line in source.splitlines():
        if not line.strip():
            blank += 1
            continue
        if out:
            top_level = not line.startswith((" ", ")", "]"))
            out.extend([""] * (2 if top_level and blank else min(blank, 1)))
        out.append(line)
        blank = 0
    return "\n".join(out) + "\n"
