"""Workloads: a day's job list of LLM queries, given by their input and output token counts.

A :class:`Workload` is a validated token table with one row per query:

* ``input_tokens`` (τin): integer ≥ 1,
* ``output_tokens`` (τout): integer ≥ 1,
* ``query_id``: unique label; generated as ``q0, q1, …`` (input order) when absent.

Queries with equal (τin, τout) are interchangeable for scheduling; :meth:`Workload.classes`
groups them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, where
from .io.frames import check_duplicate_columns, int_column, read_frame, require_columns

TOKEN_COLUMNS = ["input_tokens", "output_tokens"]
KNOWN_ALIASES = {"input_tokens": ("ContextTokens", "prompt_tokens", "num_prompt_tokens"),
                 "output_tokens": ("GeneratedTokens", "completion_tokens",
                                   "num_completion_tokens")}
"""Column names of public traces recognised without a mapping (the Azure LLM inference
trace's ``ContextTokens``/``GeneratedTokens``, OpenAI-style usage names), used only when the
canonical column is absent."""


def parse_column_map(text: str | None) -> dict[str, str]:
    """Parse ``input_tokens=ContextTokens,output_tokens=GeneratedTokens`` into a mapping.

    Raises:
        InputError: malformed text or an unknown target column.
    """
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in str(text).split(","):
        target, eq, source = part.partition("=")
        target, source = target.strip(), source.strip()
        if not eq or not target or not source:
            raise InputError(f"columns, value {text!r}: expected name=column pairs, e.g. "
                             "input_tokens=ContextTokens,output_tokens=GeneratedTokens")
        if target not in (*TOKEN_COLUMNS, "query_id", "release_s", "deadline_s"):
            raise InputError(f"columns, value {part.strip()!r}: unknown column {target!r}; "
                             "expected input_tokens, output_tokens or query_id")
        out[target] = source
    return out


def map_columns(frame: pd.DataFrame, columns: dict[str, str] | None, source: object
                ) -> pd.DataFrame:
    """Rename mapped columns to the canonical names; recognise known trace names.

    Raises:
        InputError: a mapped column is not in the frame.
    """
    rename: dict[str, str] = {}
    have = set(map(str, frame.columns))
    for target, col in (columns or {}).items():
        if col not in have:
            raise InputError(f"{source}: column {col!r} (mapped to {target}) not found "
                             f"(found: {', '.join(list(map(str, frame.columns))[:8])})")
        rename[col] = target
    for target, aliases in KNOWN_ALIASES.items():
        if target in have or target in rename.values():
            continue
        alias = next((a for a in aliases if a in have), None)
        if alias is not None:
            rename[alias] = target
    return frame.rename(columns=rename) if rename else frame


KEY_SHIFT = 32
"""Bits of τout in a class key; token counts are capped below 2^31, so keys never collide."""


def class_keys(input_tokens: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
    """The one class key: one int64 per query, ordered as (τin, τout)."""
    return (np.asarray(input_tokens, dtype=np.int64) << KEY_SHIFT
            | np.asarray(output_tokens, dtype=np.int64))


def split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`class_keys`: ``(τin, τout)`` arrays of int64 keys."""
    return keys >> KEY_SHIFT, keys & ((1 << KEY_SHIFT) - 1)


@dataclass(frozen=True)
class QueryClasses:
    """Queries grouped by identical (τin, τout).

    Attributes:
        input_tokens: τin of each class, shape (C,).
        output_tokens: τout of each class, shape (C,).
        count: number of queries in each class, shape (C,).
        query_class: class index of each query, shape (N,), input order.
    """

    input_tokens: np.ndarray
    output_tokens: np.ndarray
    count: np.ndarray
    query_class: np.ndarray

    @property
    def n_classes(self) -> int:
        """Number of classes C."""
        return int(self.count.shape[0])


@dataclass(frozen=True)
class Workload:
    """A validated batch of queries.

    Attributes:
        input_tokens: τin per query, int64, shape (N,).
        output_tokens: τout per query, int64, shape (N,).
        query_ids: ids per query as strings (a numpy or pandas string array; Arrow-backed
            when read from a file, so no Python string per query is built), or ``None`` when
            generated lazily as ``q0, q1, …``.
        source: where the workload came from (file name or ``<DataFrame>``), for messages.
        release_s: earliest start of each query [s from the window start], float64 (N,),
            or None (the window start); used when planning in time.
        deadline_s: latest end of each query [s], float64 (N,), or None (the window end).
    """

    input_tokens: np.ndarray
    output_tokens: np.ndarray
    query_ids: np.ndarray | pd.api.extensions.ExtensionArray | None = None
    source: str = "<workload>"
    _classes: list = field(default_factory=list, repr=False, compare=False)
    release_s: np.ndarray | None = None
    deadline_s: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.input_tokens.shape[0])

    @property
    def ids(self) -> np.ndarray | pd.api.extensions.ExtensionArray:
        """Query ids as an array of str (generated ``q0, q1, …`` when none were given)."""
        if self.query_ids is not None:
            return self.query_ids
        return np.char.add("q", np.arange(len(self)).astype(str)).astype(object)

    def classes(self) -> QueryClasses:
        """Group queries with equal (τin, τout) into classes (cached; vectorised).

        Returns:
            The classes, sorted by (τin, τout).
        """
        if not self._classes:
            key = class_keys(self.input_tokens, self.output_tokens)
            codes, uniques = pd.factorize(key, sort=True)
            count = np.bincount(codes, minlength=len(uniques)).astype(np.int64)
            tin, tout = split_keys(np.asarray(uniques, dtype=np.int64))
            self._classes.append(QueryClasses(
                input_tokens=tin,
                output_tokens=tout,
                count=count,
                query_class=codes.astype(np.int64),
            ))
        return self._classes[0]

