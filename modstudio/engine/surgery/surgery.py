"""Plan one expert surgery from a trained run: the edit of the project, its new starting weights,
and what was measured. Nothing is written until :meth:`Surgery.write_weights`.

The run's best (else last) weights must fit the project as it is; the surgery maps them onto the
edited network, which is built and loaded before anything is written (so a surgery that would not
train is refused with a sentence).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch

from modstudio.blocks import default_catalog
from modstudio.compile.graphnet import CompileError, GraphNet
from modstudio.compile.weights import fit_problems, node_paths
from modstudio.engine.errors import EngineError
from modstudio.engine.metrics import Evaluation
from modstudio.engine.records.run_files import RunFileError
from modstudio.engine.runs import RunFolder
from modstudio.graph.document import Document, Operation, OperationError
from modstudio.graph.expert_ops import NodeEdit, UpcycleNode, surgery_edit
from modstudio.graph.io import replace_atomically
from modstudio.graph.model import Project
from modstudio.graph.names import unique_name

from .errors import SurgeryError
from .experts import (
    Target,
    expert_names,
    experts_params,
    find_mixture,
    find_node,
    perturb_expert,
    select_experts,
    upcycled,
)
from .measure import Validation, importance_of, measure, score_text, validation_data

ACTIONS = ("freeze", "unfreeze", "prune", "clone", "upcycle")
_CAPACITY_GATES = ("switch", "expert_choice")


@dataclass
class Request:
    """One surgery as a person asks for it (the CLI's options, the dialog's fields)."""

    action: str
    layer: str  # the mixture node's name (for upcycle: the dense node's)
    module: str | None = None  # the module that holds it, when several have one of that name
    expert: int | None = None  # freeze: the one that trains; clone: the one copied
    keep: int | None = None  # prune: experts kept
    fraction: float | None = None  # prune: share of the experts removed (NLLB removed 0.8)
    train_router: bool = False  # freeze: let the router train too
    experts: int = 8  # upcycle: number of experts
    k: int = 2  # upcycle: experts per token
    gate: str = "topk"  # upcycle: the new mixture's gate
    noise: float = 0.01  # clone: noise scale (times each tensor's std)
    seed: int = 0


@dataclass
class Surgery:
    """A planned surgery: ``edit`` (one undoable Operation, not applied), the tensors of the new
    starting weights and the file they go to (``reference``: as the project names it)."""

    edit: Operation
    state: dict[str, torch.Tensor]
    weights_file: Path
    reference: str
    lines: list[str] = field(default_factory=list)
    before: Evaluation | None = None
    after: Evaluation | None = None

    def write_weights(self) -> Path:
        """Write the starting weights atomically (a new file: one the undo history uses is never overwritten)."""
        from safetensors.torch import save_file

        if self.weights_file.exists():
            raise SurgeryError(f"{self.weights_file} already exists; surgery never overwrites starting weights")
        tensors = {k: v.detach().cpu().clone().contiguous() for k, v in self.state.items()}
        replace_atomically(self.weights_file, lambda temporary: save_file(tensors, str(temporary)))
        return self.weights_file


def weights_name(out_dir: Path, stem: str, action: str) -> Path:
    """``<stem>.<action>.init.safetensors`` in ``out_dir``, numbered past any file already there."""
    number = 1
    while True:
        suffix = "" if number == 1 else f"-{number}"
        path = out_dir / f"{stem}.{action}{suffix}.init.safetensors"
        if not path.exists():
            return path
        number += 1


def run_state(run_folder: Path) -> dict[str, torch.Tensor]:
    folder = RunFolder(Path(run_folder))
    name = "best" if folder.has("best.safetensors") else "last"
    if not folder.has(f"{name}.safetensors"):
        raise SurgeryError(f"{run_folder} has no weights (best.safetensors or last.safetensors)")
    try:
        return folder.load_weights(name)
    except RunFileError as exc:
        raise SurgeryError(exc.message) from None


def build(project: Project, state: dict[str, torch.Tensor] | None = None, seed: int = 0) -> GraphNet:
    torch.manual_seed(seed)
    try:
        net = GraphNet(project, default_catalog())
    except CompileError as exc:
        raise SurgeryError(f"the edited network cannot be built: {exc}") from None
    if state is not None:
        problems = fit_problems(state, net.state_dict())
        if problems:
            raise SurgeryError(f"the weights do not fit the network: {'; '.join(problems)}")
        net.load_state_dict(state, strict=True)
    return net.eval()


def plan(
    project: Project,
    project_dir: Path | None,
    run_folder: Path,
    request: Request,
    out_dir: Path,
    out_stem: str,
) -> Surgery:
    """The surgery ``request`` asks for on ``project`` with the weights of ``run_folder``; raises
    SurgeryError naming the problem. ``project_dir``: where the project's data paths start;
    ``out_dir``/``out_stem``: where the edited project will be saved (its weights go beside it)."""
    if request.action not in ACTIONS:
        raise SurgeryError(f"unknown surgery '{request.action}' (one of {', '.join(ACTIONS)})")
    state = run_state(run_folder)
    try:
        old_net = build(project, state)
    except SurgeryError as exc:
        raise SurgeryError(
            f"the run's weights do not fit the project as it is now ({exc}); pick a run of this project"
        ) from None
    try:
        validation = validation_data(project, project_dir)
    except EngineError as exc:
        raise SurgeryError(exc.message) from None
    weights_file = weights_name(out_dir, out_stem, request.action)
    reference = weights_file.name
    doc = Document(copy.deepcopy(project), default_catalog())
    work = _Work(project, doc, old_net, state, validation, request, reference)
    try:
        edit, new_state = {
            "freeze": work.freeze,
            "unfreeze": work.unfreeze,
            "prune": work.prune,
            "clone": work.clone,
            "upcycle": work.upcycle,
        }[request.action]()
        doc.apply(copy.deepcopy(edit))
    except OperationError as exc:
        raise SurgeryError(str(exc)) from None
    new_net = build(doc.project, new_state)
    surgery = Surgery(edit, new_state, weights_file, reference, work.lines)
    surgery.before = measure(old_net, validation)
    surgery.after = measure(new_net, validation)
    surgery.lines.append(f"before: {score_text(surgery.before)} ({validation.split} split)")
    surgery.lines.append(f"after:  {score_text(surgery.after)}")
    if request.action == "upcycle":
        surgery.lines.append(work.upcycle_check(new_net))
    elif request.action in ("prune", "clone"):
        surgery.lines.append(output_change(old_net, new_net, validation))
    if request.action == "clone":
        surgery.lines.append(work.clone_shares(new_net))
    return surgery


def output_change(old: GraphNet, new: GraphNet, validation: Validation) -> str:
    """On how many validation samples the network's outputs moved, and how far."""
    x = validation.data.x
    with torch.no_grad():
        before, after = old(x), new(x)
    if isinstance(before, tuple):
        before, after = before[validation.task.index], after[validation.task.index]
    gap = (before.float() - after.float()).abs().reshape(len(x), -1).amax(dim=1)
    changed = int((gap > 0).sum())
    return (
        f"outputs changed on {changed} of {len(x)} {validation.split} samples "
        f"(max |difference| {float(gap.max()):.3g}, mean {float(gap.mean()):.3g})"
    )


