"""The document a person edits: Project, ModuleDef, Node, Edge.

Plain dataclasses, no Qt and no torch. A Project is a library of ModuleDefs keyed by name
with one ``main``; a ModuleDef is a graph of nodes and edges; a node is either a block
instance (``block``) or a reference to another ModuleDef (``module``). The data and training
sections configure the engine; ``ui`` holds what only the editor reads (positions, zoom).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from .schema import INPUT_BLOCK, OUTPUT_BLOCK

FORMAT_VERSION = 1
_STRICT = ConfigDict(strict=True, extra="forbid")


def _without_defaults(data: dict[str, Any], optional: dict[str, Any]) -> dict[str, Any]:
    """Leave out fields added after format 1 while they hold their default (files stay as they were)."""
    for key, default in optional.items():
        if key in data and data[key] == default and type(data[key]) is type(default):
            del data[key]
    return data


def new_id() -> str:
    """A fresh, stable node id."""
    return str(uuid.uuid4())


@dataclass
class Node:
    """A block instance or a reference to another ModuleDef, named in the user's words."""

    __pydantic_config__ = _STRICT

    id: Annotated[str, Field(min_length=1)]
    name: str
    block: str | None = None
    module: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # Trained weights grafted onto this node: "<safetensors file, relative to the project
    # file>#<key prefix>", e.g. "other.runs/x/best.safetensors#block1." (see graph/graft.py).
    # Saved only when set, so files without grafts read and write exactly as before.
    weights: Annotated[str | None, Field(min_length=1)] = None
    frozen: bool = False  # its weights are not trained
    # Parts of the node's layer that are not trained, as paths inside it ("experts.0", "router"):
    # expert surgery freezes all experts of a mixture but one. Saved only when set.
    frozen_parts: list[Annotated[str, Field(min_length=1)]] | None = None

    @model_serializer(mode="wrap")
    def _saved(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _without_defaults(handler(self), {"weights": None, "frozen": False, "frozen_parts": None})

    @property
    def is_module_ref(self) -> bool:
        return self.module is not None

    @property
    def kind(self) -> str:
        """The block id, or the referenced module's name."""
        return self.module if self.module is not None else (self.block or "")


@dataclass
class Edge:
    """A wire from an output port of one node to an input port of another."""

    __pydantic_config__ = _STRICT

    src: str
    src_port: str
    dst: str
    dst_port: str


@dataclass
class ModuleDef:
    """A graph of nodes with its own Input and Output nodes, and optional parameters."""

    __pydantic_config__ = _STRICT

    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    params: dict[str, int | float] = field(default_factory=dict)
    doc: str = ""

    def node(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def find(self, node_id: str) -> Node | None:
        for node in self.nodes:
            if node.id == node_id:
                return node
        return None

    def node_named(self, name: str) -> Node | None:
        for node in self.nodes:
            if node.name == name:
                return node
        return None

    def index_of(self, node_id: str) -> int:
        for i, node in enumerate(self.nodes):
            if node.id == node_id:
                return i
        raise KeyError(node_id)

    @property
    def input_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.block == INPUT_BLOCK]

    @property
    def output_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.block == OUTPUT_BLOCK]

    def edges_into(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges if e.dst == node_id]

    def edges_from(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges if e.src == node_id]


@dataclass
class DataSection:
    """Which data to train on and how to cut it (the engine fills in the meaning)."""

    __pydantic_config__ = _STRICT

    dataset: str = "moons"
    options: dict[str, Any] = field(default_factory=dict)
    val_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.15
    test_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.15
    batch_size: Annotated[int, Field(ge=1)] = 64
    shuffle: bool = True
    augmentation: dict[str, Any] = field(default_factory=dict)
    curriculum: dict[str, Any] | None = None
    seed: int = 0


@dataclass
class TrainingSection:
    """How to train: optimizer, schedule, epochs, device, precision, seed, aux-loss weights."""

    __pydantic_config__ = _STRICT

    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    learning_rate: Annotated[float, Field(gt=0.0)] = 1e-3
    weight_decay: Annotated[float, Field(ge=0.0)] = 0.0
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.9
    schedule: Literal["none", "cosine", "step", "one_cycle"] = "none"
    epochs: Annotated[int, Field(ge=1)] = 20
    early_stopping_patience: Annotated[int, Field(ge=1)] | None = None
    grad_clip: Annotated[float, Field(gt=0.0)] | None = None
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    seed: int = 0
    aux_loss_weights: dict[str, float] = field(default_factory=dict)
    # A whole-network .safetensors file (relative to the project file) the run starts from;
    # saved only when set.
    init_weights: Annotated[str | None, Field(min_length=1)] = None
    # Record per-module histograms, dead units and update ratios every this many steps (None: off);
    # saved only when set.
    statistics_every: Annotated[int, Field(ge=1)] | None = None

    @model_serializer(mode="wrap")
    def _saved(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _without_defaults(handler(self), {"init_weights": None, "statistics_every": None})


SearchKind = Literal["int", "float", "choice"]
SearchChoice = str | int | float | bool
OBJECTIVES = ("accuracy", "loss", "-params", "-flops")  # what a search can maximise or minimise


@dataclass
class SearchDimension:
    """One setting a search varies: a range of numbers (``int``/``float``: low, high, step, log) or choices.

    ``target`` names the setting: ``training.<field>``, ``data.<field>``, ``data.options.<name>``,
    ``node:<module>/<node>.<param>`` or ``module:<ModuleDef>.<param>`` (see graph/search_space.py).
    """

    __pydantic_config__ = _STRICT

    target: Annotated[str, Field(min_length=1)]
    kind: SearchKind
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None
    log: bool = False
    choices: list[SearchChoice] = field(default_factory=list)

    @model_serializer(mode="wrap")
    def _saved(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        unset = {"low": None, "high": None, "step": None, "log": False, "choices": []}
        return _without_defaults(handler(self), unset)


@dataclass
class SearchSection:
    """The settings a search varies and what it optimises (``accuracy``, ``loss``, ``-params``, ``-flops``)."""

    __pydantic_config__ = _STRICT

    dimensions: list[SearchDimension] = field(default_factory=list)
    objectives: list[str] = field(default_factory=lambda: ["accuracy"])


@dataclass
class UIData:
    """What only the editor reads: node positions per module, view state. The core never does."""

    __pydantic_config__ = ConfigDict(strict=True, extra="allow")

    positions: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    view: dict[str, Any] = field(default_factory=dict)


@dataclass
class Project:
    """A library of ModuleDefs with a ``main`` one, plus data, training and UI sections."""

    __pydantic_config__ = _STRICT

    modules: dict[str, ModuleDef]
    main: str = "main"
    name: str = "Untitled"
    doc: str = ""
    data: DataSection = field(default_factory=DataSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    ui: UIData = field(default_factory=UIData)
    format_version: int = FORMAT_VERSION
    search: SearchSection | None = None  # the project's search space (absent: no search)

    @property
    def main_module(self) -> ModuleDef:
        return self.modules[self.main]

    def module_of(self, node_id: str) -> tuple[str, ModuleDef] | None:
        """The module that holds a node, by id."""
        for name, module in self.modules.items():
            if module.find(node_id) is not None:
                return name, module
        return None
