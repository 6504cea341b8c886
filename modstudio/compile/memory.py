"""How much memory a project needs, estimated before anything is allocated.

From the shape inference and a build on torch's meta device (no tensor holds memory):

- **weights**: every parameter of the network, at its own dtype (exact: the meta build has the
  same parameters as the real one);
- **gradients**: one per trainable parameter (frozen, grafted nodes have none);
- **optimizer state**: by the project's optimizer, per trainable parameter: Adam and AdamW keep
  two (first and second moments), SGD with momentum one, plain SGD none;
- **activations**: the output of every node for one batch of the project's batch size, as
  training keeps them for the backward pass (float32, 4 bytes an element; long, 8). Blocks'
  inner buffers (attention scores, an RNN's steps) are not counted, so this part is a lower bound.

The limit: this machine's physical memory (``os.sysconf``; where that cannot be read, a fixed
16 GiB, ``FALLBACK_MEMORY``). It is the line above which a run cannot work here at all, since
the network is built in main memory before it moves to a GPU: training whose estimate exceeds
it is refused before it starts, an export whose weights (held twice: the network and the
exported model) exceed it is refused before anything is written, and ``validate`` warns.
Anything below may still run out of a smaller GPU's memory; that is reported when it happens.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from torch import nn

from modstudio.blocks.catalog import Catalog, default_catalog
from modstudio.blocks.tensors import TensorInfo
from modstudio.graph.model import Project
from modstudio.graph.schema import INPUT_BLOCK, OUTPUT_BLOCK
from modstudio.sizes import human_size

from .graphnet import CompileError, GraphNet, build_on_meta
from .shapes import ModuleShapes, ShapeInference
from .weights import freeze_nodes

FALLBACK_MEMORY = 16 * 2**30  # where the machine's memory cannot be read (Windows)
OPTIMIZER_STATES = {"adam": 2, "adamw": 2}  # tensors kept per parameter; sgd: 1 with momentum, else 0
ELEMENT_BYTES = {"float": 4, "long": 8}  # what the shape inference's dtypes hold in training


@dataclass(frozen=True)
class NodeMemory:
    """One node's share: its weights (bytes, at ``dtype``) and its outputs for one batch (bytes)."""

    path: str  # the node's path in the network: 'fc2', or 'block.fc2' inside a module
    weights: int
    trainable: int  # bytes of weights that train (the rest are frozen)
    dtype: str
    activations: int


@dataclass(frozen=True)
class MemoryEstimate:
    parameters: int
    weights: int  # bytes
    gradients: int
    optimizer: str
    optimizer_state: int
    batch_size: int
    activations: int  # bytes for one batch
    nodes: list[NodeMemory] = field(default_factory=list)

    @property
    def training(self) -> int:
        """Bytes that training holds at once: weights, gradients, optimizer state, one batch's activations."""
        return self.weights + self.gradients + self.optimizer_state + self.activations

    @property
    def export(self) -> int:
        """Bytes that an export holds: the network's weights and the exported model's copy of them."""
        return 2 * self.weights

    def training_share(self, node: NodeMemory) -> float:
        state = self.optimizer_state / self.gradients if self.gradients else 0.0
        return node.weights + node.trainable * (1 + state) + node.activations


def optimizer_states(project: Project) -> int:
    """Tensors the project's optimizer keeps per trainable parameter."""
    t = project.training
    if t.optimizer == "sgd":
        return 1 if t.momentum > 0 else 0
    return OPTIMIZER_STATES[t.optimizer]


def estimate_memory(
    project: Project, catalog: Catalog | None = None, shapes: ModuleShapes | None = None, net: GraphNet | None = None
) -> MemoryEstimate:
    """The estimate for training the project's main module; raises CompileError when shapes do not fit.
    ``shapes`` and ``net`` (built on the meta device, frozen nodes frozen) are made when not given."""
    catalog = catalog or default_catalog()
    shapes = shapes or ShapeInference(project, catalog).run()
    if shapes.errors:
        raise CompileError(shapes.errors)
    if net is None:
        net = build_on_meta(project, catalog)
        freeze_nodes(net, project, strict=False)
    batch = project.data.batch_size
    nodes = list(_nodes(project, shapes, net, batch, ""))
    params = list(net.parameters())
    trainable = sum(_bytes(p) for p in params if p.requires_grad)
    states = optimizer_states(project)
    return MemoryEstimate(
        parameters=sum(p.numel() for p in params),
        weights=sum(_bytes(p) for p in params),
        gradients=trainable,
        optimizer=project.training.optimizer,
        optimizer_state=states * trainable,
        batch_size=batch,
        activations=sum(n.activations for n in nodes),
        nodes=nodes,
    )


def _bytes(tensor: nn.Parameter) -> int:
    return tensor.numel() * tensor.element_size()


