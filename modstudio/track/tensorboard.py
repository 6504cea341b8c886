"""TensorBoard event files beside the run folder's own (``Tracker(..., tensorboard=True)``).

torch.utils.tensorboard writes them; it needs the ``tensorboard`` package (ModStudio's extra of
that name). Routing goes in as the statistics MoE libraries report (``routing_summary``): per
layer the utilization of each expert, the coefficient of variation of the load, the router
entropy and the dropped-token share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modstudio.blocks.layers.routing import routing_summary

from .layers import TrackError


def event_writer(folder: Path) -> Any:
    """A SummaryWriter writing into ``folder``; a TrackError saying what to install when TensorBoard is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise TrackError(
            "tensorboard=True needs the tensorboard package: pip install 'modstudio[tensorboard]' "
            "(or pip install tensorboard)"
        ) from None
    return SummaryWriter(log_dir=str(folder))


def write_routing(writer: Any, facts: dict[str, dict[str, Any]], step: int) -> None:
    for path, layer in facts.items():
        summary = routing_summary(layer)
        if not summary:
            continue
        name = f"routing/{path or 'network'}"
        for expert, value in enumerate(summary["utilization"]):
            writer.add_scalar(f"{name}/utilization/expert_{expert}", float(value), step)
        for key in ("cv", "entropy", "dropped_share"):
            writer.add_scalar(f"{name}/{key}", float(summary[key]), step)
