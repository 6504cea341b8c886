"""Mutated project files, run the way `modstudio validate` runs a file; anything but a named problem is a traceback.

Each mutant is a shipped template or library file (``resources/``), or a small project around one
block example of tests/blocks, changed in one to three ways:
a number replaced by a huge, negative, non-finite, fractional, boolean or string value (10**400,
2**62, a 4301-digit integer, 1e309, NaN...), keys deleted or renamed, values of another type,
nesting 70 or 1200 deep, lone surrogate escapes, the text cut short, block types, member modules
(the module itself among them), port names and edges changed. Each goes through loading
(:func:`project_from_json` with the default catalogue, which validates it), shape inference and
a build on the meta device (:func:`summarize`). The expected outcomes are a loaded project, a
:class:`ProjectError` or a :class:`CompileError` (shape problems); any other exception is a
traceback, kept with its type and the last frame. Used by tests/graph/test_fuzz.py and
bench/fuzz_projects.py.
"""

from __future__ import annotations

import copy
import json
import random
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modstudio.blocks import default_catalog
from modstudio.compile.graphnet import CompileError
from modstudio.compile.summary import summarize
from modstudio.graph.io import project_from_json
from modstudio.graph.problems import ProjectError
from modstudio.library import resources_dir

# Values that JSON text can hold but json.dumps cannot write from Python data: written as a
# marker string, then the marker (with its quotes) is replaced in the text.
_RAW = {
    "@@int4301@@": "1" + "0" * 4300,
    "@@int400@@": "1" + "0" * 400,
    "@@1e309@@": "1e309",
    "@@-1e309@@": "-1e309",
    "@@nan@@": "NaN",
    "@@inf@@": "Infinity",
    "@@deep70@@": "[" * 70 + "]" * 70,
    "@@deep1200@@": "[" * 1200 + "]" * 1200,
    "@@deepobj@@": '{"a":' * 300 + "1" + "}" * 300,
    "@@surrogate@@": '"x\\ud800"',
    "@@lowsurrogate@@": '"\\udc00y"',
}
NUMBERS: list[Any] = [
    0, -1, 1, 2, 3, -(2**31), 2**31, 2**62, 2**63, 2**64, 10**15, 10**15 + 1, 65_536, 65_537, 10**30,
    0.5, -0.5, 1e-320, 1e15, 1e16, 1e300, -1e300, True, False, None, "3", "=3", "=1e309", "=int(1e309)",
    "=round(1e309)", "=1e15**64", "=width", "=width * 1e15", "=9**9**9", "=round(5, -99)", "=max()", "=x",
    [], {}, [1, 2], "@@int4301@@", "@@int400@@", "@@1e309@@", "@@-1e309@@", "@@nan@@", "@@inf@@",
]  # fmt: skip
OTHER_VALUES: list[Any] = [
    None, True, 0, "", "x", [], {}, [None], {"x": 1}, "@@deep70@@", "@@deep1200@@", "@@deepobj@@",
    "@@surrogate@@", "@@lowsurrogate@@", "Expert", "main", "=width",
]  # fmt: skip
GENTLE_NUMBERS: list[Any] = [0, 1, 2, 3, 4, 7, 16, 64, 1000, 65_536, 10**6, 10**9, 10**15, 0.5, 0.999, 2.5, -1, -3]
PORTS = ["in", "out", "x", "y", "a", "b", "gate", "in2", "", "@@surrogate@@"]
KEYS = ["id", "name", "block", "module", "params", "edges", "nodes", "src", "dst", "src_port", "dst_port", "main"]


def seed_files() -> list[Path]:
    """Every template and library file shipped in resources/."""
    root = resources_dir()
    return sorted([*root.glob("templates/*.msproj"), *root.glob("library/*.msproj")])