def _nodes(project: Project, shapes: ModuleShapes, net: GraphNet, batch: int, prefix: str) -> Iterator[NodeMemory]:
    """One NodeMemory per block node, module references entered (their nodes named ``ref.node``)."""
    module = project.modules[shapes.module]
    by_id = {node.id: node for node in module.nodes}
    for node_id in shapes.order:
        node = by_id[node_id]
        if node.block in (INPUT_BLOCK, OUTPUT_BLOCK) or node_id not in net.node_names:
            continue
        child = getattr(net, net.node_names[node_id])
        path = f"{prefix}{node.name}"
        if node.module is not None and isinstance(child, GraphNet):
            yield from _nodes(project, shapes.children[node_id], child, batch, f"{path}.")
            continue
        params = list(child.parameters())
        largest = max(params, key=lambda p: p.numel(), default=None)
        outputs = list(shapes.nodes[node_id].outputs.values())
        outputs += [  # what the members of a composition (experts, branches) produce inside it
            info
            for (owner, _, _), inner in shapes.members.items()
            if owner == node_id
            for info in _all_outputs(project, inner)
        ]
        yield NodeMemory(
            path,
            weights=sum(_bytes(p) for p in params),
            trainable=sum(_bytes(p) for p in params if p.requires_grad),
            dtype=str(largest.dtype).removeprefix("torch.") if largest is not None else "float32",
            activations=batch * sum(_info_bytes(info) for info in outputs),
        )


def _all_outputs(project: Project, shapes: ModuleShapes) -> Iterator[TensorInfo]:
    module = project.modules[shapes.module]
    for node in module.nodes:
        if node.block in (INPUT_BLOCK, OUTPUT_BLOCK) or node.id not in shapes.nodes:
            continue
        if node.id in shapes.children:
            yield from _all_outputs(project, shapes.children[node.id])
        else:
            yield from shapes.nodes[node.id].outputs.values()
        for (owner, _, _), inner in shapes.members.items():
            if owner == node.id:
                yield from _all_outputs(project, inner)


def _info_bytes(info: TensorInfo) -> int:
    return math.prod(info.shape) * ELEMENT_BYTES.get(info.dtype, 4)


def machine_memory() -> tuple[int, str]:
    """The memory limit in bytes, and how to name it in a sentence."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = -1
    if total > 0:
        return total, f"this machine's {human_size(total)} of memory"
    return FALLBACK_MEMORY, f"the {human_size(FALLBACK_MEMORY)} ModStudio assumes where it cannot read the memory size"


def heaviest(estimate: MemoryEstimate, export: bool = False) -> str:
    """The node that needs the most, in words: "'fc2' holds 4.0 TB of float32 weights"."""
    if not estimate.nodes:
        return "the network"
    share = (lambda n: n.weights) if export else estimate.training_share
    node = max(estimate.nodes, key=share)
    if export or node.weights + node.trainable >= node.activations:
        return f"'{node.path}' holds {human_size(node.weights)} of {node.dtype} weights"
    batch = estimate.batch_size
    return f"'{node.path}' gives {human_size(node.activations)} of activations per batch of {batch}"


def format_memory(estimate: MemoryEstimate) -> str:
    """The one line that ``validate`` prints."""
    return (
        f"memory for training: weights {human_size(estimate.weights)}, gradients {human_size(estimate.gradients)}, "
        f"optimizer state {human_size(estimate.optimizer_state)} ({estimate.optimizer}), "
        f"activations {human_size(estimate.activations)} per batch of {estimate.batch_size}; "
        f"about {human_size(estimate.training)} in all"
    )


def training_refusal(estimate: MemoryEstimate, limit: tuple[int, str] | None = None) -> str | None:
    """Why training cannot fit in memory here (a sentence), or None when it can."""
    size, where = limit or machine_memory()
    if estimate.training <= size:
        return None
    return (
        f"{heaviest(estimate)}: training needs about {human_size(estimate.training)} "
        f"(weights {human_size(estimate.weights)}, gradients {human_size(estimate.gradients)}, "
        f"optimizer state {human_size(estimate.optimizer_state)}, activations {human_size(estimate.activations)} "
        f"per batch of {estimate.batch_size}), more than {where}; make the network or the batch smaller."
    )


def export_memory_problem(project: Project, catalog: Catalog | None = None) -> str | None:
    """Why exporting the project cannot fit in memory here; None when it can, or when the project
    does not compile (that is said by the export itself) or cannot be built on the meta device."""
    try:
        estimate = estimate_memory(project, catalog)
    except CompileError:  # said by the export itself; a plugin's build that needs real tensors (.item()) on the
        return None  # meta device (BlockBuildError) gives no estimate: the export is tried
    return export_refusal(estimate)


def export_refusal(estimate: MemoryEstimate, limit: tuple[int, str] | None = None) -> str | None:
    """Why exporting cannot fit in memory here, or None when it can."""
    size, where = limit or machine_memory()
    if estimate.export <= size:
        return None
    return (
        f"{heaviest(estimate, export=True)}: exporting needs about {human_size(estimate.export)} "
        f"(the weights, {human_size(estimate.weights)}, twice: the network and the exported model), "
        f"more than {where}; nothing was written."
    )
