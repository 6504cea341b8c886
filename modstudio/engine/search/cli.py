"""``modstudio search FILE``: search over the project's marked settings with Optuna; a line per trial, then
the best trial (one objective) or the Pareto front (several).

Exit 0 when the search ran; 2 with the named problems for a bad input (the file, its search section, an
option, a study of other objectives); 1 when no trial completed; 130 after Ctrl-C (the first stops the
running trials, keeping their checkpoints; a second ends them at once).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from modstudio.exits import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from modstudio.engine.search.runner import Search, SearchOptions
    from modstudio.engine.search.study import TrialRow


def add_search_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search over the project's marked settings with Optuna (trials are runs)")
    p.add_argument("file", help="project file (.msproj) with a search section (settings marked in the editor)")
    p.add_argument(
        "--trials",
        type=int,
        default=20,
        help="trials the study has when done (default 20); a study resumed keeps its trials and runs the rest",
    )
    p.add_argument("--timeout", type=float, help="start no trial after this many seconds")
    p.add_argument(
        "--objectives",
        help="comma-separated: accuracy, loss, -params, -flops (default: the project's; write "
        "--objectives=-flops when the list starts with a minus)",
    )
    p.add_argument(
        "--jobs", type=int, help="trials trained at once, each in its own process (default: one per two cores)"
    )
    p.add_argument("--storage", help="an Optuna RDB URL (default: sqlite:///<project folder>/<stem>.search.db)")
    p.add_argument("--study", help="the study's name in the storage (default: the project file's stem)")
    p.add_argument("--epochs", type=int, help="epochs per trial (default: the project's)")
    p.add_argument(
        "--device", choices=("auto", "cpu", "cuda", "mps"), help="where trials train (default: the project's)"
    )
    p.add_argument("--seed", type=int, help="the sampler's seed (default: none, so processes sharing a study differ)")
    p.set_defaults(run=cmd_search)


def _bad(text: str) -> int:
    print(f"error: {text}", file=sys.stderr)
    return EXIT_BAD_INPUT


def cmd_search(args: argparse.Namespace) -> int:
    from modstudio.blocks import default_catalog
    from modstudio.engine.search.study import default_storage, default_study_name
    from modstudio.graph.io import load_project
    from modstudio.graph.problems import ProjectError
    from modstudio.graph.search_form import objectives_problem
    from modstudio.graph.search_space import all_search_problems

    for name, value, least in (("trials", args.trials, 1), ("jobs", args.jobs, 1), ("epochs", args.epochs, 1)):
        if value is not None and value < least:
            return _bad(f"--{name} must be at least {least}, not {value}")
    if args.timeout is not None and not args.timeout > 0:
        return _bad(f"--timeout must be a number of seconds above 0, not {args.timeout}")
    try:
        project = load_project(args.file, default_catalog())
    except ProjectError as exc:
        print(exc.describe(), file=sys.stderr)
        return EXIT_BAD_INPUT
    if project.search is None or not project.search.dimensions:
        return _bad(f"{args.file} has no search dimensions: mark the settings to search in the editor (inspector)")
    problems = all_search_problems(project, default_catalog())
    if problems:
        print(ProjectError(problems, args.file).describe(), file=sys.stderr)
        return EXIT_BAD_INPUT
    objectives = args.objectives.split(",") if args.objectives else list(project.search.objectives)
    objectives = [o.strip() for o in objectives]
    why = objectives_problem(objectives)
    if why:
        return _bad(f"--objectives: {why}")
    from modstudio.engine.search.runner import Search, SearchOptions, default_jobs

    path = Path(args.file).resolve()
    options = SearchOptions(
        trials=args.trials,
        objectives=objectives,
        storage=args.storage or default_storage(path),
        study_name=args.study or default_study_name(path),
        jobs=args.jobs or default_jobs(),
        timeout=args.timeout,
        epochs=args.epochs,
        device=args.device,
        seed=args.seed,
    )
    return _run(Search(project, path, options, report=_printer(objectives)), options)


def _run(search: Search, options: SearchOptions) -> int:
    from modstudio.engine.search.report import best_lines, header_lines
    from modstudio.engine.search.runner import SearchError
    from modstudio.engine.search.study import read_trials

    try:
        study = search.open_study()
    except SearchError as exc:
        return _bad(str(exc))
    for line in header_lines(search, read_trials(options.storage, options.study_name)):
        print(line, flush=True)
    interrupts = 0

    def interrupted(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            print(
                "\nstopping: the running trials stop and keep a checkpoint (Ctrl-C again to end them at once)",
                file=sys.stderr,
            )
            search.stop()
        else:
            search.kill()

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interrupted) if main else signal.SIG_DFL
    try:
        search.run(study)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    rows = read_trials(options.storage, options.study_name)
    lines, any_complete = best_lines(rows, options.objectives)
    for line in lines:
        print(line)
    if interrupts:
        return 130
    return EXIT_OK if any_complete else EXIT_ERROR


def _printer(objectives: list[str]) -> Callable[[TrialRow], None]:
    from modstudio.engine.search.report import trial_line

    lock = threading.Lock()

    def report(row: TrialRow) -> None:
        with lock:
            print(trial_line(row, objectives), flush=True)

    return report
