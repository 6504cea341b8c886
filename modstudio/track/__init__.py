"""Following training that runs outside ModStudio: ``from modstudio.track import Tracker``.

Torch only (no Qt): :class:`Tracker` writes a run folder in the engine's format with the engine's
routing probes, from a plain PyTorch loop or a torchrun job; ``modstudio watch RUN_DIR`` and the
editor's File > Open Run… follow it live. User layers join through :class:`RouterOutputs` or
:func:`hugging_face`.
"""

from __future__ import annotations

from .layers import RouterOutputs, TrackError, hugging_face
from .tracker import Tracker

__all__ = ["RouterOutputs", "TrackError", "Tracker", "hugging_face"]
