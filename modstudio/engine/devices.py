"""The torch device and autocast type a run uses (the worker asks; the GUI thread never imports this)."""

from __future__ import annotations

import torch

from modstudio.engine.errors import EngineError


def pick_device(wanted: str) -> torch.device:
    """``auto``: CUDA, else MPS, else CPU. Asking for a device that is not there is an error."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if wanted == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise EngineError("device 'cuda' was asked for but no CUDA GPU is available (use auto or cpu)", "settings")
    if wanted == "mps" and not has_mps:
        raise EngineError("device 'mps' was asked for but Apple's MPS is not available (use auto or cpu)", "settings")
    if wanted not in ("cpu", "cuda", "mps"):
        raise EngineError(f"unknown device '{wanted}' (devices: auto, cpu, cuda, mps)", "settings")
    return torch.device(wanted)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on CUDA for ``auto`` (when the GPU supports it) and wherever ``bf16`` is asked for."""
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None
