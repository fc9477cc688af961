"""Checks on output paths before any work: never replace an input or a folder we did not make.

:func:`check_output` is called by every command before it reads or solves anything, so a bad
output path costs one clear line, not a solve. Directories written by the tool carry a small
manifest (:data:`MANIFEST`); only such a directory, or an empty one, may be replaced, unless
the caller says ``overwrite``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import InputError
from .atomic import STDOUT

MANIFEST = ".offline-sched-output.json"
"""File that marks a directory as written by offline_sched."""
TEMP_NAME_EXTRA = 24
"""Characters the temporary name adds to an output's name (``.<name>.<random>.tmp``)."""


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(path: str | os.PathLike[str], *, inputs: Iterable[object] = (),
                 directory: bool = False, overwrite: bool = False,
                 role: str = "output") -> None:
    """Refuse an output path that cannot or must not be written, before any work is done.

    Args:
        path: the output path (``-`` is standard output and always allowed).
        inputs: paths read by the same run (workload, fleet, tables, signals); the output
            may not be any of them. Non-path inputs (DataFrames, bundled names) are ignored.
        directory: the output is a directory (of Parquet parts) rather than a file.
        overwrite: allow replacing a non-empty directory not written by offline_sched.
        role: what the path is, for messages (``output``, ``plot``, ``by-system table``).

    Raises:
        InputError: empty path, a directory where a file is expected, an input as output,
            a parent that is a file or not writable, a name too long for the temporary file,
            or (``directory``) a non-empty directory without the tool's manifest.
    """
    text = os.fspath(path) if isinstance(path, os.PathLike) else str(path)
    if text == STDOUT:
        return
    if not text.strip():
        raise InputError(f"{role} path {text!r}: empty")
    target = Path(text)
    for other in inputs:
        if isinstance(other, str | os.PathLike) and str(other) != STDOUT:
            src = Path(other)
            if _same_file(target, src) or target.resolve() == src.resolve():
                raise InputError(f"{role} {text}: is also an input of this run; choose "
                                 "another output name")
    if target.is_dir() and not target.is_symlink():
        if not directory:
            raise InputError(f"{role} {text}: is a directory; give a file name")
        if any(target.iterdir()) and not (target / MANIFEST).is_file() and not overwrite:
            raise InputError(f"{role} {text}: is a non-empty directory that offline_sched "
                             "did not write; refusing to replace it (choose another name, or "
                             "allow overwriting)")
    elif target.exists() and directory and not target.is_file():
        raise InputError(f"{role} {text}: exists and is not a directory")
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{role} {text}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{role} {text}: directory {parent} is not writable")
    try:
        limit = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # pragma: no cover - no pathconf
        limit = 255
    if len(target.name.encode()) + TEMP_NAME_EXTRA > limit:
        raise InputError(f"{role} {text}: file name too long ({len(target.name)} characters; "
                         f"at most {limit - TEMP_NAME_EXTRA})")


def write_manifest(directory: Path, **facts: object) -> None:
    """Mark ``directory`` as written by offline_sched (with a few facts about the run)."""
    from .. import __version__

    body = {"written_by": "offline_sched", "version": __version__, **facts}
    (directory / MANIFEST).write_text(json.dumps(body, indent=1, default=str) + "\n")
