"""Reading and validating tabular input (CSV, Parquet, JSON Lines) with one-line errors.

Shared by workloads and measurement tables: every failure raises :class:`InputError` whose
message names the file, the 1-based data row, the column and the offending value.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, where
from .suffix import SUFFIXES

FORMATS = ("csv", "parquet", "jsonl", "json")
"""Formats :func:`read_frame` reads (``json``: a JSON array of records, or JSON Lines)."""
COMPRESSION_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma", ".zst": "zstandard"}
"""Compressed suffixes → the Python module pandas needs for them."""
STDIN = "-"
"""The input name that means standard input."""


def file_format(path: Path) -> str:
    """Return ``csv``, ``parquet`` or ``jsonl`` for a path (by suffix, compression allowed)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes = suffixes[:-1]
    fmt = SUFFIXES.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise InputError(f"{path}: unknown file type {path.suffix!r}; "
                         "expected .csv, .parquet, .jsonl or .json")
    return fmt


def read_frame(path: str | os.PathLike[str], columns: list[str] | None = None, *,
               fmt: str | None = None) -> pd.DataFrame:
    """Read a CSV, Parquet, JSON Lines or JSON file (or standard input) into a DataFrame.

    Cells are read as written: only an empty CSV cell is missing (``NA``, ``null`` and
    ``None`` are values, e.g. ids), and JSON strings stay strings (``"007"``).

    Args:
        path: the file, or ``-`` for standard input.
        columns: if given, read only these columns where the format allows it (Parquet).
        fmt: ``csv``, ``parquet``, ``jsonl`` or ``json``; default: by suffix (CSV for stdin).

    Returns:
        The raw frame, not yet validated; ``attrs["path"]`` and ``attrs["format"]`` say where
        it came from (for messages that quote values as written).

    Raises:
        InputError: missing, empty, binary or unparsable file (the bad row named where
            the format allows it).
    """
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"format, value {fmt!r}: expected one of {', '.join(FORMATS)}")
    if str(path) == STDIN:
        data = sys.stdin.buffer.read()
        if not data.strip():
            raise InputError("<stdin>: no input")
        frame = _parse(io.BytesIO(data), fmt or "csv", "<stdin>", columns, data)
        frame.attrs.update(path=None, format=fmt or "csv")
        return frame
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, expected a file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty")
    fmt = fmt or file_format(p)
    compressed = p.suffix.lower() in COMPRESSION_SUFFIXES
    if compressed:
        module = COMPRESSION_SUFFIXES[p.suffix.lower()]
        try:
            __import__(module)
        except ImportError:
            raise InputError(f"{p}: reading {p.suffix} files needs the {module} package: "
                             f"pip install {module}") from None
    elif fmt != "parquet":
        with open(p, "rb") as fh:
            head = fh.read(4096)
        if b"\x00" in head:
            raise InputError(f"{p}: looks like a binary file, expected {fmt.upper()} text")
    frame = _parse(p, fmt, str(p), columns, None)
    frame.attrs.update(path=str(p), format=fmt)
    return frame


def _parse(src: Path | io.BytesIO, fmt: str, label: str, columns: list[str] | None,
           data: bytes | None) -> pd.DataFrame:
    """Parse one source in one format, turning every library error into one line."""
    try:
        if fmt == "parquet":
            return pd.read_parquet(src, columns=columns)
        if fmt in ("jsonl", "json"):
            return _read_json(src, fmt, label)
        ids = {"query_id": str}  # ids stay as written ("007" is not 7)
        opts = {"dtype": ids, "keep_default_na": False, "na_values": [""],
                "dtype_backend": "numpy_nullable"}
        if _has_pyarrow() and not isinstance(src, io.BytesIO):
            try:
                return pd.read_csv(src, engine="pyarrow", **opts)
            except Exception:  # noqa: BLE001 - re-read with the C parser to name the row
                pass
        return pd.read_csv(src, skipinitialspace=True, **opts)
    except InputError:
        raise
    except ImportError as exc:
        raise InputError(f"{label}: reading {fmt} needs pyarrow: pip install pyarrow "
                         f"({exc})") from None
    except Exception as exc:  # pandas, pyarrow and json raise their own error types
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{label}: cannot parse as {fmt.upper()}: {msg}") from None


def _read_json(src: Path | io.BytesIO, fmt: str, label: str) -> pd.DataFrame:
    """JSON Lines, or (``json``) a JSON array of records; strings stay strings."""
    raw = src.getvalue() if isinstance(src, io.BytesIO) else _read_bytes(src)
    text = raw.decode("utf-8")
    if text.lstrip().startswith("["):  # a JSON array of records (any .json file)
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{label}: cannot parse as JSON: {exc.msg} (line {exc.lineno}, "
                             f"column {exc.colno})") from None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InputError(f"{label}: expected a JSON array of objects (records)")
        return pd.DataFrame.from_records(records)
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{label}: line {n}: not valid JSON ({exc.msg}, column "
                             f"{exc.colno})") from None
        if not isinstance(obj, dict):
            raise InputError(f"{label}: line {n}: expected a JSON object, got "
                             f"{type(obj).__name__}")
        rows.append(obj)
    return pd.DataFrame.from_records(rows)


def _read_bytes(path: Path) -> bytes:
    """A file's bytes, decompressed by suffix."""
    kind = COMPRESSION_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        return path.read_bytes()
    if kind == "zstandard":
        import zstandard

        with open(path, "rb") as fh:
            return zstandard.ZstdDecompressor().stream_reader(fh).read()
    opener = {"gzip": "gzip", "bz2": "bz2", "lzma": "lzma"}[kind]
    return __import__(opener).open(path).read()


