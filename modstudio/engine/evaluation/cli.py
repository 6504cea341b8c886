"""``modstudio evaluate FILE --run RUN|latest [--split test|val|train] [--device D] [--report DIR]``: a
trained run on one split, printed as tables; with ``--report`` an HTML report as well.

Exit 0 when done; 2 with a sentence for a bad input, an unavailable device included (no traceback,
nothing written); 1 when the report cannot be written. Torch loads only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modstudio.exits import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK

EXPLAIN = ("integrated_gradients", "saliency", "off")


def add_evaluate_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="what a trained run gets right and wrong, per class and per expert")
    p.add_argument("file", help="project file (.msproj)")
    p.add_argument("--run", dest="run_folder", default="latest", help="a run folder, or 'latest' (default)")
    p.add_argument("--split", default="test", choices=("test", "val", "train"), help="which split (default test)")
    p.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda", "mps"),
        help="where the network runs (default auto: CUDA, else MPS, else the CPU)",
    )
    p.add_argument("--report", metavar="DIR", help="write an HTML report (index.html, PNGs, evaluation.json) into DIR")
    p.add_argument(
        "--explain",
        default="integrated_gradients",
        choices=EXPLAIN,
        help="attributions (Captum, the 'explain' extra) for the report; 'off' for none",
    )
    p.add_argument("--sample", type=int, help="explain this sample of the split on its own (its index)")
    p.add_argument("--target", type=int, help="with --sample: the class to explain (default: the predicted one)")
    p.add_argument("--no-what-if", action="store_true", help="skip re-running with each expert or member removed")
    p.set_defaults(run=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from modstudio.blocks import default_catalog
    from modstudio.engine.analysis.report import find_run
    from modstudio.engine.errors import EngineError

    from .attribution import captum_missing
    from .evaluate import evaluate_run
    from .tables import format_evaluation

    if args.target is not None and args.sample is None:
        print("error: --target needs --sample (the sample whose class it explains)", file=sys.stderr)
        return EXIT_BAD_INPUT
    explain = None if args.explain == "off" else args.explain
    missing = captum_missing()
    notes = []
    if missing and args.sample is not None:
        print(f"error: {missing}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if missing and explain:
        explain = None
        notes.append(f"no attributions: {missing}")
    if explain is None and args.sample is not None:
        explain = "integrated_gradients"
    try:
        run = find_run(Path(args.file).resolve(), args.run_folder)
        sample = None if args.sample is None else (args.sample, args.target)
        result = evaluate_run(
            run,
            args.split,
            default_catalog(),
            explain=explain if args.report else None,
            what_if=not args.no_what_if,
            sample=sample,
            device=args.device,
        )
    except EngineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    result["notes"] += notes
    if notes:
        result["attributions_note"] = notes[0]
    print(format_evaluation(result))
    if args.report:
        from .report import write_report

        try:
            target = write_report(result, Path(args.report))
        except OSError as exc:
            print(f"error: cannot write the report into {args.report}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
        print(f"\nwrote {target}")
    return EXIT_OK
