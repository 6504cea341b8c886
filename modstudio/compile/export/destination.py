"""Where an export goes: the checks on its path, and writing it whole or not at all.

Every export (a file, or the torchrun folder) is staged in a temporary folder beside ``out``
and then renamed onto it, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .constructors import ExportError


def check_destination(out: Path, force: bool) -> None:
    """Refuse ``out`` before anything is built: it exists (without ``force``), or its folder is
    missing or not writable."""
    if out.exists() and not force:
        raise ExportError(f"{out} already exists (use --force to replace it)")
    if not out.parent.is_dir():
        raise ExportError(f"cannot write {out}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise ExportError(f"cannot write {out}: folder {out.parent} is not writable")


@contextmanager
def staging_folder(out: Path) -> Iterator[Path]:
    """A temporary folder beside ``out`` (on its file system, so a rename can move what is
    staged there onto ``out``), removed afterwards; a failure to write is an ExportError."""
    try:
        with tempfile.TemporaryDirectory(prefix=".modstudio-export-", dir=out.parent) as tmp:
            yield Path(tmp)
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None


def put_in_place(staged: Path, out: Path) -> None:
    """Rename ``staged`` onto ``out``, replacing what is there (``--force``)."""
    if out.exists() and (out.is_dir() or staged.is_dir()):
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    os.replace(staged, out)
