"""How many CPU threads a training worker uses: one policy for ``modstudio train`` and the editor.

torch's default is one thread per core. On a machine where another program already keeps
cores busy that is ruinous: torch's threads wait at every parallel step for a thread the OS
has set aside (the digits CNN took 76 s instead of 4 s beside one 2-thread process on 2
cores; bench/train_contention.py). So, unless the user asks for a number (``--threads`` of
``modstudio train``, ``TrainSettings.threads``), the worker takes the cores this process may
run on (its CPU affinity), minus what other programs keep busy (the larger of the runnable
tasks now and the 1-minute load average), minus the cores the caller keeps free (the editor
keeps one for its interface), and at least one. The larger of the two loads, because the
costs are lopsided: a thread too few costs at most its share of the work, a thread too many
on a busy core costs many times the whole run.

No torch here: the decision is made in the worker before torch is imported (the OpenMP and
MKL variables only count then); ``use_threads`` then tells torch (intra-op and inter-op).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modstudio.engine.errors import EngineError

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
LOAD_SAMPLES = 5  # snapshots of the run queue, LOAD_GAP apart; their median is the load now
LOAD_GAP = 0.01


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def runnable_now(read: Callable[[], str] = lambda: Path("/proc/loadavg").read_text()) -> float | None:
    """Tasks running or ready to run on the machine now, besides this one (Linux's /proc/loadavg); None elsewhere."""
    samples = []
    for i in range(LOAD_SAMPLES):
        try:
            running = int(read().split()[3].split("/")[0])
        except (OSError, IndexError, ValueError):
            return None
        samples.append(max(0, running - 1))  # the reading process counts itself
        if i + 1 < LOAD_SAMPLES:
            time.sleep(LOAD_GAP)
    return float(statistics.median(samples))


def busy_cores() -> float:
    """How many cores other programs keep busy: the larger of the load now and the 1-minute load average."""
    now = runnable_now()
    try:
        minute = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has no load average
        minute = 0.0
    return max(now or 0.0, minute)


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    why: str  # for the run's record and the log: "asked", or the cores and load it was computed from


def training_threads(
    asked: int | None = None, keep_free: int = 0, cores: int | None = None, busy: float | None = None
) -> ThreadChoice:
    """The worker's thread count: ``asked`` if given, else free cores (see the module's text), at least 1."""
    if asked is not None:
        if asked < 1:
            raise EngineError(f"threads must be at least 1, not {asked}", "settings")
        return ThreadChoice(asked, "asked")
    cores = usable_cores() if cores is None else cores
    busy = busy_cores() if busy is None else busy
    free = min(cores - max(0, keep_free), int(cores - busy + 0.5))
    return ThreadChoice(max(1, free), f"{cores} cores, {busy:.1f} busy elsewhere, {max(0, keep_free)} kept free")


def interface_cores() -> int:
    """Cores the editor keeps for its own window while a run trains: one, if there is more than one."""
    return 1 if usable_cores() > 1 else 0


def prepare_worker(settings: dict[str, Any], environ: MutableMapping[str, str] = os.environ) -> dict[str, Any]:
    """In a new worker process, before torch is imported: decide the threads and set OpenMP/MKL's variables.

    Returns the settings with ``threads`` filled in (a bad asked number is left for ``use_threads``
    to report as the run's error).
    """
    asked = settings.get("threads")
    if isinstance(asked, int) and asked < 1:
        return settings
    choice = training_threads(asked, int(settings.get("keep_cores_free") or 0))
    for name in THREAD_VARIABLES:
        environ[name] = str(choice.threads)
    return {**settings, "threads": choice.threads}


def use_threads(asked: int | None) -> None:
    """Tell torch the thread count (intra-op and inter-op), checked as ``training_threads`` does.

    None leaves torch as it is: only a run inside the caller's process (a test, a bench) has no
    number; the worker always gets one from ``prepare_worker``.
    """
    if asked is None:
        return
    import torch  # this module stays importable without torch; only this function needs it

    threads = training_threads(asked).threads
    torch.set_num_threads(threads)
    if torch.get_num_interop_threads() != threads:
        # inter-op work already ran in this process (a test, a notebook): torch refuses; keep its number
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(threads)
