"""The live training dashboard (a dock): curves, routing per layer, decision regions, module usage, warnings."""

from .dashboard import Dashboard

__all__ = ["Dashboard"]
