"""The MoE doctor's diagnoses of each conditional layer (and level), torch-free.

:func:`diagnose` reads a :class:`RoutingHistory` (a finished run's files or the live messages) and
the layers' current parameters, and names what is wrong: collapse, dead or starving experts,
overload, tokens dropped (before vs after capacity), router entropy too low or too high for k,
z-loss growth, auxiliary loss dominating the task loss, gate saturation. Each diagnosis carries
its evidence (numbers and the step range) and the fixes that may cure it, the first one suggested.
The thresholds are in :mod:`modstudio.engine.doctor.thresholds`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .fixes import Fix
from .history import RoutingHistory, Window
from .thresholds import DEFAULT, Thresholds

KINDS = (
    "collapse",
    "dead_experts",
    "overload",
    "tokens_dropped",
    "entropy_low",
    "entropy_high",
    "z_loss_growth",
    "aux_dominates",
    "gate_saturation",
)
CAPACITY_GATES = ("switch", "expert_choice")
AUX_PARAMS = {"load_balance": "load_balance_weight", "z_loss": "z_loss_weight", "importance": "importance_weight"}


@dataclass(frozen=True)
class Diagnosis:
    kind: str  # one of KINDS
    layer: str  # the probe path ("moe", "block.gate")
    level: str  # "" for a flat layer; "groups" or "experts" for a hierarchical MoE
    sentence: str
    evidence: dict[str, Any] = field(default_factory=dict)  # numbers, with "steps": [first, last]
    fixes: tuple[Fix, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.layer or 'network'}" + (f" ({self.level})" if self.level else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "layer": self.layer,
            "level": self.level,
            "sentence": self.sentence,
            "evidence": self.evidence,
            "fixes": [f.to_dict() for f in self.fixes],
        }


def diagnose(
    history: RoutingHistory, layers: Mapping[str, Mapping[str, Any]] | None = None, t: Thresholds = DEFAULT
) -> list[Diagnosis]:
    """Every diagnosis of every probed layer; ``layers``: path -> the layer's parameters (its
    block's defaults filled in), for the fixes' values (a layer without them gets no fixes)."""
    out: list[Diagnosis] = []
    aux_total = 0.0
    windows = {path: history.window(path, t.window) for path in history.reports}
    for window in windows.values():
        if window is not None:
            aux_total += sum(v for k, v in window.rates.items() if k.startswith("aux_"))
    for path, window in windows.items():
        if window is None:
            continue
        params = dict((layers or {}).get(path, {}))
        layer = _Layer(path, history.kinds.get(path, "moe"), params, window, t)
        out += layer.load_diagnoses()
        out += layer.dropped()
        out += layer.entropy()
        out += layer.z_growth(history.window(path, t.window, first=True))
        out += layer.aux_dominates(history.mean_loss(window.first_step, window.last_step), aux_total)
        out += layer.saturation()
    return out


@dataclass
class _Layer:
    path: str
    kind: str
    params: dict[str, Any]
    window: Window
    t: Thresholds

    @property
    def name(self) -> str:
        return self.path or "network"

    def evidence(self, **numbers: Any) -> dict[str, Any]:
        return {**numbers, "steps": [self.window.first_step, self.window.last_step]}

    def levels(self) -> list[tuple[str, str, int]]:
        """(level, count name, choices per token) of each level to check."""
        if self.kind == "hierarchical_moe":
            groups, inner = int(self.params.get("k_groups", 1)), int(self.params.get("k", 1))
            return [("groups", "tokens_per_group", groups), ("experts", "tokens_per_expert", groups * inner)]
        gate = self.params.get("gate", "topk")
        if gate == "expert_choice":
            return []  # balanced by construction: every expert takes its capacity
        return [
            ("", "tokens_per_expert", 1 if gate == "switch" or self.kind == "gate" else int(self.params.get("k", 1)))
        ]

    # -- load ---------------------------------------------------------------------------------------------

    def load_diagnoses(self) -> list[Diagnosis]:
        out: list[Diagnosis] = []
        for level, name, k in self.levels():
            load = self.window.array(name)
            if load is None or load.size < 2 or load.sum() <= 0:
                continue
            share = load / load.sum()
            order = np.argsort(-share, kind="stable")
            top = [int(i) for i in order[: min(k, load.size)]]
            top_share = float(share[top].sum())
            fair = load.sum() / load.size
            what = "groups" if level == "groups" else "experts"
            active = [int(i) for i in order if load[i] >= self.t.starving_utilization * fair]
            extreme = load.size > k and top_share >= self.t.collapse_share
            few = load.size > 2 * k and len(active) <= self.t.collapse_active * load.size
            collapsed = extreme or few
            if collapsed:
                used = top if extreme else active
                names = _ids(used)
                share = top_share if extreme else float(load[active].sum() / load.sum())
                out.append(
                    Diagnosis(
                        "collapse",
                        self.path,
                        level,
                        f"Routing collapsed in '{self.name}': {len(used)} of {load.size} {what} ({names}) took "
                        f"{share:.0%} of the tokens ({self.window.span}); the others get almost nothing.",
                        self.evidence(busiest=used, share=round(share, 4), load=load.tolist()),
                        self.balance_fixes(level),
                    )
                )
            dead = [int(i) for i in np.flatnonzero(load == 0)]
            starving = [int(i) for i in np.flatnonzero((load > 0) & (load < self.t.starving_utilization * fair))]
            if dead or starving:
                parts = []
                if dead:
                    parts.append(f"{_named(what, dead)} got no tokens")
                if starving:
                    parts.append(
                        f"{_named(what, starving)} got less than {self.t.starving_utilization:.0%} of a fair share"
                    )
                utilization = (load / fair).round(3).tolist()
                fixes = list(self.reinit_fixes(level, dead or starving, top[0]))
                fixes += self.balance_fixes(level)[:1]
                out.append(
                    Diagnosis(
                        "dead_experts",
                        self.path,
                        level,
                        f"In '{self.name}', " + " and ".join(parts) + f" ({self.window.span}).",
                        self.evidence(dead=dead, starving=starving, utilization=utilization),
                        tuple(fixes),
                    )
                )
            ratio = float(load.max() / load.mean())
            if not collapsed and ratio >= self.t.overload_max_over_mean:
                out.append(
                    Diagnosis(
                        "overload",
                        self.path,
                        level,
                        f"'{self.name}' is overloaded: {what[:-1]} {top[0]} takes {ratio:.1f}× the mean load "
                        f"({self.window.span}).",
                        self.evidence(busiest=top[0], max_over_mean=round(ratio, 3), load=load.tolist()),
                        self.balance_fixes(level) + self.capacity_fixes(ratio),
                    )
                )
        return out

    def dropped(self) -> list[Diagnosis]:
        if self.kind != "moe" or self.params.get("gate", "switch") not in CAPACITY_GATES:
            return []
        routed = float(np.sum(self.window.counts.get("routed_tokens", 0.0)))
        dropped = float(np.sum(self.window.counts.get("dropped_tokens", 0.0)))
        if routed <= 0 or dropped / routed < self.t.dropped_share:
            return []
        after = dropped / routed
        demand = self.window.array("demand_per_expert")
        factor = float(self.params.get("capacity_factor", 1.25))
        numbers: dict[str, Any] = {"dropped_after": round(after, 4), "capacity_factor": factor}
        text = f"'{self.name}' dropped {after:.1%} of its tokens at capacity ({self.window.span})"
        needed = factor * 1.5
        if demand is not None and demand.size > 0:
            capacity = factor * routed / demand.size
            before = float(np.maximum(demand - capacity, 0).sum() / routed)
            busiest = int(demand.argmax())
            numbers |= {"overflow_before": round(before, 4), "demand": demand.tolist(), "busiest": busiest}
            text += (
                f"; before capacity, the router's first choices overflowed {before:.1%} (expert {busiest} was asked "
                f"for {demand[busiest] / routed:.0%} of the tokens, its capacity is {factor / demand.size:.0%})"
            )
            needed = max(needed, float(demand.max()) / (routed / demand.size) * 1.1)
        fixes = [self._fix("raise_capacity", f"Raise the capacity factor of '{self.name}' from {factor:g} to "
                           f"{_round_up(needed):g}", capacity_factor=min(64.0, _round_up(needed)))]  # fmt: skip
        return [Diagnosis("tokens_dropped", self.path, "", text + ".", self.evidence(**numbers),
                          tuple(f for f in fixes + self.balance_fixes("")[:1] if f))]  # fmt: skip

    # -- the router -------------------------------------------------------------------------------------

    def entropy(self) -> list[Diagnosis]:
        out: list[Diagnosis] = []
        experts = self.window.array("tokens_per_expert")
        for level, name, k in self.levels():
            key = "group_entropy" if level == "groups" else "entropy"
            h = self.window.rates.get(key)
            counts = self.window.array(name)
            size = counts.size if counts is not None else (experts.size if experts is not None else 0)
            if h is None or size < 2:
                continue
            where = f"'{self.name}'" + (f" ({level})" if level else "")
            if k >= 2 and h < self.t.entropy_low_of_log_k * math.log(k):
                out.append(Diagnosis(
                    "entropy_low", self.path, level,
                    f"The router of {where} is too sure for top-{k}: entropy {h:.2f} nats, below "
                    f"{self.t.entropy_low_of_log_k:g}·log {k} = {self.t.entropy_low_of_log_k * math.log(k):.2f} "
                    f"({self.window.span}); its other {k - 1} pick(s) add almost nothing.",
                    self.evidence(entropy=round(h, 4), k=k, limit=round(self.t.entropy_low_of_log_k * math.log(k), 4)),
                    tuple(f for f in (self.z_fix(), self.noise_fix()) if f),
                ))  # fmt: skip
            high = self.t.entropy_high_of_log_e * math.log(size)
            if h > high:
                fixes = [self.lower_fix("load_balance")] if float(self.params.get("load_balance_weight", 0)) > 0 else []
                out.append(Diagnosis(
                    "entropy_high", self.path, level,
                    f"The router of {where} hardly chooses: entropy {h:.2f} nats, above "
                    f"{self.t.entropy_high_of_log_e:g}·log {size} = {high:.2f} ({self.window.span}), close to uniform.",
                    self.evidence(entropy=round(h, 4), experts=size, limit=round(high, 4)),
                    tuple(f for f in fixes if f),
                ))  # fmt: skip
        return out

    def z_growth(self, early: Window | None) -> list[Diagnosis]:
        late = self.window.rates.get("router_z")
        first = early.rates.get("router_z") if early is not None else None
        if late is None or first is None or first <= 0 or early is None or early.last_step >= self.window.last_step:
            return []
        growth = late / first
        if growth < self.t.z_growth_factor or late < self.t.z_min:
            return []
        return [Diagnosis(
            "z_loss_growth", self.path, "",
            f"The router logits of '{self.name}' keep growing: logsumexp² rose {growth:.1f}× from {first:.2f} "
            f"(steps {early.first_step}–{early.last_step}) to {late:.2f} ({self.window.span}).",
            self.evidence(z_first=round(first, 4), z_last=round(late, 4), growth=round(growth, 3),
                          first_steps=[early.first_step, early.last_step]),
            tuple(f for f in (self.z_fix(),) if f),
        )]  # fmt: skip

    def aux_dominates(self, total_loss: float | None, aux_total: float) -> list[Diagnosis]:
        aux = {k[4:]: v for k, v in self.window.rates.items() if k.startswith("aux_")}
        if total_loss is None or not aux:
            return []
        task = total_loss - aux_total if total_loss - aux_total > 0 else total_loss
        mine = sum(aux.values())
        if task <= 0 or mine / task < self.t.aux_over_task:
            return []
        biggest = max(aux, key=lambda name: aux[name])
        terms = ", ".join(f"{name} {value:.3g}" for name, value in aux.items())
        return [Diagnosis(
            "aux_dominates", self.path, "",
            f"The auxiliary losses of '{self.name}' ({terms}) are {mine / task:.1f}× the task loss {task:.3g} "
            f"({self.window.span}): the router is trained for balance more than for the task.",
            self.evidence(aux=aux, task_loss=round(task, 6), ratio=round(mine / task, 3)),
            tuple(f for f in (self.lower_fix(biggest),) if f),
        )]  # fmt: skip

    def saturation(self) -> list[Diagnosis]:
        saturated = self.window.rates.get("saturated")
        if saturated is None or saturated < self.t.saturated_share:
            return []
        confidence = self.window.rates.get("confidence", float("nan"))
        return [Diagnosis(
            "gate_saturation", self.path, "",
            f"The gate of '{self.name}' is saturated: {saturated:.0%} of the tokens have a top probability above "
            f"0.99 (mean confidence {confidence:.3f}, {self.window.span}); its softmax passes almost no gradient.",
            self.evidence(saturated=round(saturated, 4), confidence=round(confidence, 4)),
            tuple(f for f in (self.z_fix(), self.noise_fix()) if f),
        )]  # fmt: skip

    # -- fixes ------------------------------------------------------------------------------------------

    def _fix(self, kind: str, label: str, **params: Any) -> Fix | None:
        if any(name not in self.params for name in params):
            return None  # the layer's block has no such parameter (or its parameters are unknown)
        return Fix(kind, self.path, label, params)

    def balance_fixes(self, level: str) -> list[Fix]:
        weight = float(self.params.get("load_balance_weight", 0.0) or 0.0)
        raised = min(10.0, max(0.1, weight * 10))
        fixes = [self._fix("raise_load_balance", f"Raise the load-balance weight of '{self.name}' from {weight:g} "
                           f"to {raised:g}", load_balance_weight=raised)]  # fmt: skip
        if level == "" and self.kind == "moe":
            fixes.append(self.noise_fix())
            if self.params.get("gate") in ("topk", "noisy_topk", "switch"):
                fixes.append(self._fix("switch_gate", f"Switch the gate of '{self.name}' to expert choice "
                                       "(balanced by construction)", gate="expert_choice"))  # fmt: skip
        return [f for f in fixes if f]

    def capacity_fixes(self, ratio: float) -> list[Fix]:
        if self.kind != "moe" or self.params.get("gate") not in CAPACITY_GATES:
            return []
        factor = float(self.params.get("capacity_factor", 1.25))
        new = min(64.0, _round_up(max(factor * 1.5, ratio * 1.1)))
        fix = self._fix("raise_capacity", f"Raise the capacity factor of '{self.name}' from {factor:g} to {new:g}",
                        capacity_factor=new)  # fmt: skip
        return [fix] if fix else []

    def noise_fix(self) -> Fix | None:
        gate = self.params.get("gate")
        if self.kind != "moe" or gate not in ("topk", "switch"):
            return None
        extra = {"k": 2} if gate == "switch" else {}  # top-1 gates learn only from a second pick
        return self._fix("add_noise", f"Add noise to the gate of '{self.name}' (noisy top-k"
                         f"{', k = 2' if extra else ''})", gate="noisy_topk", **extra)  # fmt: skip

    def z_fix(self) -> Fix | None:
        weight = float(self.params.get("z_loss_weight", 0.0) or 0.0)
        raised = 0.001 if weight < 0.001 else min(10.0, weight * 10)
        verb = "Add a z-loss to" if weight == 0 else "Raise the z-loss weight of"
        return self._fix("add_z_loss", f"{verb} '{self.name}' ({weight:g} → {raised:g})", z_loss_weight=raised)

    def lower_fix(self, aux: str) -> Fix | None:
        param = AUX_PARAMS.get(aux)
        if param is None or param not in self.params:
            return None
        weight = float(self.params.get(param) or 0.0)
        return self._fix("lower_aux", f"Lower the {aux.replace('_', '-')} weight of '{self.name}' from {weight:g} "
                         f"to {weight / 10:g}", **{param: weight / 10})  # fmt: skip

    def reinit_fixes(self, level: str, dead: list[int], source: int) -> list[Fix]:
        if self.kind not in ("moe", "hierarchical_moe") or level == "groups" or not dead:
            return []
        return [Fix("reinit_expert", self.path, f"Re-initialise expert {dead[0]} of '{self.name}' from expert "
                    f"{source} (its trained weights plus small noise)", expert=dead[0], source=source)]  # fmt: skip


def _ids(values: list[int]) -> str:
    return ", ".join(str(v) for v in values)


def _named(what: str, values: list[int]) -> str:
    """ "experts 3, 4" or "expert 3"."""
    return f"{what if len(values) > 1 else what[:-1]} {_ids(values)}"


def _round_up(value: float) -> float:
    return math.ceil(value * 4) / 4