def workload_from_frame(frame: pd.DataFrame, source: str = "<DataFrame>") -> Workload:
    """Validate a DataFrame into a :class:`Workload`.

    Args:
        frame: columns ``input_tokens``, ``output_tokens`` and optionally ``query_id``.
        source: name used in error messages.

    Returns:
        The workload.

    Raises:
        InputError: missing column, non-integer or < 1 token count, empty or duplicate id.
    """
    if any(isinstance(c, str) and c != c.strip() for c in frame.columns):
        frame = frame.rename(columns=lambda c: c.strip() if isinstance(c, str) else c)
    check_duplicate_columns(frame, source, [*TOKEN_COLUMNS, "query_id"])
    require_columns(frame, TOKEN_COLUMNS, source)
    tin = int_column(frame, "input_tokens", source)
    tout = int_column(frame, "output_tokens", source)
    ids = None
    if "query_id" in frame.columns:
        col = frame["query_id"]
        missing = col.isna().to_numpy()
        if missing.any():
            i = int(missing.argmax())
            raise InputError(f"{where(source, i + 1, 'query_id')}: empty query id")
        ids = col.astype(str).array  # Arrow-backed with pyarrow: no Python str per id
        dup = pd.Series(ids, copy=False).duplicated().to_numpy()  # faster than Index's
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            first = int(np.flatnonzero(np.asarray(ids == ids[i], dtype=bool))[0])
            raise InputError(f"{where(source, i + 1, 'query_id', ids[i], has_value=True)}: "
                             f"duplicate query id (first seen in row {first + 1})")
    release = _seconds_column(frame, "release_s", source)
    deadline = _seconds_column(frame, "deadline_s", source)
    if release is not None and deadline is not None:
        bad = np.flatnonzero(deadline <= release)
        if bad.size:
            i = int(bad[0])
            raise InputError(f"{where(source, i + 1, 'deadline_s', frame['deadline_s'].iloc[i], has_value=True)}: "  # noqa: E501
                             f"deadline not after the release ({frame['release_s'].iloc[i]})")
    return Workload(input_tokens=tin, output_tokens=tout, query_ids=ids, source=source,
                    release_s=release, deadline_s=deadline)


def _seconds_column(frame: pd.DataFrame, col: str, source: str) -> np.ndarray | None:
    """Optional ``release_s``/``deadline_s`` column as float64 seconds (finite, ≥ 0).

    Whether they lie inside the batch window is checked when planning (the window is the
    fleet's).

    Raises:
        InputError: the first empty, non-numeric, non-finite or negative value, with its row.
    """
    if col not in frame.columns:
        return None
    series = frame[col]
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        i = int(bad[0])
        why = "negative" if np.isfinite(values[i]) else "expected a number of seconds"
        raise InputError(f"{where(source, i + 1, col, series.iloc[i], has_value=True)}: {why}")
    return values


def load_workload(workload: Workload | pd.DataFrame | str | os.PathLike[str], *,
                  fmt: str | None = None, columns: dict[str, str] | str | None = None
                  ) -> Workload:
    """Load a workload from a path (CSV, Parquet, JSON Lines, JSON), stdin, a DataFrame.

    Args:
        workload: the job list: a path, ``-`` for standard input, a DataFrame or a Workload.
        fmt: file format (``csv``, ``parquet``, ``jsonl``, ``json``); default by suffix, CSV
            for standard input.
        columns: mapping canonical name → column in the file (or its text form
            ``input_tokens=ContextTokens,...``); known trace names are recognised anyway.

    Returns:
        A validated :class:`Workload`.

    Raises:
        InputError: unreadable file or bad content (file, row, column and value named).
    """
    if isinstance(workload, Workload):
        return workload
    mapping = parse_column_map(columns) if isinstance(columns, str) or columns is None \
        else dict(columns)
    if isinstance(workload, pd.DataFrame):
        return workload_from_frame(map_columns(workload, mapping, "<DataFrame>"))
    if isinstance(workload, str | os.PathLike):
        label = "<stdin>" if str(workload) == "-" else str(Path(workload))
        frame = read_frame(workload, fmt=fmt)
        return workload_from_frame(map_columns(frame, mapping, label), source=label)
    raise InputError(f"workload: expected a path, a DataFrame or a Workload, "
                     f"got {type(workload).__name__}")
