"""``modstudio experts FILE --run RUN freeze|unfreeze|prune|clone|upcycle ...``: expert surgery.

    modstudio experts net.msproj --run latest -o pruned.msproj prune --layer moe --keep 4
    modstudio experts net.msproj -o one.msproj freeze --layer moe --expert 2
    modstudio experts net.msproj -o moe.msproj upcycle --node ffn --experts 8 --k 2

Writes the edited project and its new starting weights (``<stem>.<surgery>.init.safetensors``
beside it); prints what was measured. Exit 0 when done; 2 with a sentence for a bad input
(nothing written); 1 when the result cannot be written. Torch loads only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from modstudio.exits import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK, write_project

if TYPE_CHECKING:  # torch comes with these: imported when the command runs
    from modstudio.engine.surgery.surgery import Request, Surgery
    from modstudio.graph.model import Project
    from modstudio.graph.schema import BlockCatalog


def add_experts_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "experts",
        help="expert surgery from a trained run: freeze, unfreeze, prune, clone, upcycle",
        description="Operate on the experts of a mixture with the weights of a trained run; writes the edited "
        "project and its new starting weights beside it.",
    )
    p.add_argument("file", help="project file (.msproj)")
    p.add_argument(
        "--run", dest="run_folder", default="latest", help="a run folder, or 'latest' (default) beside the project"
    )
    p.add_argument("-o", "--output", help="project file to write (default: FILE itself, which needs --force)")
    p.add_argument("--force", action="store_true", help="overwrite the output project file")
    actions = p.add_subparsers(dest="action", metavar="SURGERY", required=True)

    def action(name: str, text: str, layer: str = "--layer") -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=text, description=text)
        what = "the dense node to replace" if layer == "--node" else "the Mixture of Experts node"
        a.add_argument(layer, dest="layer", required=True, help=f"{what} (its name)")
        a.add_argument("--module", help="the module that holds it, when several have a node of that name")
        return a

    a = action("freeze", "freeze all experts but one (and the router), to fine-tune that expert")
    a.add_argument("--expert", type=int, required=True, help="the expert that trains (counted from 0)")
    a.add_argument("--train-router", action="store_true", help="let the router train as well")
    action("unfreeze", "train every expert again")
    a = action("prune", "remove the least important experts (routed share x mean gate confidence)")
    a.add_argument("--keep", type=int, help="experts to keep")
    a.add_argument("--fraction", type=float, help="share of the experts to remove (NLLB removed 0.8)")
    a = action("clone", "add a copy of an expert (plus small noise), its router row split in two")
    a.add_argument("--expert", type=int, required=True, help="the expert to copy (counted from 0)")
    a.add_argument("--noise", type=float, default=0.01, help="noise scale, times each tensor's std (default 0.01)")
    a.add_argument("--seed", type=int, default=0, help="seed of the noise")
    a = action("upcycle", "replace a dense feed-forward node by a mixture of copies of it (sparse upcycling)", "--node")
    a.add_argument("--experts", type=int, default=8, help="number of experts (default 8)")
    a.add_argument("--k", type=int, default=2, help="experts per token (default 2)")
    a.add_argument("--gate", default="topk", choices=("topk", "noisy_topk", "switch"), help="the gate (default topk)")
    a.add_argument("--seed", type=int, default=0, help="seed of the fresh router")
    p.set_defaults(run=cmd_experts)


def _request(args: argparse.Namespace) -> Request:
    from modstudio.engine.surgery.surgery import Request

    fields = ("module", "expert", "keep", "fraction", "train_router", "experts", "k", "gate", "noise", "seed")
    return Request(args.action, args.layer, **{f: getattr(args, f) for f in fields if hasattr(args, f)})


def cmd_experts(args: argparse.Namespace) -> int:
    from modstudio.blocks import default_catalog
    from modstudio.graph.io import load_project
    from modstudio.graph.problems import ProjectError

    source = Path(args.file)
    out = Path(args.output or args.file)
    if out.exists() and not args.force:
        print(f"error: {out} already exists (use --force to overwrite it, or -o another file)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not out.resolve().parent.is_dir():
        print(f"error: cannot write {out}: folder {out.resolve().parent} does not exist", file=sys.stderr)
        return EXIT_BAD_INPUT
    catalog = default_catalog()
    try:
        project = load_project(source, catalog)
    except ProjectError as exc:
        print(exc.describe(), file=sys.stderr)
        return EXIT_BAD_INPUT
    from modstudio.engine.analysis.report import find_run
    from modstudio.engine.errors import EngineError
    from modstudio.engine.surgery.errors import SurgeryError
    from modstudio.engine.surgery.surgery import plan

    try:
        run = find_run(source.resolve(), args.run_folder)
        surgery = plan(project, source.resolve().parent, run, _request(args), out.resolve().parent, out.stem)
    except EngineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SurgeryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"run: {run}")
    for line in surgery.lines:
        print(line)
    return _write(project, catalog, surgery, out)


def _write(project: Project, catalog: BlockCatalog, surgery: Surgery, out: Path) -> int:
    from modstudio.engine.surgery.errors import SurgeryError
    from modstudio.graph.document import Document

    try:
        weights = surgery.write_weights()
    except SurgeryError as exc:  # the file appeared meanwhile: never overwritten
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"error: cannot write {surgery.weights_file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    Document(project, catalog).apply(surgery.edit)
    if write_project(project, out) != EXIT_OK:
        weights.unlink(missing_ok=True)  # no weights without their project
        return EXIT_ERROR
    print(f"wrote {out} and {weights}")
    return EXIT_OK