def example_seeds() -> list[dict[str, Any]]:
    """One small project per block example of tests/blocks (Inputs of the example's shapes -> the block
    -> an Output per output port), so that every block type's shape rule and build meet odd values."""
    from modstudio.graph.builder import ProjectBuilder, Ref
    from modstudio.graph.io import project_to_dict
    from tests.blocks import examples_conv, examples_core, examples_seq

    catalog = default_catalog()
    projects = []
    for examples in (examples_core.EXAMPLES, examples_conv.EXAMPLES, examples_seq.EXAMPLES):
        for block, cases in examples.items():
            spec = catalog.lookup(block)
            if spec is None or spec.uses_members:
                continue
            for i, (params, inputs) in enumerate(cases):
                pb = ProjectBuilder(f"{block}{i}")
                b = pb.module("main")
                node = b.add(block, "blk", **params)
                for port, infos in inputs.items():
                    for j, info in enumerate(infos if isinstance(infos, list) else [infos]):
                        b.connect(b.input(f"x_{port}{j}", list(info.shape), info.dtype), node, port)
                for out in spec.outputs:
                    b.output(f"y_{out.name}", Ref(node.node_id, out.name))
                projects.append(project_to_dict(pb.project(f"{block} example {i}")))
    return projects


@dataclass
class Outcome:
    """How many mutants loaded, were refused by name, or ended in a traceback (deduplicated)."""

    loaded: int = 0
    refused: int = 0
    shape_problems: int = 0
    tracebacks: dict[str, list[str]] = field(default_factory=dict)  # key -> [first traceback, first mutant text]
    counts: dict[str, int] = field(default_factory=dict)
    slowest: float = 0.0  # seconds of the slowest mutant (a hang shows here)

    @property
    def traceback_count(self) -> int:
        return sum(self.counts.values())


def run_one(text: str, outcome: Outcome, catalog: Any) -> None:
    """Load, validate, infer and build one file; a traceback is recorded, never raised."""
    try:
        try:
            project = project_from_json(text, catalog, "mutant.msproj")
        except ProjectError as exc:
            exc.describe()
            outcome.refused += 1
            return
        try:
            summarize(project, catalog)
        except CompileError as exc:
            str(exc)
            outcome.shape_problems += 1
            return
        outcome.loaded += 1
    except Exception as exc:  # the fuzzer's job: record what escaped, with its frame
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        key = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno} in {frame.name}"
        outcome.counts[key] = outcome.counts.get(key, 0) + 1
        if key not in outcome.tracebacks:
            outcome.tracebacks[key] = ["".join(traceback.format_exception(exc))[-4000:], text[:2000]]


