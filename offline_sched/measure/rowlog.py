"""Incremental CSV output that survives interruption: one complete row per ``write`` + fsync.

Each row is encoded to one string and written with ``os.write`` followed by ``fsync`` while
SIGINT and SIGTERM are deferred, and counted in the same protected step: Ctrl-C or a kill
leaves the file with a header and whole rows only, and :attr:`RowWriter.rows_written` always
equals the rows on disk.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Defer SIGINT and SIGTERM to the end of the block (main thread; elsewhere a no-op).

    Python handlers, not a signal mask: a signal that reached the process just before the
    block would otherwise raise ``KeyboardInterrupt`` at the next bytecode inside it (between
    the write and the count). While the block runs, a signal is only recorded; afterwards the
    previous handlers are back and the first recorded signal is raised again, so Ctrl-C still
    interrupts and a kill still kills, just after a complete, counted row.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []

    def hold(signum: int, _frame: object) -> None:
        got.append(signum)

    old = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, hold)
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if got:
            signal.raise_signal(got[0])


def _cell(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return value


class RowWriter:
    """Write a CSV header, then append rows durably.

    Args:
        path: output file; replaced if it exists, parent folders created.
        columns: column order (header).
    """

    def __init__(self, path: str | os.PathLike[str], columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.rows_written = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._write(self.columns)

    def _write(self, cells: Sequence[object], count: int = 0) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([_cell(c) for c in cells])
        data = buf.getvalue().encode()
        with signals_held():
            written = os.write(self._fd, data)
            while written < len(data):
                written += os.write(self._fd, data[written:])
            os.fsync(self._fd)
            self.rows_written += count

    def append(self, row: Mapping[str, object]) -> None:
        """Append one row (missing columns are empty), flush it to disk and count it."""
        self._write([row.get(c) for c in self.columns], count=1)

    def close(self) -> None:
        """Close the file (safe to call twice)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
