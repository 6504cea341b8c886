"""``modstudio`` on the command line: the same layers as the GUI, headless.

    modstudio templates                       list the project templates
    modstudio new --template NAME -o FILE     start a project from a template
    modstudio validate FILE                   check a project; print its module tree

A bad file gives the named problems on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from modstudio import __version__

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2


def _catalog():
    from modstudio.blocks import default_catalog

    return default_catalog()


def cmd_templates(args: argparse.Namespace) -> int:
    from modstudio.library import templates

    infos = templates()
    width = max(len(t.name) for t in infos)
    for info in infos:
        print(f"{info.name.ljust(width)}  {info.title}")
        if args.verbose and info.doc:
            print(f"{' ' * width}  {info.doc}")
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    from modstudio.graph.io import save_project
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
    try:
        save_project(project, out)
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return EXIT_ERROR
    print(f"wrote {out} (from template '{args.template}': {project.name})")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from modstudio.compile.graphnet import CompileError
    from modstudio.compile.summary import format_summary, summarize
    from modstudio.graph.io import load_project
    from modstudio.graph.problems import ProjectError

    try:
        project = load_project(args.file, _catalog())
    except ProjectError as exc:
        print(exc.describe(), file=sys.stderr)
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
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modstudio", description="A studio for modular deep learning.")
    parser.add_argument("--version", action="version", version=f"modstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("templates", help="list the project templates")
    p.add_argument("-v", "--verbose", action="store_true", help="also print each template's description")
    p.set_defaults(run=cmd_templates)

    p = sub.add_parser("new", help="write a new project from a template")
    p.add_argument("--template", required=True, help="template name (see `modstudio templates`)")
    p.add_argument("-o", "--output", required=True, help="project file to write (.msproj)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(run=cmd_new)

    p = sub.add_parser("validate", help="check a project and print its module tree")
    p.add_argument("file", help="project file (.msproj)")
    p.set_defaults(run=cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_OK
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