def as_written(frame: pd.DataFrame, col: str, row: int, parsed: object) -> object:
    """The cell ``frame[col]`` at ``row`` (0-based) as written in its file, when it can be told.

    Large integers and floats are re-read as text from CSV files (``2**63 + 5`` stays
    ``9223372036854775813``, ``1e+23`` stays ``1e+23``); otherwise the parsed value.
    """
    path, fmt = frame.attrs.get("path"), frame.attrs.get("format")
    if path and fmt == "csv":
        with contextlib.suppress(Exception):
            text = pd.read_csv(path, usecols=[col], dtype=str, keep_default_na=False,
                               skiprows=range(1, row + 1), nrows=1)
            return text[col].iloc[0]
    return parsed


def check_duplicate_columns(frame: pd.DataFrame, path: object,
                            used: tuple[str, ...] | list[str]) -> None:
    """Refuse a repeated header of a column the tool uses (pandas renames ``a`` to ``a.1``).

    Repeats of other columns (``note``, ``note.1``) are allowed: they are ignored anyway.
    """
    names = [str(c) for c in frame.columns]
    for col in used:
        if names.count(col) > 1 or any(n.rpartition(".")[0] == col and
                                       n.rpartition(".")[2].isdigit() for n in names):
            raise InputError(f"{path}: column {col!r} appears more than once in the header")


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def require_columns(frame: pd.DataFrame, required: list[str], source: object) -> None:
    """Raise :class:`InputError` naming the first required column that is missing."""
    if frame.shape[0] == 0:
        raise InputError(f"{source}: no data rows")
    for col in required:
        if col not in frame.columns:
            have = ", ".join(map(str, frame.columns[:8]))
            raise InputError(f"{source}: missing column {col!r} (found: {have})")


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


MAX_TOKENS = 2**31 - 1


def int_column(frame: pd.DataFrame, col: str, source: object, minimum: int = 1,
               maximum: int = MAX_TOKENS) -> np.ndarray:
    """Return column ``col`` as an int64 array, checking every value is an integer ≥ minimum.

    Args:
        frame: the frame.
        col: column name.
        source: file name (or description) for messages.
        minimum: smallest allowed value.
        maximum: largest allowed value (token counts must fit 31 bits: class keys pack two).

    Returns:
        The column as ``np.int64``.

    Raises:
        InputError: the first empty, non-numeric, non-integer or too-small value, with its row.
    """
    series = frame[col]
    if pd.api.types.is_bool_dtype(series.dtype) or (
            series.dtype == object and series.map(type).eq(bool).any()):
        i = int(np.flatnonzero(series.map(lambda v: isinstance(v, bool)).to_numpy())[0]) \
            if series.dtype == object else 0
        raise InputError(f"{where(source, i + 1, col, series.iloc[i], has_value=True)}: "
                         "expected an integer, not a boolean")
    if pd.api.types.is_signed_integer_dtype(series.dtype) and not series.isna().any():
        values = series.to_numpy(dtype=np.int64)
    else:
        numeric = pd.to_numeric(series, errors="coerce")
        arr = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(arr) | (arr != np.floor(np.where(np.isfinite(arr), arr, 0)))
        if bad.any():
            i = _first_bad(bad)
            shown = as_written(frame, col, i, series.iloc[i])
            raise InputError(f"{where(source, i + 1, col, shown, has_value=True)}: "
                             "expected an integer")
        if np.abs(arr).max(initial=0) > maximum:
            i = _first_bad(np.abs(arr) > maximum)
            shown = as_written(frame, col, i, series.iloc[i])
            raise InputError(f"{where(source, i + 1, col, shown, has_value=True)}: "
                             f"must be <= {maximum}")
        values = arr.astype(np.int64)
    small = values < minimum
    if small.any():
        i = _first_bad(small)
        shown = as_written(frame, col, i, values[i])
        raise InputError(f"{where(source, i + 1, col, shown, has_value=True)}: "
                         f"must be >= {minimum}")
    large = values > maximum
    if large.any():
        i = _first_bad(large)
        shown = as_written(frame, col, i, values[i])
        raise InputError(f"{where(source, i + 1, col, shown, has_value=True)}: "
                         f"must be <= {maximum}")
    return values


def float_column(frame: pd.DataFrame, col: str, source: object, *, positive: bool = True,
                 allow_missing: bool = False) -> np.ndarray:
    """Return column ``col`` as float64, checking values are finite (and > 0 if ``positive``).

    Args:
        frame: the frame.
        col: column name.
        source: file name for messages.
        positive: require values > 0.
        allow_missing: allow empty cells (returned as NaN).

    Returns:
        The column as ``np.float64``.

    Raises:
        InputError: the first bad value, with its row.
    """
    series = frame[col]
    numeric = pd.to_numeric(series, errors="coerce")
    arr = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = series.isna().to_numpy()
    bad = ~np.isfinite(arr) & ~(missing & allow_missing)
    if positive:
        bad |= np.isfinite(arr) & (arr <= 0)
    if bad.any():
        i = _first_bad(bad)
        what = "expected a positive number" if positive else "expected a number"
        raise InputError(f"{where(source, i + 1, col, series.iloc[i], has_value=True)}: {what}")
    return arr
