"""``modstudio doctor FILE --run RUN``: diagnose the routing of a trained run, optionally apply a fix.

Exit 0 when the run is healthy, 1 when problems were found, 2 for a bad input (a named problem on
stderr). ``--apply N.M`` applies fix M of diagnosis N to FILE as one edit and saves it (``-o`` for
another file); the exit status still reports the diagnosis. Torch loads only for the sequence
measures (a network that sees sequences) and for re-initialising an expert.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from modstudio.exits import EXIT_BAD_INPUT, EXIT_OK, write_project

if TYPE_CHECKING:
    from modstudio.graph.model import Project
    from modstudio.graph.schema import BlockCatalog

    from .diagnoses import Diagnosis
    from .fixes import Fix
    from .sequences import SequenceRouting

EXIT_HEALTHY = EXIT_OK
EXIT_PROBLEMS = 1  # problems found; also a fix that could not be written


def add_doctor_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="diagnose a run's routing (collapse, dead experts, drops, ...) and suggest fixes")
    p.add_argument("file", help="project file (.msproj); fixes are edits of it")
    p.add_argument("--run", dest="run_folder", default="latest", help="a run folder, or 'latest' (default)")
    p.add_argument("--json", action="store_true", help="print the diagnoses as JSON")
    p.add_argument("--no-sequences", action="store_true", help="skip the routing-over-sequences pass (torch)")
    p.add_argument("--apply", metavar="N.M", help="apply fix M of diagnosis N (as printed) to the project")
    p.add_argument("-o", "--output", help="with --apply: project file to write (default: FILE itself)")
    p.set_defaults(run=cmd_doctor)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def cmd_doctor(args: argparse.Namespace) -> int:
    from modstudio.blocks import default_catalog
    from modstudio.engine.errors import EngineError
    from modstudio.graph.io import load_project
    from modstudio.graph.problems import ProjectError

    from .report import diagnose_run, find_run_folder, format_diagnoses, has_weights
    from .sequence_pass import run_sequences

    catalog = default_catalog()
    file = Path(args.file).resolve()
    try:
        project = load_project(file, catalog)
    except ProjectError as exc:
        print(exc.describe(), file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        run = find_run_folder(file, args.run_folder)
        history, diagnoses = diagnose_run(run, project, catalog)
    except EngineError as exc:
        return _fail(exc.message)
    chosen = None
    if args.apply:
        chosen = _chosen_fix(args.apply, diagnoses)
        if isinstance(chosen, str):
            return _fail(chosen)
    sequences: list[SequenceRouting] = []
    if not args.no_sequences and has_weights(run):
        try:
            sequences = run_sequences(run, catalog)
        except EngineError as exc:
            print(f"note: no sequence measures: {exc.message}", file=sys.stderr)
    if args.json:
        print(json.dumps({"run": str(run), "diagnoses": [d.to_dict() for d in diagnoses],
                          "sequences": [s.to_dict() for s in sequences]}, indent=1))  # fmt: skip
    else:
        print(format_diagnoses(run, history, diagnoses))
        if sequences:
            print("sequences (Mixtral's measure: consecutive tokens on the same expert):")
            for found in sequences:
                print("\n".join("  " + line for line in found.lines()))
    if chosen is not None:
        status = _apply(chosen, project, catalog, run, Path(args.output or file))
        if status != EXIT_HEALTHY:
            return status
    return EXIT_PROBLEMS if diagnoses else EXIT_HEALTHY


def _chosen_fix(text: str, diagnoses: list[Diagnosis]) -> Fix | str:
    try:
        number, index = (int(part) for part in text.split("."))
    except ValueError:
        return f"--apply takes N.M (fix M of diagnosis N, as printed), not '{text}'"
    if not 1 <= number <= len(diagnoses) or not 1 <= index <= len(diagnoses[number - 1].fixes):
        return f"there is no fix {text} (the run has {len(diagnoses)} diagnoses; see the list without --apply)"
    return diagnoses[number - 1].fixes[index - 1]


def _apply(fix: Fix, project: Project, catalog: BlockCatalog, run: Path, out: Path) -> int:
    from modstudio.graph.document import Document, OperationError

    from .fixes import FixError, fix_operation

    weights = None
    try:
        if fix.kind == "reinit_expert":
            from .reinit import write_reinit_weights

            weights = write_reinit_weights(out.resolve(), run, fix)
        doc = Document(project, catalog)
        op = fix_operation(project, catalog, fix, weights)
        doc.apply(op)
    except (FixError, OperationError) as exc:
        return _fail(f"cannot apply '{fix.label}': {exc}")
    except Exception as exc:  # an EngineError or WeightsError from the weights
        return _fail(f"cannot apply '{fix.label}': {getattr(exc, 'message', exc)}")
    if write_project(project, out) != EXIT_OK:
        return EXIT_PROBLEMS
    print(f"applied: {op.description}; wrote {out}")
    return EXIT_HEALTHY
