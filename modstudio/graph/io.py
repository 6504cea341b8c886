"""Reading and writing ``.msproj`` files: JSON, validated on load, saved atomically."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from . import json_text
from .model import FORMAT_VERSION, Project
from .problems import Problem, ProjectError, join_path
from .schema import BlockCatalog
from .validate import check_project

PROJECT_SUFFIX = ".msproj"
TEMP_SUFFIX = ".tmp"  # of the temporary files of atomic saves: .<name>.<pid>.<random>.tmp
_ADAPTER: TypeAdapter[Project] | None = None


def _adapter() -> TypeAdapter[Project]:
    global _ADAPTER
    if _ADAPTER is None:
        _ADAPTER = TypeAdapter(Project)
    return _ADAPTER


def project_to_dict(project: Project) -> dict[str, Any]:
    """The JSON-ready form of a project, fields in a stable order."""
    data = _adapter().dump_python(project, mode="json")
    data["format_version"] = project.format_version
    order = ["format_version", "name", "doc", "main", "modules", "data", "training", "ui"]
    if project.search is not None:  # saved only when there is one, so other files read and write as before
        order.insert(order.index("ui"), "search")
    return {key: data[key] for key in order}


def project_to_json(project: Project) -> str:
    return json.dumps(project_to_dict(project), indent=2, ensure_ascii=False) + "\n"


def check_representable(data: Any, source: str = "", text: str = "") -> None:
    """Raise ProjectError where ``data`` cannot be a project at all, not even one shown to be repaired:
    not a JSON object, values JSON cannot carry back unchanged, a missing, unknown or newer format."""
    if not isinstance(data, dict):
        raise ProjectError([Problem("", "a project file must hold a JSON object")], source)
    problems = json_text.check_values(data, text)
    if problems:  # before anything formats, compares or re-serialises such a value
        raise ProjectError(problems, source)
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProjectError([Problem("format_version", "missing or not a whole number")], source)
    if version > FORMAT_VERSION:
        message = f"written by a newer ModStudio (format {version}); this version reads formats up to {FORMAT_VERSION}"
        raise ProjectError([Problem("format_version", message)], source)
    if version < 1:
        raise ProjectError([Problem("format_version", f"unknown format {version}")], source)


def project_from_dict(data: Any, catalog: BlockCatalog | None = None, source: str = "", text: str = "") -> Project:
    """Validate every field of ``data`` and build a Project, or raise ProjectError.

    ``text``, when given, is the JSON the data was read from: problems then also say the line and
    column in it where the field starts.
    """
    check_representable(data, source, text)
    try:
        # JSON mode: strict about types (no "3" for 3), objects become the dataclasses. The copy
        # holds exactly the user's values: check_values has refused all that JSON cannot carry
        # back unchanged (NaN, infinities, lone surrogates, deep nesting), so each error's
        # field path is one of the user's file.
        project = validate_fields(data)
    except ValidationError as exc:
        problems = field_problems(exc, text)
        if len(problems) > json_text.MAX_LISTED:
            more = len(problems) - json_text.MAX_LISTED
            problems = [*problems[: json_text.MAX_LISTED], Problem("", f"{more} more problems are not listed")]
        raise ProjectError(problems, source) from None
    if catalog is not None:
        problems = check_project(project, catalog)
        if problems:
            raise ProjectError(problems, source)
    return project


def validate_fields(data: dict[str, Any]) -> Project:
    """The Project ``data`` describes, field types checked (raises pydantic's ValidationError)."""
    return _adapter().validate_json(json.dumps(data))


def field_problems(exc: ValidationError, text: str = "") -> list[Problem]:
    """Each field error of a validation as a Problem with its path (and line and column in ``text``)."""
    locator = json_text.Locator(text)
    return [
        Problem(join_path(*err["loc"]), _pydantic_message(err) + locator.at(tuple(err["loc"]))) for err in exc.errors()
    ]


def _pydantic_message(err: Any) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "required field is missing"
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return "unknown field"
    return str(err.get("msg", "invalid value")).replace("Input should be", "should be")


def project_from_json(text: str, catalog: BlockCatalog | None = None, source: str = "") -> Project:
    return project_from_dict(parse_project_text(text, source), catalog, source, text)


def parse_project_text(text: str, source: str = "") -> Any:
    """The JSON value ``text`` holds, read with bounds (raises ProjectError)."""
    try:
        data = json_text.parse(text)
    except json.JSONDecodeError as exc:
        problem = Problem("", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
        raise ProjectError([problem], source) from None
    except json_text.TooDeep:
        raise ProjectError([json_text.too_deep(text)], source) from None
    return data


def load_project(path: str | os.PathLike[str], catalog: BlockCatalog | None = None) -> Project:
    """Open a project file. Every problem is reported with its path in the file."""
    return project_from_json(read_project_text(path), catalog, str(path))


def read_project_text(path: str | os.PathLike[str]) -> str:
    """The text of a project file (raises ProjectError: unreadable, not UTF-8)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProjectError([Problem("", f"cannot read the file: {exc.strerror}")], str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = Problem("", f"not a text file (bad UTF-8 at byte {exc.start})")
        raise ProjectError([problem], str(path)) from None
    return text


def save_project(project: Project, path: str | os.PathLike[str]) -> None:
    """Write atomically: a temporary file beside the target, fsync, then replace.

    A reader (or a crash) sees either the old file or the new one, never half of one; the file
    keeps its permissions (a new one gets the usual ``0666`` less the umask).
    """
    write_atomic(Path(path), project_to_json(project).encode("utf-8"))


def write_atomic(path: Path, payload: bytes) -> None:
    """``payload`` as the whole of ``path``, atomically (see :func:`atomic_target`)."""

    def write(temporary: Path) -> None:
        with temporary.open("wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())

    replace_atomically(path, write)


def replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Let ``write`` fill a temporary file beside ``path``, then put it in place of ``path`` at once.

    The temporary file is ``.<name>.<pid>.<random>.tmp`` and gets ``path``'s permissions (``mkstemp``
    makes it 0600) before the replace. Temporary files that killed saves of the same file left behind
    are removed first, when the process that wrote them no longer exists.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    remove_stale_temporaries(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=directory)
    os.close(fd)
    try:
        write(Path(tmp_name))
        copy_mode(path, tmp_name)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(directory)


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove ``.<name>.<pid>.<random>.tmp`` beside ``path`` whose writing process is gone; returns them.

    Never on Windows, where ``os.kill(pid, 0)`` is no probe (it would end the process).
    """
    if os.name == "nt":
        return []
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.[^.]+{re.escape(TEMP_SUFFIX)}$")
    removed = []
    try:
        siblings = list((path.parent if str(path.parent) else Path(".")).iterdir())
    except OSError:
        return []
    for sibling in siblings:
        match = pattern.match(sibling.name)
        if match is None or process_exists(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            sibling.unlink()
            removed.append(sibling)
    return removed


def process_exists(pid: int) -> bool:
    """Whether a process of this id runs on this machine (True when it cannot tell: another user's)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # another user's process, or cannot tell: keep its file
    return True


def copy_mode(path: Path, temporary: str) -> None:
    """The target's permission bits (a new file: 0666 less the umask) onto the temporary file."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~current_umask()
    with contextlib.suppress(OSError):  # a file system without permissions (FAT, some network drives)
        os.chmod(temporary, mode)


def current_umask() -> int:
    """The process's umask, read without changing it where the system tells it (Linux), else set and restored."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not possible on every platform (Windows); the replace is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
