"""Incremental CSV output that survives interruption: one complete row per ``write`` + fsync.

Each row is encoded to one string and written with a single ``os.write`` followed by
``fsync``, so Ctrl-C (which Python raises between bytecodes, never inside a system call) or a
crash leaves the file with a header and whole rows only.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path


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

    def _write(self, cells: Sequence[object]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([_cell(c) for c in cells])
        data = buf.getvalue().encode()
        written = os.write(self._fd, data)
        while written < len(data):
            written += os.write(self._fd, data[written:])
        os.fsync(self._fd)

    def append(self, row: Mapping[str, object]) -> None:
        """Append one row (missing columns are empty) and flush it to disk."""
        self._write([row.get(c) for c in self.columns])
        self.rows_written += 1

    def close(self) -> None:
        """Close the file (safe to call twice)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
