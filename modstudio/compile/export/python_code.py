"""The project as one standalone, readable ``.py`` that imports only torch (and the plugins
whose own layers it uses, each import with a comment naming the plugin).

A class per ModuleDef (one per distinct parameterisation: a module used with other parameter
values gets its own class, named after them, e.g. ``BasicBlockChannels128``), submodules named
after the nodes so a ModStudio ``state_dict`` loads with ``strict=True``, and a forward in
topological order whose local variables are the node names, as torch.fx writes it.
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass

from torch import nn

from modstudio.blocks.catalog import Catalog, default_catalog
from modstudio.blocks.layers.basic import Add, Concat, Multiply, Permute, Reshape
from modstudio.blocks.plugins import Plugin, plugin_of_block
from modstudio.compile.graphnet import _NONE_SLOT, GraphNet
from modstudio.compile.shapes import ModuleShapes, ShapeInference
from modstudio.graph.model import Project

from .constructors import RUNTIME_NAMES, Constructors, ExportError, NodeLayer, code_value, dotted_name
from .inert import python_text

# local names that would hide the module, torch or a builtin get a trailing underscore
_TAKEN = frozenset({"self", "torch", "nn", "F", "math", *dir(builtins)})
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass
class PythonModule:
    """Generated source and the name of its top-level class."""

    source: str
    top_class: str


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


def _var(name: str) -> str:
    return f"{name}_" if name in _TAKEN else name


def _placeholder(variant: int) -> str:
    """Where a nested module's class name goes once every class is named (a NUL byte never
    appears in generated text otherwise: ``python_text`` writes it as an escape)."""
    return f"\0{variant}\0"


class _Writer:
    def __init__(self, project: Project, catalog: Catalog) -> None:
        self.project, self.catalog = project, catalog
        self.variants: dict[tuple[str, str], int] = {}  # (module, body) -> variant id
        self.bodies: list[tuple[str, str, dict]] = []  # variant id -> (module, body, params)
        self.constructors = Constructors(self._nested)
        self._shapes_of: dict[int, ModuleShapes] = {}  # id(GraphNet) -> its inferred shapes and parameters

    def _nested(self, module: nn.Module, shapes: ModuleShapes | None = None) -> str | None:
        if not isinstance(module, GraphNet):
            return None
        if shapes is not None:  # a composition's member
            self._shapes_of[id(module)] = shapes
        return f"{_placeholder(self.write(module, self._shapes_of.get(id(module))))}()"

    def write(self, net: GraphNet, shapes: ModuleShapes | None) -> int:
        """Write the class body of one GraphNet; returns its variant id."""
        module = self.project.modules[net.module_name]
        for node in module.nodes:
            _checked(node.name, net.module_name)
        params = dict(shapes.bindings) if shapes is not None else dict(module.params)
        for node in module.nodes:
            child = getattr(net, node.name, None) if node.module is not None else None
            if isinstance(child, GraphNet) and shapes is not None and node.id in shapes.children:
                self._shapes_of[id(child)] = shapes.children[node.id]
        node_ids = {n.name: n.id for n in module.nodes}
        names: dict[int, str] = {1 + i: _var(n.name) for i, n in enumerate(module.input_nodes)}
        init: list[str] = []
        body: list[str] = []
        for (child, args, out, _release), node_name in zip(net._plan, net.node_names.values()):
            values = [("None" if slot == _NONE_SLOT else names[slot]) for slot in args]
            outs = [out] if isinstance(out, int) else list(out)
            result = (
                _var(node_name) if len(outs) == 1 else ", ".join(_var(f"{node_name}_{i}") for i in range(len(outs)))
            )
            for i, slot in enumerate(outs):
                names[slot] = _var(node_name) if len(outs) == 1 else _var(f"{node_name}_{i}")
            inline = _inline(child, values)
            if inline is None:
                node = module.node(node_ids[node_name])
                layer = None
                if shapes is not None and node.block is not None:
                    layer = NodeLayer(self.catalog[node.block], shapes, node.id)
                init.append(_wrapped(f"        self.{node_name} = ", self.constructors(child, layer)))
                inline = f"self.{node_name}({', '.join(values)})"
            info = shapes.nodes.get(node_ids[node_name]) if shapes is not None else None
            shape = (
                f"  # {info.outputs[next(iter(info.outputs))]}" if info is not None and len(info.outputs) == 1 else ""
            )
            body.append(f"        {result} = {inline}{shape}")
        returns = [names[slot] for slot in net._outputs]
        inputs = [names[1 + i] for i in range(len(module.input_nodes))]
        signature = ", ".join(f"{name}: torch.Tensor" for name in inputs)
        result_type = "torch.Tensor" if len(returns) == 1 else f"tuple[{', '.join(['torch.Tensor'] * len(returns))}]"
        lines = [
            "    def __init__(self) -> None:",
            "        super().__init__()",
            *init,
            "",
            f"    def forward(self, {signature}) -> {result_type}:",
            *body,
            f"        return {', '.join(returns)}",
        ]
        text = "\n".join(lines)
        key = (net.module_name, text)
        if key not in self.variants:
            self.variants[key] = len(self.bodies)
            self.bodies.append((net.module_name, text, params))
        return self.variants[key]

    def class_names(self, top: int) -> dict[int, str]:
        taken = set(self.constructors.used) | RUNTIME_NAMES | _TAKEN | set(keyword.kwlist) | {"sys"}
        names: dict[int, str] = {}
        by_module: dict[str, list[int]] = {}
        for variant, (module, _, _) in enumerate(self.bodies):
            by_module.setdefault(module, []).append(variant)
        for module, variants in by_module.items():
            for number, variant in enumerate(variants, 1):
                base = (camel(module) or "Module") if variant != top or module != "main" else "Model"
                if len(variants) > 1:
                    params = self.bodies[variant][2]
                    differing = {
                        k: v for k, v in params.items() if len({repr(self.bodies[o][2].get(k)) for o in variants}) > 1
                    }
                    suffix = "".join(f"{camel(k)}{v}" for k, v in differing.items()).replace(".", "_").replace("-", "m")
                    base += re.sub(r"[^A-Za-z0-9_]", "_", suffix) or str(number)
                if not base[0].isalpha():
                    base = "Module" + base
                while base in taken:
                    base += "Module"
                taken.add(base)
                names[variant] = base
        return names


def _wrapped(start: str, call: str, width: int = 110) -> str:
    """``start + call``, with one argument per line when it is too long (as ruff format would)."""
    if len(start) + len(call) <= width or not call.endswith(")"):
        return start + call
    opening = call.index("(")
    args, depth, current = [], 0, ""
    in_string = escaped = False  # strings are python_text's: double quotes, backslash escapes
    for char in call[opening + 1 : -1]:
        if in_string:
            in_string = escaped or char != '"'
            escaped = not escaped and char == "\\"
            current += char
            continue
        in_string = char == '"'
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            args.append(current.strip())
            current = ""
        else:
            current += char
    args.append(current.strip())
    indent = " " * (len(start) - len(start.lstrip()) + 4)
    inner = "".join(f"{indent}{arg},\n" for arg in args if arg)
    return f"{start}{call[: opening + 1]}\n{inner}{indent[:-4]})"


def _inline(child: nn.Module, args: list[str]) -> str | None:
    """Parameterless merges and reshapes written as plain expressions (as torch.fx does)."""
    if isinstance(child, Add):
        return " + ".join(args)
    if isinstance(child, Multiply):
        return " * ".join(args)
    if isinstance(child, Concat):
        return f"torch.cat([{', '.join(args)}], dim={code_value(child.dim)})"
    if isinstance(child, Reshape):
        return f"{args[0]}.reshape({', '.join([f'{args[0]}.shape[0]', *map(code_value, child.shape)])})"
    if isinstance(child, Permute):
        return f"{args[0]}.permute({', '.join(map(code_value, child.dims))})"
    return None


def generate_python(project: Project, net: GraphNet, catalog: Catalog | None = None) -> PythonModule:
    """The source of a torch-only module equal to ``net`` (a GraphNet of the project's main)."""
    catalog = catalog or default_catalog()
    writer = _Writer(project, catalog)
    shapes = ShapeInference(project, catalog).run()
    top = writer.write(net, shapes)
    names = writer.class_names(top)
    parts: list[str] = []
    docs: dict[str, str] = {}  # placeholder line -> the class docstring, put in after _tidy (which would change it)
    for variant, (_, text, _) in enumerate(writer.bodies):
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
    """A class's docstring, exactly the module's doc (the project's, for the main class), and a
    comment with the module's parameters."""
    module, _, params = writer.bodies[variant]
    doc = project.modules[module].doc or f"The '{module}' module."
    if variant == top and project.doc:
        doc = project.doc
    lines = ["    " + python_text(doc, "docstring")]
    if params:
        listed = ", ".join(f"{k}={v}" for k, v in params.items())
        lines.append("    " + python_text(f"Module parameters: {listed}.", "comment"))
    return "\n".join(lines)


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
