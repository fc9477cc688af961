"""Atomic file output: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .suffix import is_parquet


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched, so a
    failed run never leaves a half-written output behind.

    Args:
        path: final output path.

    Yields:
        The temporary path to write to.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


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