class Mutator:
    """Seeded mutations of parsed project files, written back as text."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.catalog = default_catalog()
        self.block_ids = sorted(spec.id for spec in self.catalog)
        self.files = [json.loads(p.read_text(encoding="utf-8")) for p in seed_files()]
        self.examples = example_seeds()
        self.operations: list[Callable[[Any], None]] = [
            self.replace_number, self.replace_number, self.replace_value, self.delete_key, self.rename_key,
            self.duplicate_item, self.change_block, self.self_member, self.change_port, self.add_edge,
            self.drop_params, self.change_id,
        ]  # fmt: skip
        # mutations that keep the file loadable more often, so that shapes and builds see odd values
        self.gentle: list[Callable[[Any], None]] = [
            self.set_param, self.set_param, self.set_param, self.gentle_number, self.change_block, self.self_member,
            self.drop_params, self.change_port, self.add_edge, self.new_block, self.new_block,
        ]  # fmt: skip

    def mutant(self) -> str:
        kind = self.rng.random()
        if kind < 0.25:  # one block's param at or beyond its range: every block's shape rule and build
            data = copy.deepcopy(self.rng.choice(self.examples))
            self.set_param(data, lambda node: node.get("name") == "blk")
            if self.rng.random() < 0.5:
                self.scale_inputs(data)
        else:
            data = copy.deepcopy(self.rng.choice(self.files if kind < 0.85 else self.examples))
            operations = self.gentle if kind < 0.55 else self.operations
            for _ in range(self.rng.randint(1, 3)):
                self.rng.choice(operations)(data)
        text = json.dumps(data, indent=1)
        for marker, raw in _RAW.items():
            text = text.replace(json.dumps(marker), raw)
        if self.rng.random() < 0.04:
            text = text[: self.rng.randrange(len(text) + 1)]
        return text

    # ------------------------------------------------------------------ where to mutate

    def _slots(self, data: Any, want: Callable[[Any], bool]) -> list[tuple[Any, Any]]:
        return [(c, k) for c, k in _slots(data) if want(c[k])]

    def _nodes(self, data: Any) -> list[tuple[str, dict[str, Any]]]:
        modules = data.get("modules") if isinstance(data, dict) else None
        if not isinstance(modules, dict):
            return []
        return [
            (name, node)
            for name, module in modules.items()
            if isinstance(module, dict) and isinstance(module.get("nodes"), list)
            for node in module["nodes"]
            if isinstance(node, dict)
        ]

    # ------------------------------------------------------------------ operations

    def replace_number(self, data: Any) -> None:
        slots = self._slots(data, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        if slots:
            container, key = self.rng.choice(slots)
            container[key] = self.rng.choice(NUMBERS)

    def gentle_number(self, data: Any) -> None:
        slots = self._slots(data, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        if slots:
            container, key = self.rng.choice(slots)
            container[key] = self.rng.choice(GENTLE_NUMBERS)

    def set_param(self, data: Any, which: Callable[[dict[str, Any]], bool] = lambda node: True) -> None:
        """A block's param set to a value of its kind: at, inside or just beyond its range, or a module's name."""
        nodes = [
            (name, n)
            for name, n in self._nodes(data)
            if self.catalog.lookup(str(n.get("block"))) is not None and which(n)
        ]
        if not nodes:
            return
        module, node = self.rng.choice(nodes)
        spec = self.catalog[node["block"]]
        if not spec.params or not isinstance(node.get("params"), dict):
            return
        param = self.rng.choice(spec.params)
        node["params"][param.name] = self._value_for(param, data, module)

    def scale_inputs(self, data: Any) -> None:
        """Larger samples: each Input's shape entries multiplied (large layers, large products)."""
        factor = self.rng.choice([8, 64, 1024])
        for _, node in self._nodes(data):
            shape = node.get("params", {}).get("shape") if node.get("block") == "input" else None
            if isinstance(shape, list):
                node["params"]["shape"] = [min(v * factor, 65_536) if isinstance(v, int) else v for v in shape]

    def new_block(self, data: Any) -> None:
        """A node turned into any block of the catalogue, with one to three of its params set."""
        nodes = self._nodes(data)
        if not nodes:
            return
        module, node = self.rng.choice(nodes)
        spec = self.catalog[self.rng.choice(self.block_ids)]
        node["block"], node["module"], node["params"] = spec.id, None, {}
        for param in self.rng.sample(spec.params, min(len(spec.params), self.rng.randint(1, 3))):
            node["params"][param.name] = self._value_for(param, data, module)

    def _value_for(self, param: Any, data: Any, module: str) -> Any:
        rng = self.rng
        if param.kind in ("module", "modules"):
            names = [*data.get("modules", {}), "Expert", module]
            picked = [rng.choice(names) for _ in range(rng.randint(1, 4))]
            return picked[0] if param.kind == "module" else picked
        if param.kind == "choice":
            return rng.choice(param.choices)
        if param.kind == "bool":
            return rng.random() < 0.5
        edges = [v for v in (param.min, param.max) if v is not None]
        numbers = [*edges, *(v + d for v in edges for d in (-1, 1)), *GENTLE_NUMBERS[:8]]
        if param.max is None:  # no maximum of its own: the bound of every number applies
            numbers += [10**6, 10**9, 10**12, 10**15, 10**15 + 1]
        if param.kind == "ints":
            return [int(rng.choice(numbers)) for _ in range(rng.randint(0, 4))]
        if param.kind == "int":
            return int(rng.choice(numbers)) if rng.random() < 0.8 else rng.choice(["=width", "=2 * 3", "=1/3"])
        return float(rng.choice(numbers)) if param.kind == "float" else "x"

    def replace_value(self, data: Any) -> None:
        slots = list(_slots(data))
        if slots:
            container, key = self.rng.choice(slots)
            container[key] = self.rng.choice(OTHER_VALUES + NUMBERS)

    def delete_key(self, data: Any) -> None:
        slots = [(c, k) for c, k in _slots(data) if isinstance(c, dict)]
        if slots:
            container, key = self.rng.choice(slots)
            del container[key]

    def rename_key(self, data: Any) -> None:
        slots = [(c, k) for c, k in _slots(data) if isinstance(c, dict)]
        if slots:
            container, key = self.rng.choice(slots)
            container[self.rng.choice([*KEYS, key + "x", "@@surrogate@@"])] = container.pop(key)

    def duplicate_item(self, data: Any) -> None:
        slots = [(c, k) for c, k in _slots(data) if isinstance(c, list)]
        if slots:
            container, key = self.rng.choice(slots)
            container.insert(key, copy.deepcopy(container[key]))

    def change_block(self, data: Any) -> None:
        nodes = self._nodes(data)
        if nodes:
            _, node = self.rng.choice(nodes)
            node["block"] = self.rng.choice([*self.block_ids, "nonesuch", None])

    def self_member(self, data: Any) -> None:
        """A node that names its own module: as ``module``, as members, or a composition left at its defaults."""
        nodes = self._nodes(data)
        if not nodes:
            return
        name, node = self.rng.choice(nodes)
        params = node.get("params") if isinstance(node.get("params"), dict) else {}
        choice = self.rng.randrange(4)
        if choice == 0:
            node["module"], node["block"] = name, None
        elif choice == 1 and params:
            params[self.rng.choice(list(params))] = self.rng.choice([[name], name, [name, name]])
        elif choice == 2:
            node["block"], node["params"] = self.rng.choice(["moe", "ensemble", "hierarchical_moe", "switch"]), {}
        else:
            modules = data["modules"]
            modules["Expert"] = modules.pop(name)  # a module named like the moe's default expert
            if data.get("main") == name:
                data["main"] = "Expert"

    def change_port(self, data: Any) -> None:
        slots = [(c, k) for c, k in _slots(data) if isinstance(c, dict) and k in ("src_port", "dst_port")]
        if slots:
            container, key = self.rng.choice(slots)
            container[key] = self.rng.choice(PORTS)

    def add_edge(self, data: Any) -> None:
        modules = data.get("modules") if isinstance(data, dict) else None
        if not isinstance(modules, dict) or not modules:
            return
        module = self.rng.choice(list(modules.values()))
        if not isinstance(module, dict) or not isinstance(module.get("nodes"), list) or not module["nodes"]:
            return
        ids = [n.get("id") for n in module["nodes"] if isinstance(n, dict)] or ["x"]
        edge = {
            "src": self.rng.choice(ids),
            "src_port": self.rng.choice(PORTS),
            "dst": self.rng.choice(ids),
            "dst_port": self.rng.choice(PORTS),
        }
        if isinstance(module.get("edges"), list):
            module["edges"].append(edge)

    def drop_params(self, data: Any) -> None:
        nodes = self._nodes(data)
        if nodes:
            _, node = self.rng.choice(nodes)
            node["params"] = {}

    def change_id(self, data: Any) -> None:
        nodes = self._nodes(data)
        if len(nodes) > 1:
            (_, a), (_, b) = self.rng.sample(nodes, 2)
            a["id"] = b.get("id")


def _slots(data: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key or index) in the data, depth first."""
    stack = [data]
    while stack:
        value = stack.pop()
        keys = list(value) if isinstance(value, dict) else range(len(value)) if isinstance(value, list) else []
        for key in keys:
            yield value, key
            stack.append(value[key])


def fuzz(count: int, seed: int, progress: Callable[[int, Outcome], None] | None = None) -> Outcome:
    """Run ``count`` mutants from ``seed``; the outcome counts each kind of ending."""
    catalog = default_catalog()
    mutator = Mutator(seed)
    outcome = Outcome()
    for i in range(count):
        text = mutator.mutant()
        start = time.perf_counter()
        run_one(text, outcome, catalog)
        outcome.slowest = max(outcome.slowest, time.perf_counter() - start)
        if progress is not None:
            progress(i + 1, outcome)
    return outcome
