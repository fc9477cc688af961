"""Reading and validating tabular input (CSV, Parquet, JSON Lines) with one-line errors.

Shared by workloads and measurement tables: every failure raises :class:`InputError` whose
message names the file, the 1-based data row, the column and the offending value.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, where
from .suffix import SUFFIXES


def file_format(path: Path) -> str:
    """Return ``csv``, ``parquet`` or ``jsonl`` for a path (by suffix, ``.gz`` allowed)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".zst"):
        suffixes = suffixes[:-1]
    fmt = SUFFIXES.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise InputError(f"{path}: unknown file type {path.suffix!r}; "
                         "expected .csv, .parquet or .jsonl")
    return fmt


def read_frame(path: str | os.PathLike[str], columns: list[str] | None = None) -> pd.DataFrame:
    """Read a CSV, Parquet or JSON Lines file into a DataFrame.

    Args:
        path: the file.
        columns: if given, read only these columns where the format allows it (Parquet).

    Returns:
        The raw frame, not yet validated.

    Raises:
        InputError: missing, empty, binary or unparsable file.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, expected a file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty")
    fmt = file_format(p)
    try:
        if fmt == "parquet":
            return pd.read_parquet(p, columns=columns)
        if p.suffix.lower() not in (".gz", ".bz2", ".xz", ".zst"):
            with open(p, "rb") as fh:
                head = fh.read(4096)
            if b"\x00" in head:
                raise InputError(f"{p}: looks like a binary file, expected {fmt.upper()} text")
        if fmt == "jsonl":
            return pd.read_json(p, lines=True)
        ids = {"query_id": str}  # ids stay as written ("007" is not 7)
        if _has_pyarrow():
            frame = pd.read_csv(p, engine="pyarrow", dtype_backend="numpy_nullable", dtype=ids)
        else:
            frame = pd.read_csv(p, skipinitialspace=True, dtype_backend="numpy_nullable",
                                dtype=ids)
        _check_duplicate_columns(frame, p)
        return frame
    except InputError:
        raise
    except ImportError as exc:
        raise InputError(f"{p}: reading {fmt} needs pyarrow: pip install pyarrow ({exc})") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, ValueError, UnicodeDecodeError,
            OSError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{p}: cannot parse as {fmt.upper()}: {msg}") from None
    except Exception as exc:  # pyarrow raises its own error types
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{p}: cannot parse as {fmt.upper()}: {msg}") from None


def _check_duplicate_columns(frame: pd.DataFrame, path: Path) -> None:
    """Refuse a repeated header (pandas renames the second ``a`` to ``a.1``)."""
    names = set(map(str, frame.columns))
    for col in map(str, frame.columns):
        base, dot, suffix = col.rpartition(".")
        if dot and suffix.isdigit() and base in names:
            raise InputError(f"{path}: column {base!r} appears more than once in the header")


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
    if pd.api.types.is_integer_dtype(series.dtype) and not series.isna().any():
        values = series.to_numpy(dtype=np.int64)
    else:
        numeric = pd.to_numeric(series, errors="coerce")
        arr = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(arr) | (arr != np.floor(np.where(np.isfinite(arr), arr, 0)))
        if bad.any():
            i = _first_bad(bad)
            raise InputError(f"{where(source, i + 1, col, series.iloc[i], has_value=True)}: "
                             "expected an integer")
        if np.abs(arr).max(initial=0) > 2**53:
            i = _first_bad(np.abs(arr) > 2**53)
            raise InputError(f"{where(source, i + 1, col, series.iloc[i], has_value=True)}: "
                             "value too large")
        values = arr.astype(np.int64)
    small = values < minimum
    if small.any():
        i = _first_bad(small)
        raise InputError(f"{where(source, i + 1, col, values[i], has_value=True)}: "
                         f"must be >= {minimum}")
    large = values > maximum
    if large.any():
        i = _first_bad(large)
        raise InputError(f"{where(source, i + 1, col, values[i], has_value=True)}: "
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
