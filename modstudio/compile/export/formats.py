"""TorchScript, torch.export (.pt2) and ONNX artifacts of the generated module."""

from __future__ import annotations

import importlib.util
import logging
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from .constructors import ExportError

# The standalone app is built without onnx (about 110 MB); there, installing the extra is not an option.
ONNX_HINT = (
    "this standalone app is built without ONNX support; export to ONNX from the pip package with "
    "pip install 'modstudio[onnx]', or export pt2 here"
    if getattr(sys, "frozen", False)
    else "pip install 'modstudio[onnx]'"
)
TORCHSCRIPT_DEPRECATED = (
    "TorchScript is deprecated upstream (PyTorch recommends torch.export, `--format pt2`); "
    "this export still works but may stop in a future torch"
)


def script_or_trace(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.jit.ScriptModule, list[str]]:
    """``torch.jit.script`` the model; fall back to tracing, with a note naming why."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)  # the deprecation: said once, by us
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        try:
            return torch.jit.script(model), []
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            note = (
                f"torch.jit.script failed ({reason}); traced instead: data-dependent control flow is "
                "frozen to what the example input took"
            )
            warnings.warn(note, stacklevel=2)
            return torch.jit.trace(model, inputs), [note]


def save_torchscript(model: nn.Module, inputs: tuple[torch.Tensor, ...], path: Path) -> list[str]:
    scripted, notes = script_or_trace(model, inputs)
    scripted.save(str(path))
    return notes


def _dynamic_shapes(inputs: tuple[torch.Tensor, ...], dynamic_batch: bool) -> tuple[dict, ...] | None:
    if not dynamic_batch:
        return None
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    return tuple({0: batch} for _ in inputs)


def export_program(
    model: nn.Module, inputs: tuple[torch.Tensor, ...], dynamic_batch: bool
) -> torch.export.ExportedProgram:
    try:
        return torch.export.export(model, inputs, dynamic_shapes=_dynamic_shapes(inputs, dynamic_batch), strict=False)
    except Exception as exc:
        raise ExportError(f"torch.export failed: {str(exc).strip().splitlines()[0]}") from None


def save_pt2(model: nn.Module, inputs: tuple[torch.Tensor, ...], path: Path, dynamic_batch: bool) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*were assigned during export.*")  # nn.LSTM's flat weights
        program = export_program(model, inputs, dynamic_batch)
    torch.export.save(program, str(path))


def onnx_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxscript"))


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def save_onnx(model: nn.Module, inputs: tuple[torch.Tensor, ...], path: Path, dynamic_batch: bool) -> None:
    if not onnx_available():
        raise ExportError(f"ONNX export needs the onnx extra: {ONNX_HINT}")
    names = [f"input{i}" if len(inputs) > 1 else "input" for i in range(len(inputs))]
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # it logs a line per missing torchvision op
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                model,
                inputs,
                dynamo=True,
                input_names=names,
                dynamic_shapes=_dynamic_shapes(inputs, dynamic_batch),
                verbose=False,
            )
        except Exception as exc:
            raise ExportError(f"ONNX export failed: {str(exc).strip().splitlines()[0]}") from None
        finally:
            quiet.setLevel(level)
    if program is None:
        raise ExportError("ONNX export produced no program")
    program.save(str(path))


def run_onnx(path: Path, inputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """Run an .onnx file with onnxruntime on CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {arg.name: x.numpy() for arg, x in zip(session.get_inputs(), inputs)}
    return [torch.from_numpy(out) for out in session.run(None, feeds)]
