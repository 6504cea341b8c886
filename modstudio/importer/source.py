"""Finding the model a SOURCE names (``path/to/file.py:Name`` or ``package.module:Name``) and making it.

Loading a file runs its code: that is what importing a model means, and the user asks for it.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from torch import nn

from .errors import ImportProblem


def _load_file(path: Path) -> Any:
    if not path.is_file():
        raise ImportProblem(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    name = path.stem if path.stem.isidentifier() else "imported_model"
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) != str(path.resolve()):
        name = f"_modstudio_import_{name}"
    spec = importlib.util.spec_from_file_location(name, path.resolve())
    if spec is None or spec.loader is None:
        raise ImportProblem(f"{path} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look classes up there
    sys.path.insert(0, str(path.resolve().parent))  # its own sibling imports
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ImportProblem(f"running {path} failed: {_short(exc)}") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def _short(exc: BaseException) -> str:
    """``Type: message (file.py:12)`` for the innermost frame of the failing code."""
    if isinstance(exc, SyntaxError):  # its own message names the file and line; its frames are Python's
        return f"{type(exc).__name__}: {exc.msg} ({Path(exc.filename or '?').name}, line {exc.lineno})"
    frames = inspect.getinnerframes(exc.__traceback__) if exc.__traceback__ else []
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def find(source: str) -> Any:
    """The class or function a SOURCE names."""
    place, colon, name = source.rpartition(":")
    if not colon or not place or not name:
        raise ImportProblem(f"SOURCE must be path/to/file.py:Name or package.module:Name, not {source!r}")
    if place.endswith(".py") or "/" in place or "\\" in place:
        module = _load_file(Path(place))
    else:
        try:
            module = importlib.import_module(place)
        except ModuleNotFoundError as exc:
            raise ImportProblem(f"no Python module named {exc.name!r} (from {source!r})") from None
        except Exception as exc:
            raise ImportProblem(f"importing {place} failed: {_short(exc)}") from None
    if not hasattr(module, name):
        offered = sorted(
            k
            for k, v in vars(module).items()
            if not k.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
        )
        hint = f"; it defines {', '.join(offered)}" if offered else ""
        raise ImportProblem(f"{place} has no {name!r}{hint}")
    return getattr(module, name)


def defined_at(found: Any) -> str:
    """``file.py:LINE`` where a class or function is defined ("" when Python cannot tell)."""
    try:
        return f"{Path(inspect.getsourcefile(found) or '').name}:{inspect.getsourcelines(found)[1]}"
    except (OSError, TypeError):
        return ""


def make_model(source: str, args: dict[str, Any]) -> tuple[nn.Module, str]:
    """The nn.Module from a SOURCE: a class instantiated, or a function called, with ``args``; and where
    that class or function is defined (the line to name for a layer that has no line of its own: one in
    an ``nn.Sequential`` a factory returns)."""
    found = find(source)
    if not callable(found):
        raise ImportProblem(f"{source} is a {type(found).__name__}, not an nn.Module class or a function")
    if inspect.isclass(found) and not issubclass(found, nn.Module):
        raise ImportProblem(f"{source} is a class but not an nn.Module")
    try:
        inspect.signature(found).bind(**args)
    except TypeError as exc:
        raise ImportProblem(f"{source} does not take these --args: {exc}") from None
    except ValueError:
        pass  # no signature to check (a builtin): calling it says
    try:
        model = found(**args)
    except Exception as exc:
        raise ImportProblem(f"making the model with {source} failed: {_short(exc)}") from None
    if not isinstance(model, nn.Module):
        raise ImportProblem(f"{source} returned a {type(model).__name__}, not an nn.Module")
    return model, defined_at(found)


# prefixes a training wrapper puts before every key: DistributedDataParallel / DataParallel, torch.compile
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# where checkpoints keep the model's weights beside other things (epoch, optimizer state...)
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights")


def load_weights(model: nn.Module, path: Path) -> None:
    """``--weights``: a .safetensors file or a torch.load(weights_only=True) state dict, loaded strictly. A
    checkpoint's weights are taken from its one state dict (``state_dict``, ``model``...), and the keys of a
    wrapped model (``module.fc.weight``) are read without the wrapper's prefix."""
    import pickle

    import torch

    if not path.is_file():
        raise ImportProblem(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            loaded: Any = load_file(str(path))
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ImportProblem(
            f"cannot read the weights in {path}: it is not a state dict that torch.load(weights_only=True) reads "
            "(a whole model saved with torch.save(model) is Python objects, never unpickled here): save "
            "model.state_dict() or a .safetensors file"
        ) from None
    except Exception as exc:
        raise ImportProblem(f"cannot read the weights in {path}: {_short(exc)}") from None
    own = set(model.state_dict())
    state = _unwrapped(_state_dict_in(loaded, path), own)
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        parts = [
            f"missing {', '.join(missing[:5])}" if missing else "",
            f"unknown {', '.join(unexpected[:5])}" if unexpected else "",
        ]
        raise ImportProblem(f"the weights in {path} do not fit the model: {'; '.join(p for p in parts if p)}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ImportProblem(
            f"the weights in {path} do not fit the model: {str(exc).splitlines()[-1].strip()}"
        ) from None


def _is_state_dict(value: Any) -> bool:
    import torch

    return isinstance(value, dict) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def _state_dict_in(loaded: Any, path: Path) -> dict[str, Any]:
    """The state dict a file holds: itself, or a checkpoint's one state dict (under a usual key, or alone)."""
    if _is_state_dict(loaded):
        return loaded
    if isinstance(loaded, dict):
        nested = [k for k, v in loaded.items() if _is_state_dict(v)]
        usual = [k for k in CHECKPOINT_KEYS if k in nested]
        if usual or len(nested) == 1:
            return loaded[(usual or nested)[0]]
        if nested:
            raise ImportProblem(
                f"{path} holds several sets of weights ({', '.join(map(str, nested[:5]))}): save the model's alone"
            )
    raise ImportProblem(f"{path} does not hold a state dict (names -> tensors)")


def _unwrapped(state: dict[str, Any], own: set[str]) -> dict[str, Any]:
    """``state`` without the prefixes a training wrapper added to every key, where the model's keys have none."""
    changed = True
    while changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in state) and not own & set(state):
                state, changed = {k[len(prefix) :]: v for k, v in state.items()}, True
    return state