class _Work:
    """The five surgeries, each giving (edit, new state)."""

    def __init__(
        self,
        project: Project,
        doc: Document,
        net: GraphNet,
        state: dict[str, torch.Tensor],
        validation: Validation,
        request: Request,
        reference: str,
    ) -> None:
        self.project, self.doc, self.net, self.state = project, doc, net, state
        self.validation, self.request, self.reference = validation, request, reference
        self.lines: list[str] = []

    def _mixture(self) -> tuple[Target, list[str], list[str]]:
        target = find_mixture(self.project, self.request.layer, self.request.module)
        return target, expert_names(target.node), node_paths(self.net, target.node.id)

    def _expert(self, names: list[str]) -> int:
        e = self.request.expert
        if e is None:
            raise SurgeryError("name the expert with --expert (counted from 0)")
        if not 0 <= e < len(names):
            raise SurgeryError(f"there is no expert {e}: the mixture has experts 0 to {len(names) - 1}")
        return e

    def _edit(self, text: str, edits: list[NodeEdit], upcycle: UpcycleNode | None = None) -> Operation:
        return surgery_edit(self.doc, text, self.reference, edits, upcycle)

    def freeze(self) -> tuple[Operation, dict[str, torch.Tensor]]:
        target, names, _ = self._mixture()
        e = self._expert(names)
        parts = [f"experts.{i}" for i in range(len(names)) if i != e]
        if not self.request.train_router:
            parts += ["router"] + (["noise"] if target.node.params.get("gate") == "noisy_topk" else [])
        self.lines.append(f"'{target.node.name}': expert {e} trains; frozen: {', '.join(parts) or 'nothing'}")
        text = f"Freeze all experts of '{target.node.name}' but {e}"
        edit = NodeEdit(target.module, target.node.id, frozen_parts=parts, set_frozen_parts=True)
        return self._edit(text, [edit]), dict(self.state)

    def unfreeze(self) -> tuple[Operation, dict[str, torch.Tensor]]:
        target, _, _ = self._mixture()
        if not target.node.frozen_parts:
            raise SurgeryError(f"'{target.node.name}' has no frozen experts to unfreeze")
        self.lines.append(f"'{target.node.name}': all experts train again")
        edit = NodeEdit(target.module, target.node.id, frozen_parts=None, set_frozen_parts=True)
        return self._edit(f"Unfreeze the experts of '{target.node.name}'", [edit]), dict(self.state)

    def _capacity(self, node_params: dict, count: int, new_count: int) -> dict[str, object]:
        """Switch and expert choice: the same slots per expert with ``new_count`` experts."""
        if node_params.get("gate") not in _CAPACITY_GATES:
            return {}
        factor = float(node_params.get("capacity_factor", 1.25)) * new_count / count
        return {"capacity_factor": round(min(max(factor, 0.01), 64.0), 6)}

    def prune(self) -> tuple[Operation, dict[str, torch.Tensor]]:
        target, names, paths = self._mixture()
        count, request, node = len(names), self.request, target.node
        if (request.keep is None) == (request.fraction is None):
            raise SurgeryError("say how many experts to keep: --keep N or --fraction F (the share removed)")
        if request.fraction is not None and not 0 < request.fraction < 1:
            raise SurgeryError(f"--fraction is the share of experts removed, between 0 and 1, not {request.fraction}")
        keep = request.keep if request.keep is not None else count - round(count * (request.fraction or 0))
        k = int(node.params.get("k", 2)) if node.params.get("gate", "topk") in ("topk", "noisy_topk") else 1
        if not max(k, 1) <= keep < count:
            raise SurgeryError(
                f"cannot keep {keep} of {count} experts: keep at least {max(k, 1)} (k) and fewer than {count}"
            )
        importance = importance_of(self.net, paths, self.validation)
        ranked = sorted(range(count), key=lambda i: (-importance.importance[i], i))
        kept = sorted(ranked[:keep])
        removed = sorted(ranked[keep:])
        self.lines.append(f"importance of the experts of '{node.name}' on {importance.tokens} tokens:")
        self.lines.append("  expert  share   confidence  importance")
        for i in range(count):
            mark = "kept" if i in kept else "removed"
            self.lines.append(
                f"  {i:>6}  {importance.share[i]:.4f}  {importance.confidence[i]:.4f}      "
                f"{importance.importance[i]:.4f}  {mark}"
            )
        params = experts_params(node, [names[i] for i in kept]) | self._capacity(node.params, count, keep)
        text = f"Prune experts {', '.join(map(str, removed))} of '{node.name}'"
        edit = NodeEdit(target.module, node.id, params=params)
        if node.frozen_parts:
            edit.frozen_parts, edit.set_frozen_parts = _renumbered(node.frozen_parts, kept), True
        return self._edit(text, [edit]), select_experts(self.state, paths, kept)

    def clone(self) -> tuple[Operation, dict[str, torch.Tensor]]:
        target, names, paths = self._mixture()
        e, node = self._expert(names), target.node
        count = len(names)
        params = experts_params(node, [*names, names[e]]) | self._capacity(node.params, count, count + 1)
        state = select_experts(self.state, paths, [*range(count), e])
        perturb_expert(state, paths, e, count, self.request.noise, self.request.seed)
        self.lines.append(
            f"'{node.name}': expert {count} is a copy of expert {e} plus noise ({self.request.noise} x each "
            f"tensor's std); the two router rows are expert {e}'s ± a small δ, so ties between them break "
            "both ways. Their logits stay close: with top-k a token that picked the expert now tends to take "
            "both halves, giving up its k-th expert, so its output moves toward that expert's own; the measured "
            "change follows"
        )
        edit = NodeEdit(target.module, node.id, params=params)
        return self._edit(f"Clone expert {e} of '{node.name}'", [edit]), state

    def clone_shares(self, new_net: GraphNet) -> str:
        """The routed share of the original and of its clone, after the split."""
        target, names, paths = self._mixture()
        e, count = self._expert(names), len(names)
        before = importance_of(self.net, paths, self.validation).share[e]
        after = importance_of(new_net, node_paths(new_net, target.node.id), self.validation).share
        return (
            f"routed share of expert {e}: {before:.3f} before; now {after[e]:.3f}, "
            f"and {after[count]:.3f} for its clone {count}"
        )

    def upcycle(self) -> tuple[Operation, dict[str, torch.Tensor]]:
        request = self.request
        target = find_node(self.project, request.layer, request.module)
        node = target.node
        if request.experts < 2:
            raise SurgeryError(f"an upcycled mixture needs at least 2 experts, not {request.experts}")
        expert_module = None if node.module is not None else unique_name(
            f"{node.name.capitalize()}Expert", set(self.project.modules)
        )  # fmt: skip
        params: dict[str, object] = {"gate": request.gate}
        if request.gate in ("topk", "noisy_topk"):
            params["k"] = request.k
        op = UpcycleNode(target.module, node.id, request.experts, params, expert_module)
        paths = node_paths(self.net, node.id)
        probe = Document(copy.deepcopy(self.project), default_catalog())
        probe.apply(copy.deepcopy(op))
        fresh = build(probe.project, seed=request.seed).state_dict()
        inner = f"{node.name}." if node.module is None else ""
        state = upcycled(self.state, paths, request.experts, fresh, inner)
        self.lines.append(
            f"'{node.name}' becomes a mixture of {request.experts} copies of "
            f"{'module ' + node.module if node.module else 'itself (module ' + str(expert_module) + ')'}, "
            f"gate {request.gate}, router fresh (seed {request.seed})"
        )
        self._upcycled_paths = paths
        return self._edit(f"Upcycle '{node.name}' into {request.experts} experts", [], op), state

    def upcycle_check(self, new_net: GraphNet) -> str:
        """How far the upcycled network's outputs are from the dense one's at initialisation."""
        x = self.validation.data.x[:512]
        with torch.no_grad():
            old, new = self.net(x), new_net(x)
        if isinstance(old, tuple):
            old, new = old[self.validation.task.index], new[self.validation.task.index]
        gap = float((old.float() - new.float()).abs().max())
        scale = float(old.float().abs().max()) + 1.0
        if self.request.gate in ("topk", "noisy_topk") and gap > 1e-4 * scale:
            raise SurgeryError(
                f"'{self.request.layer}' does not act on each token alone: the upcycled network's outputs differ "
                f"from the dense one's by {gap:.3g}; upcycle a position-wise feed-forward node"
            )
        why = (
            "top-k weights sum to 1 and every expert is the dense module"
            if self.request.gate in ("topk", "noisy_topk")
            else "the switch gate weights each token by its router probability, so outputs start scaled"
        )
        return f"outputs vs the dense network at initialisation: max |difference| {gap:.3g} ({why})"


def _renumbered(parts: list[str], kept: list[int]) -> list[str] | None:
    """Frozen parts after pruning: ``experts.<old>`` become ``experts.<new>``; removed ones go."""
    out = []
    for part in parts:
        if part.startswith("experts."):
            head, _, rest = part[len("experts.") :].partition(".")
            if head.isdigit() and int(head) in kept:
                out.append(f"experts.{kept.index(int(head))}{'.' + rest if rest else ''}")
        else:
            out.append(part)
    return out or None
