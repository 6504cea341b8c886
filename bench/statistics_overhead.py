"""Cost of the statistics over time on training (issue 19: at most 3% with statistics every 50 steps).

The cnn_digits template (or ``--template``) is prepared as a run is and trained with the engine's own
train step (``Trainer._step``: forward, loss, backward, optimizer step), on the training batches in
order. Rounds of ``--steps`` steps (50: each round with statistics holds exactly one record, hooks,
histograms, the host copy, the message and its line in statistics.jsonl included) alternate between
statistics off and every 50 steps on the same trainer, the order swapped each round; the last line is
the median per-round ratio on/off, ``ratio: X``.

    python bench/statistics_overhead.py [--template cnn_digits] [--rounds 20] [--steps 50] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator

import torch
from overhead_rounds import alternate, report

from modstudio.blocks import default_catalog
from modstudio.engine.data import Batch
from modstudio.engine.session import prepare
from modstudio.engine.settings import TrainSettings
from modstudio.engine.statistics import StatisticsRecorder
from modstudio.engine.train import Trainer
from modstudio.library import load_template

EVERY = 50


def batches(trainer: Trainer) -> Iterator[tuple[Batch, int]]:
    epoch = 0
    while True:
        for batch in trainer.s.stream.epoch(epoch):
            yield batch, epoch
        epoch += 1


def timed(trainer: Trainer, feed: Iterator[tuple[Batch, int]], steps: int) -> tuple[float, float]:
    """(wall, process CPU) seconds per step over ``steps`` train steps (synchronised on a GPU); CPU time
    is less hurt by a busy machine."""
    device = trainer.s.device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        batch, epoch = next(feed)
        trainer._step(batch, epoch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="cnn_digits")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=EVERY, help="steps per timed round (a multiple of 50)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    project = load_template(args.template, default_catalog())
    project.training.statistics_every = EVERY
    with tempfile.TemporaryDirectory() as runs:
        settings = TrainSettings(runs_root=runs, device=args.device, live_views=False)
        session = prepare(project, settings)
        trainer = Trainer(session, lambda message: None)
        recorder = trainer.statistics
        assert isinstance(recorder, StatisticsRecorder)
        feed = batches(trainer)
        session.net.train()
        for on in (None, recorder):  # warm up both
            trainer.statistics = on
            timed(trainer, feed, args.steps)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {session.device}")
        print(
            f"{args.template}: {sum(p.numel() for p in session.net.parameters()):,} parameters, "
            f"batch {project.data.batch_size}, {len(recorder.modules)} modules recorded every {EVERY} steps"
        )

        def run(key: str) -> tuple[float, float]:
            trainer.statistics = recorder if key == "on" else None
            return timed(trainer, feed, args.steps)

        samples = alternate(run, args.rounds)
        records = len(session.folder.read_lines("statistics.jsonl"))
        session.folder.close()
    detail = f"{args.rounds} rounds x {args.steps} steps, {records} records written"
    report(samples, "statistics off", f"every {EVERY} steps", detail)


if __name__ == "__main__":
    main()
