"""``modstudio`` on the command line: the same layers as the GUI, headless.

    modstudio templates                       list the project templates
    modstudio new --template NAME -o FILE     start a project from a template
    modstudio validate FILE                   check a project; print its module tree
    modstudio train FILE [--epochs N] ...     train it; progress, per-epoch lines, a summary
    modstudio analyze FILE [--run RUN]        costs, modularity and specialization of a run
    modstudio evaluate FILE [--run RUN] [--report DIR]   confusion, calibration, per-expert accuracy of a run
    modstudio graft FILE --from OTHER --run RUN --module NAME   bring in a trained module
    modstudio import SOURCE -o FILE.msproj    bring a PyTorch model in (file.py:Name)
    modstudio doctor FILE [--run RUN]         diagnose a run's routing, suggest and apply fixes
    modstudio experts FILE --run RUN prune|clone|freeze|unfreeze|upcycle ...   expert surgery
    modstudio search FILE [--trials N] ...    search over the project's marked settings (Optuna)
    modstudio watch RUN_DIR                   follow a run folder live in the dashboard (a Tracker's too)
    modstudio --selftest [TEMPLATE]           train one epoch in the worker, export, check (headless)
    modstudio [FILE]                          open the editor (on FILE, or on the default project)

A bad file gives the named problems on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from modstudio import __version__
from modstudio.engine.analysis.cli import add_analysis_commands
from modstudio.engine.doctor.cli import add_doctor_command
from modstudio.engine.evaluation.cli import add_evaluate_command
from modstudio.engine.search.cli import add_search_command
from modstudio.engine.surgery.cli import add_experts_command
from modstudio.exits import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK, write_project
from modstudio.importer.cli import add_import_command
from modstudio.ui.run_watch_cli import add_watch_command


def _catalog():
    from modstudio.blocks import default_catalog

    return default_catalog()


def cmd_templates(args: argparse.Namespace) -> int:
    import textwrap

    from modstudio.library import templates

    infos = templates()
    width = max(len(t.name) for t in infos)
    for info in infos:
        source = f"  (from the plugin {info.plugin})" if info.plugin else ""
        print(f"{info.name.ljust(width)}  {info.title}{source}")
        if info.doc and not args.brief:
            indent = " " * (width + 2)
            print(textwrap.fill(info.doc, 96, initial_indent=indent, subsequent_indent=indent))
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    from modstudio.library import load_template

    out = Path(args.output)
    if out.exists() and not args.force:
        print(f"error: {out} already exists (use --force to overwrite it)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        project = load_template(args.template, _catalog())
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if write_project(project, out) != EXIT_OK:
        return EXIT_ERROR
    print(f"wrote {out} (from template '{args.template}': {project.name})")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from modstudio.compile.graphnet import CompileError
    from modstudio.compile.memory import training_refusal
    from modstudio.compile.summary import format_summary, summarize
    from modstudio.graph.io import load_project
    from modstudio.graph.problems import ProjectError

    try:
        project = load_project(args.file, _catalog())
    except ProjectError as exc:
        print(_every_problem(args.file, exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        summary = summarize(project, _catalog())
    except CompileError as exc:
        count = len(exc.problems)
        print(f"{args.file}: {count} shape problem{'s' if count != 1 else ''}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem.module}: {problem.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{project.name} ({args.file}), main module '{project.main}'")
    print(format_summary(summary))
    too_large = training_refusal(summary.memory) if summary.memory is not None else None
    if too_large:  # the file is valid: a warning, exit 0; `train` and `export` refuse it
        print(f"warning: {too_large}", file=sys.stderr)
    from modstudio.graph.search_space import all_search_problems

    for problem in all_search_problems(project, _catalog()):  # the project trains; `search` refuses it
        print(f"warning: {problem}", file=sys.stderr)
    return EXIT_OK


def _every_problem(file: str, refused: Exception) -> str:
    """All problems of a file the strict load refused, in one report: those of its fields and
    structure, nodes of unknown block types, and the shape problems of the nodes that have none of those."""
    from modstudio.compile.shapes import ShapeInference
    from modstudio.graph.problems import ProjectError
    from modstudio.graph.repair import load_leniently, node_problems

    try:
        loaded = load_leniently(file, _catalog())
    except ProjectError:
        return str(refused)  # it cannot be read any further than the strict load did
    project = loaded.project
    text = ProjectError(loaded.all_problems, file).describe()
    flagged = {node_id for name in project.modules for node_id in node_problems(loaded.all_problems, project, name)}
    more = [p for p in ShapeInference(project, _catalog()).run().errors if p.node_id not in flagged]
    if more:
        text += f"\nand {len(more)} shape problem{'s' if len(more) != 1 else ''}:"
        text += "".join(f"\n  {p.module}: {p.message}" for p in more)
    return text


def cmd_train(args: argparse.Namespace) -> int:
    from modstudio.engine.client import TrainClient
    from modstudio.engine.console import TrainConsole
    from modstudio.engine.errors import BAD_INPUT_KINDS
    from modstudio.engine.protocol import Finished, Message
    from modstudio.engine.settings import TrainSettings
    from modstudio.graph.io import load_project
    from modstudio.graph.problems import ProjectError

    if args.epochs is not None and args.epochs < 1:
        print(f"error: --epochs must be at least 1, not {args.epochs}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        project = load_project(args.file, _catalog())
    except ProjectError as exc:
        print(exc.describe(), file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.threads is not None and args.threads < 1:
        print(f"error: --threads must be at least 1, not {args.threads}", file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = TrainSettings(
        epochs=args.epochs,
        device=args.device,
        seed=args.seed,
        runs_root=args.out,
        resume=args.resume,
        threads=args.threads,
    )
    if not args.resume:  # a resumed run trains the project saved in its folder, which fitted
        from modstudio.engine.precheck import memory_problems

        for problem in memory_problems(project):
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_BAD_INPUT
    console = TrainConsole(bar=False if args.quiet else None)
    client = TrainClient()
    client.start(project, settings, Path(args.file).resolve())
    last: Message | None = None
    interrupts = 0
    while not client.finished:
        try:
            for message in client.poll(0.1):
                console.handle(message)
                last = message
        except KeyboardInterrupt:
            interrupts += 1
            if interrupts == 1:
                print("\nstopping: saving a checkpoint (Ctrl-C again to end at once)", file=sys.stderr)
                client.stop()
            else:
                client.kill()
    if isinstance(last, Finished) and last.status == "failed":
        return EXIT_BAD_INPUT if last.kind in BAD_INPUT_KINDS else EXIT_ERROR
    return 130 if interrupts else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from modstudio.compile.export import ExportError, export_project
    from modstudio.compile.export.formats import TORCHSCRIPT_DEPRECATED
    from modstudio.graph.io import load_project
    from modstudio.graph.problems import ProjectError

    try:
        project = load_project(args.file, _catalog())
    except ProjectError as exc:
        print(exc.describe(), file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.format == "torchscript":
        print(f"note: {TORCHSCRIPT_DEPRECATED}", file=sys.stderr)
    try:
        options = {"weights": args.weights, "force": args.force, "base_dir": Path(args.file).parent}
        if args.format == "torchrun":
            from modstudio.engine.torchrun import export_torchrun

            result = export_torchrun(project, args.output, **options)
        else:
            result = export_project(project, args.format, args.output, **options)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for note in result.notes:
        if note != TORCHSCRIPT_DEPRECATED:
            print(f"note: {note}", file=sys.stderr)
    worst = result.max_difference
    checked = "" if worst is None else f"; checked: outputs within {worst:.1e} of the project's"
    print(f"wrote {result.path} ({args.format}, top class {result.top_class}{checked})")
    if args.format == "torchrun":
        print(f"run it with: cd {result.path} && torchrun --nproc_per_node=2 train.py")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modstudio",
        usage="modstudio [FILE] | modstudio COMMAND ... | modstudio --selftest [TEMPLATE]",
        description="A studio for modular deep learning. `modstudio FILE` opens the editor on a project "
        "file (.msproj); `modstudio` alone opens it on a new project. The commands below work without a window.",
        epilog="Each command has its own help: modstudio COMMAND --help",
    )
    parser.add_argument("--version", action="version", version=f"modstudio {__version__}")
    parser.add_argument(
        "--selftest",
        nargs="?",
        const="moe_2d",
        metavar="TEMPLATE",
        help="check this installation: train one epoch of a template (default moe_2d), export it, exit 0 if all works",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", prog="modstudio"
    )  # "modstudio validate", not the usage

    p = sub.add_parser("templates", help="list the project templates")
    p.add_argument("--brief", action="store_true", help="names and titles only, without descriptions")
    p.set_defaults(run=cmd_templates)

    p = sub.add_parser("new", help="write a new project from a template")
    p.add_argument("--template", required=True, help="template name (see `modstudio templates`)")
    p.add_argument("-o", "--output", required=True, help="project file to write (.msproj)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(run=cmd_new)

    p = sub.add_parser("validate", help="check a project and print its module tree")
    p.add_argument("file", help="project file (.msproj)")
    p.set_defaults(run=cmd_validate)

    p = sub.add_parser("train", help="train a project in a background process; print progress and a summary")
    p.add_argument("file", help="project file (.msproj)")
    p.add_argument("--epochs", type=int, help="number of epochs (default: the project's)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="where to train (default: the project's)")
    p.add_argument("--out", help="folder for the run folder (default: <project>.runs beside the file)")
    p.add_argument("--seed", type=int, help="random seed (default: the project's)")
    p.add_argument("--resume", help="continue the run in this run folder")
    p.add_argument(
        "--threads", type=int, help="CPU threads for training (default: the free cores, by the machine's load)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar (it is shown only on a terminal anyway)")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("export", help="export a project: python, torchscript, pt2, onnx, or a torchrun folder")
    p.add_argument("file", help="project file (.msproj)")
    p.add_argument("--format", required=True, choices=("python", "torchscript", "pt2", "onnx", "torchrun"))
    p.add_argument("-o", "--output", required=True, help="file (or, for torchrun, folder) to write")
    p.add_argument("--weights", help="a .safetensors state dict, e.g. a run's best (default: fresh, from the seed)")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.set_defaults(run=cmd_export)

    add_analysis_commands(sub)
    add_evaluate_command(sub)
    add_import_command(sub)
    add_doctor_command(sub)
    add_experts_command(sub)
    add_search_command(sub)
    add_watch_command(sub)
    return parser


def launch_gui(path: str | None) -> int:
    """Open the editor (``path`` checked by :func:`unreadable_file` first); Qt is imported only here, so
    headless commands never load it."""
    from modstudio.ui.preflight import display_problem

    problem = display_problem()
    if problem is not None:  # Qt would abort the process with a core dump
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from modstudio.ui.app import run

    return run(path)


def unreadable_file(path: str) -> str | None:
    """Why ``path`` cannot be read as a project file, in a sentence; None when it can. Asked before
    plugins, torch or Qt load, so that a mistyped name is reported at once."""
    file = Path(path)
    if not file.exists():
        return f"{path} does not exist"
    if file.is_dir():
        return f"{path} is a folder, not a project file"
    try:
        with file.open("rb"):
            return None
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"


def _tell_plugin_problems() -> None:
    """Load the plugins (once per process) and say which did not load; the command carries on."""
    from modstudio.blocks.plugins import print_plugin_problems

    print_plugin_problems(sys.stderr)  # "plugin problem: <file>: <reason>"


def main(argv: Sequence[str] | None = None) -> int:
    import multiprocessing

    multiprocessing.freeze_support()  # a frozen app's training worker starts here and ends inside this call
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        _tell_plugin_problems()
        return launch_gui(None)
    if len(argv) == 1 and (argv[0].endswith(".msproj") or Path(argv[0]).is_file()):
        problem = unreadable_file(argv[0])
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_BAD_INPUT
        _tell_plugin_problems()
        return launch_gui(argv[0])
    args = parser.parse_args(argv)  # --version, --help and a command's -h end here: no plugin is imported
    for name in ("file", "source"):  # every command's FILE (and graft's --from): checked before anything loads
        problem = unreadable_file(getattr(args, name)) if getattr(args, name, None) is not None else None
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if args.selftest:
        from modstudio.selftest import run_selftest

        _tell_plugin_problems()
        return run_selftest(args.selftest)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_OK
    _tell_plugin_problems()  # every command works with blocks (templates lists the plugins' templates too)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the output went to a pager or `head` that closed early
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
