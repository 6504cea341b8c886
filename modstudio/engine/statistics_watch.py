"""Warnings from the statistics over time (torch-free): a layer whose activations die or explode.

The trainer asks :class:`ActivationWatch` after each record and sends what it says as ``warning``
messages; the dashboard asks its own watch with the same records (live, or read back from a finished
run's ``statistics.jsonl``), so a replayed run shows the same warnings. Each layer is warned about
once per kind.

- **dead**: a ReLU layer with more than ``DEAD_SHARE_LIMIT`` of its units zero for a whole batch;
- **exploding**: non-finite activations, or a largest magnitude that grew ``EXPLOSION_FACTOR`` times
  (three orders of magnitude) over the layer's first record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modstudio.engine.statistics_message import Statistics

DEAD_SHARE_LIMIT = 0.5
EXPLOSION_FACTOR = 1000.0


@dataclass(frozen=True)
class LayerWarning:
    kind: str  # "dead" or "exploding"
    path: str
    step: int
    text: str


@dataclass
class ActivationWatch:
    first_scale: dict[str, float] = field(default_factory=dict)  # layer -> its first non-zero activation scale
    warned: set[tuple[str, str]] = field(default_factory=set)  # (layer, kind) already warned about

    def check(self, record: Statistics) -> list[LayerWarning]:
        """The warnings ``record`` gives rise to that were not given before."""
        found: list[LayerWarning] = []
        for path, stats in record.modules.items():
            if stats.dead_share is not None and stats.dead_share > DEAD_SHARE_LIMIT:
                found += self._once(
                    "dead", path, record.step,
                    f"activations of '{path}' died: {stats.dead_share:.0%} of its units are zero for a whole batch "
                    f"(step {record.step}); lower the learning rate, or try GELU or a better initialisation",
                )  # fmt: skip
            act = stats.activations
            if act is None:
                continue
            if act.nonfinite:
                found += self._once(
                    "exploding", path, record.step,
                    f"activations of '{path}' exploded: {act.nonfinite:,} values are NaN or infinite (step "
                    f"{record.step}); lower the learning rate or clip gradients",
                )  # fmt: skip
                continue
            first = self.first_scale.setdefault(path, act.scale) if act.scale > 0 else self.first_scale.get(path)
            if first and act.scale >= EXPLOSION_FACTOR * first:
                found += self._once(
                    "exploding", path, record.step,
                    f"activations of '{path}' exploded: their largest magnitude grew from {first:.3g} to "
                    f"{act.scale:.3g} (x{act.scale / first:,.0f}) by step {record.step}; lower the learning rate, "
                    "clip gradients or add a normalisation layer",
                )  # fmt: skip
        return found

    def _once(self, kind: str, path: str, step: int, text: str) -> list[LayerWarning]:
        if (path, kind) in self.warned:
            return []
        self.warned.add((path, kind))
        return [LayerWarning(kind, path, step, text)]
