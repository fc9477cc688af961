"""Atomic file output: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from .suffix import is_parquet

STDOUT = "-"
"""The output name that means standard output."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while writing, so the temporary file is cleaned up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # pragma: no cover - signals unavailable
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _is_special(target: Path) -> bool:
    """An existing target that is not a regular file (a device, a FIFO): written in place."""
    try:
        mode = target.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write to; move it onto ``path`` on success.

    On any exception (SIGTERM included) the temporary file is removed and ``path`` is left
    untouched, so a failed run never leaves a half-written output behind.

    * ``-`` means standard output: the finished file is copied to stdout.
    * A symlink is followed: its target is replaced, the link kept.
    * A special file (``/dev/stdout``, a FIFO, a device) is written in place, never renamed
      over.

    Args:
        path: final output path.

    Yields:
        The temporary path to write to.
    """
    if str(path) == STDOUT:
        target, direct = None, True
    else:
        target = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)
        direct = _is_special(target)
    if direct:
        fd, tmp = tempfile.mkstemp(prefix=".offline-sched.", suffix=".tmp")
    else:
        assert target is not None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
    try:
        with _sigterm_raises():
            yield tmp_path
            if not direct:
                os.replace(tmp_path, target)  # type: ignore[arg-type]
            else:
                _copy_out(tmp_path, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _copy_out(src: Path, target: Path | None) -> None:
    """Copy a finished file to stdout (``target`` None) or into a special file."""
    with open(src, "rb") as fh:
        if target is None:
            sys.stdout.flush()
            out = sys.stdout.buffer
            shutil.copyfileobj(fh, out)
            out.flush()
        else:
            with open(target, "wb") as dst:
                shutil.copyfileobj(fh, dst)


def write_csv(frame, path: str | os.PathLike[str], **kwargs) -> Path:
    """Write a DataFrame to CSV atomically (``index=False`` unless told otherwise).

    Args:
        frame: a pandas DataFrame.
        path: output path.
        **kwargs: passed to :meth:`pandas.DataFrame.to_csv`.

    Returns:
        The output path.
    """
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)
    return Path(path)


def write_frame(frame, path: str | os.PathLike[str]) -> Path:
    """Write a DataFrame atomically as Parquet (``.parquet``/``.pq``) or else CSV.

    Args:
        frame: a pandas DataFrame.
        path: output path; its suffix picks the format.

    Returns:
        The output path.
    """
    if is_parquet(path):
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False)
        return Path(path)
    return write_csv(frame, path)
