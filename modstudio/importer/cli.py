"""``modstudio import SOURCE -o FILE.msproj``: the command's arguments and what it prints.

Exit 0 with a one-line summary; 2 with the list of unmapped ops, or a sentence for a bad input.
Torch loads only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modstudio.exits import EXIT_BAD_INPUT, EXIT_OK


def add_import_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="bring a PyTorch model in: write a project and its starting weights")
    p.add_argument(
        "model",
        metavar="SOURCE",
        help="path/to/file.py:Name or package.module:Name (an nn.Module class or a function returning one)",
    )
    p.add_argument(
        "-o", "--output", required=True, help="project file to write (.msproj); its weights go to FILE.init.safetensors"
    )
    p.add_argument("--args", dest="model_args", help="keyword arguments of Name, as a JSON object")
    p.add_argument("--input-shape", default="1,3,32,32", help="input shape with the batch first (default 1,3,32,32)")
    p.add_argument(
        "--weights",
        help="weights to import: a .safetensors file or a torch.save'd state dict (default: the model's own)",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument(
        "--progress",
        action="store_true",
        help='print progress on stderr as JSON lines: {"progress": 0.1, "text": "tracing"}',
    )
    p.set_defaults(run=cmd_import)


def _print_progress(text: str, fraction: float) -> None:
    print(json.dumps({"progress": fraction, "text": text}), file=sys.stderr, flush=True)


def cmd_import(args: argparse.Namespace) -> int:
    from .errors import ImportProblem, NotMappable
    from .options import parse_arguments, parse_shape, weights_path

    out = Path(args.output)
    try:
        model_args = parse_arguments(args.model_args)
        shape = parse_shape(args.input_shape)
        if not args.force:
            for path in (out, weights_path(out)):
                if path.exists():
                    raise ImportProblem(f"{path} already exists (use --force to overwrite it)")
        from .api import import_model, write_import

        weights = Path(args.weights) if args.weights else None
        progress = _print_progress if args.progress else None
        imported = import_model(args.model, args=model_args, input_shape=shape, weights=weights, progress=progress)
        project_file, weights_file = write_import(imported, out, force=args.force)
    except NotMappable as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was written", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ImportProblem as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{imported.report.summary()}; wrote {project_file} and {weights_file.name}")
    return EXIT_OK
