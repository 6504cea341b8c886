"""``modstudio analyze FILE`` and ``modstudio graft FILE --from OTHER ...``: their arguments and what
they print.

Exit 0 when done; 2 with a sentence for a bad input; 1 when the result cannot be written.
Torch loads only when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modstudio.exits import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK, write_project


def add_analysis_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="costs, weight-graph modularity and specialization of a trained run")
    p.add_argument("file", help="project file (.msproj)")
    p.add_argument(
        "--run", dest="run_folder", default="latest", help="a run folder, or 'latest' (default) beside the project"
    )
    p.add_argument("--shuffles", type=int, default=5, help="shuffled twins for the modularity baseline (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the community search and the shuffles")
    p.set_defaults(run=cmd_analyze)

    p = sub.add_parser("graft", help="bring a trained module from another project's run into this project")
    p.add_argument("file", help="project file (.msproj) that receives the module")
    p.add_argument("--from", dest="source", required=True, help="the other project (.msproj)")
    p.add_argument("--run", dest="run_folder", required=True, help="its run folder, or 'latest' beside it")
    p.add_argument("--module", required=True, help="the module (ModuleDef) to bring over, with what it uses")
    p.add_argument("--frozen", action="store_true", help="keep its trained weights frozen in training")
    p.add_argument("--into", help="the module that gets the new node (default: the main module)")
    p.add_argument("--replace", help="a node there whose place and wires the grafted module takes")
    p.add_argument("--weights-of", help="which use of the module in the run holds the weights (a path, e.g. block1)")
    p.add_argument("-o", "--output", help="project file to write (default: FILE itself)")
    p.set_defaults(run=cmd_graft)


def cmd_analyze(args: argparse.Namespace) -> int:
    from modstudio.blocks import default_catalog
    from modstudio.engine.analysis.report import analyze_run, find_run, save_analysis
    from modstudio.engine.analysis.tables import format_analysis
    from modstudio.engine.errors import EngineError

    if args.shuffles < 1:
        print(f"error: --shuffles must be at least 1, not {args.shuffles}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        run = find_run(Path(args.file).resolve(), args.run_folder)
        analysis = analyze_run(run, default_catalog(), shuffles=args.shuffles, seed=args.seed)
    except EngineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(format_analysis(analysis))
    try:
        target = save_analysis(run, analysis)
    except OSError as exc:
        print(f"error: cannot write the analysis into {run}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"\nwrote {target}")
    return EXIT_OK


def cmd_graft(args: argparse.Namespace) -> int:
    from modstudio.blocks import default_catalog
    from modstudio.engine.analysis.grafting import GraftError, graft_from_run
    from modstudio.graph.io import load_project
    from modstudio.graph.problems import ProjectError

    catalog = default_catalog()
    out = Path(args.output or args.file)
    try:
        project = load_project(args.file, catalog)
        source = load_project(args.source, catalog)
    except ProjectError as exc:
        print(exc.describe(), file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        note = graft_from_run(
            project, source, Path(args.source), args.run_folder, args.module, out.resolve().parent, catalog,
            frozen=args.frozen, into=args.into, replace=args.replace, weights_of=args.weights_of,
        )  # fmt: skip
    except GraftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if write_project(project, out) != EXIT_OK:
        return EXIT_ERROR
    print(f"{note}; wrote {out}")
    return EXIT_OK
