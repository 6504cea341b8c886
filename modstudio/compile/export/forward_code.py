"""A class's ``forward`` printed from its GraphNet's plan, and how one line of code is laid out."""

from __future__ import annotations

import builtins
from typing import Any

from torch import nn

from modstudio.blocks.layers.basic import Add, Concat, Multiply, Permute, Reshape
from modstudio.compile.graphnet import UNCONNECTED, GraphNet
from modstudio.graph.model import Project

from .constructors import code_value
from .symbolic import names_in

# local names that would hide the module, torch or a builtin get a trailing underscore
TAKEN = frozenset({"self", "torch", "nn", "F", "math", *dir(builtins)})


def local_name(name: str) -> str:
    return f"{name}_" if name in TAKEN else name


def forward_lines(project: Project, net: GraphNet, done: Any) -> list[str]:
    """The forward: the plan's steps in order. A step's result takes over the variable of its first
    argument when that is read there for the last time (``x = self.bn1(x)``, as torchvision
    writes it); other values read for the last time are deleted, so every value is let go where
    GraphNet's forward lets it go."""
    module = project.modules[net.module_name]
    plan = net.plan
    names: dict[int, str] = {plan.inputs[i]: local_name(n.name) for i, n in enumerate(module.input_nodes)}
    takes_over, starts = _chains(net, {local_name(n.name) for n in module.nodes})
    ids = {n.name: n.id for n in module.nodes}
    body: list[str] = []
    for step in plan.steps:
        values = [("None" if value == UNCONNECTED else names[value]) for value in step.arguments]
        if len(step.outputs) == 1:
            value = step.outputs[0]
            names[value] = names[step.arguments[0]] if value in takes_over else starts.get(value, local_name(step.node))
        else:
            names.update({value: local_name(f"{step.node}_{i}") for i, value in enumerate(step.outputs)})
        result = ", ".join(names[value] for value in step.outputs)
        inline = inline_expression(net.get_submodule(step.target), values)
        call = inline if inline is not None else f"self.{step.target}({', '.join(values)})"
        outputs = [done.outputs.get((ids[step.node], p)) for p in net.shapes.nodes[ids[step.node]].outputs]
        shown = f"  # {outputs[0]}" if len(outputs) == 1 and outputs[0] and not names_in(outputs[0].shape) else ""
        body.append(f"        {result} = {call}{shown}")
        taken_over = {names[v] for v in step.outputs}
        gone = dict.fromkeys(names[v] for v in step.release if v != UNCONNECTED and names[v] not in taken_over)
        if gone:
            body.append(f"        del {', '.join(gone)}")
    returns = [names[value] for value in plan.outputs]
    signature = ", ".join(f"{names[value]}: torch.Tensor" for value in plan.inputs)
    result_type = "torch.Tensor" if len(returns) == 1 else f"tuple[{', '.join(['torch.Tensor'] * len(returns))}]"
    return [f"    def forward(self, {signature}) -> {result_type}:", *body, f"        return {', '.join(returns)}"]


def _chains(net: GraphNet, taken: set[str]) -> tuple[set[int], dict[int, str]]:
    """The step results that take over their first argument's variable, and the variable of the
    first value inside the module that starts such a chain: ``out``, as torchvision names it
    (unless a node has that name; the others keep their node's name)."""
    plan = net.plan
    takes_over: set[int] = set()
    starts: list[int] = []
    for step in plan.steps:
        first = step.arguments[0] if step.arguments else UNCONNECTED
        if len(step.outputs) == 1 and first != UNCONNECTED and first in step.release:
            takes_over.add(step.outputs[0])
            if first not in takes_over and first not in plan.inputs and first not in starts:
                starts.append(first)
    return takes_over, ({starts[0]: "out"} if starts and "out" not in taken else {})


def wrapped(start: str, call: str, width: int = 110) -> str:
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


# parameterless torch layers (exactly these classes, at these settings) and the function each calls
_FUNCTIONS: dict[type[nn.Module], tuple[str, dict[str, object]]] = {
    nn.ReLU: ("torch.relu", {"inplace": False}),
    nn.Sigmoid: ("torch.sigmoid", {}),
    nn.Tanh: ("torch.tanh", {}),
    nn.SiLU: ("F.silu", {"inplace": False}),
    nn.GELU: ("F.gelu", {"approximate": "none"}),
    nn.Identity: ("", {}),
}


def inline_expression(child: nn.Module, args: list[str]) -> str | None:
    """Parameterless merges, reshapes and activations written as plain expressions (as torch.fx
    and most hand-written forwards do): no submodule, no module call in the forward."""
    function = _FUNCTIONS.get(type(child))
    if function is not None and len(args) == 1 and all(getattr(child, k) == v for k, v in function[1].items()):
        return f"{function[0]}({args[0]})" if function[0] else args[0]
    if type(child) is nn.Flatten and child.end_dim == -1 and len(args) == 1:
        return f"{args[0]}.flatten({code_value(child.start_dim)})"
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
