"""Training the digits CNN alone and beside one competing 2-thread process, as ``modstudio train`` runs it.

Each round trains the cnn_digits template (its 20 epochs unless ``--epochs``) with
``python -m modstudio train`` (the product's default thread policy; ``--threads`` passes
that flag on) twice: alone, then while another Python process multiplies matrices with
torch on 2 threads (started and warmed before the run, killed after it). Rounds alternate
the order. The rival runs in a session of its own, like a program started from another
terminal or job: where Linux shares CPU time between sessions first (autogroup, on by
default), a rival in the bench's own session would split that session's share with the
run, which no thread count changes (``--same-session`` measures that case).

Reports wall time (process start to exit) and training time (``seconds`` in the run's
run.json) per case, the medians, and as last line ``ratio: X`` = contended / alone
training time (median over rounds; goal: at most 2.5). The wall-time ratio is printed too.

    python bench/train_contention.py [--rounds 3] [--epochs 20] [--threads N] [--same-session]

It runs whatever ``modstudio`` the interpreter imports (PYTHONPATH decides), so the same
script measures an older checkout too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "resources" / "templates" / "cnn_digits.msproj"
COMPETITOR = """
import sys, torch
torch.set_num_threads(2)
a = torch.randn(768, 768)
b = a @ a
print("ready", flush=True)
while True:
    b = a @ a
"""


def train_once(args: argparse.Namespace, runs: Path) -> tuple[float, float, object]:
    """(wall seconds, training seconds, the threads its run.json records) of one ``modstudio train`` run."""
    out = Path(tempfile.mkdtemp(dir=runs))
    command = [sys.executable, "-m", "modstudio", "train", str(TEMPLATE), "--out", str(out), "-q"]
    if args.epochs:
        command += ["--epochs", str(args.epochs)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"modstudio train failed ({done.returncode}):\n{done.stderr[-2000:]}")
    (record,) = out.glob("*/run.json")
    run = json.loads(record.read_text())
    return wall, float(run["seconds"]), run.get("settings", {}).get("threads")


def contended(args: argparse.Namespace, runs: Path) -> tuple[float, float, object]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    rival = subprocess.Popen(
        [sys.executable, "-c", COMPETITOR],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=not args.same_session,  # another program, as from another terminal or job
    )
    try:
        assert rival.stdout is not None and rival.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # both of its threads busy before the run starts
        return train_once(args, runs)
    finally:
        rival.kill()
        rival.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=0, help="epochs per run (0: the template's)")
    parser.add_argument("--threads", type=int, default=0, help="pass --threads N to modstudio train (0: its default)")
    parser.add_argument(
        "--same-session",
        action="store_true",
        help="start the rival in this bench's session (Linux's autogroup then splits one session's CPU share "
        "between the rival's 2 threads and the run)",
    )
    args = parser.parse_args()
    print(f"cores usable: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}")
    times: dict[str, list[tuple[float, float]]] = {"alone": [], "contended": []}
    with tempfile.TemporaryDirectory() as folder:
        runs = Path(folder)
        for round_ in range(args.rounds):
            order = ("alone", "contended") if round_ % 2 == 0 else ("contended", "alone")
            for case in order:
                wall, train, threads = train_once(args, runs) if case == "alone" else contended(args, runs)
                times[case].append((wall, train))
                print(
                    f"round {round_ + 1} {case:9s}: wall {wall:6.2f} s, training {train:6.2f} s, threads {threads}",
                    flush=True,
                )
    medians = {case: [statistics.median(t[i] for t in values) for i in (0, 1)] for case, values in times.items()}
    for case, (wall, train) in medians.items():
        print(f"median {case:9s}: wall {wall:6.2f} s, training {train:6.2f} s")
    print(f"wall ratio: {medians['contended'][0] / medians['alone'][0]:.2f}")
    print(f"ratio: {medians['contended'][1] / medians['alone'][1]:.2f}")


if __name__ == "__main__":
    main()
