"""Checking a plan written by anyone: ``query_id, system, replica, slot, start_s, end_s``.

:func:`check_plan` validates a plan against a fleet (and optionally the workload, the
replicas on per slot, the slot lengths and the predicted runtimes) and returns a
:class:`PlanVerdict`: every defect found, each as one line naming the plan's row (1-based
data row), the column and the value, with counts per kind. All checks are vectorised.

Kinds of defect:

* ``value``: a start or end that is not finite, an end before its start, a negative
  replica or slot;
* ``system``: a system the fleet does not have;
* ``slot``: a slot beyond the slots given;
* ``replica``: a replica beyond the system's ``instances`` (or ``instances_on`` in the slot);
* ``window``: a query starting before its slot or ending after it;
* ``release`` / ``deadline``: a query starting before its release or ending after its
  deadline (workload columns ``release_s``, ``deadline_s``);
* ``overlap``: a query starting before the previous one on the same replica ends;
* ``runtime``: ``end_s − start_s`` shorter than the query's predicted runtime there;
* ``duplicate``, ``missing``, ``unknown query``: a query planned twice, a workload query not
  planned, a planned query the workload does not have.

Times compare with a tolerance of ``1e-6 s + 1e-9·|t|`` (CSV round trips, float sums).
:func:`read_plan` reads a plan CSV with one-line :class:`InputError` messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from offline_sched import Fleet, Workload, load_systems
from offline_sched.dispatch.plan import PLAN_COLUMNS, Plan
from offline_sched.dispatch.queues import slot_bounds
from offline_sched.errors import InputError

KINDS = ("value", "system", "slot", "replica", "window", "release", "deadline", "overlap",
         "runtime", "duplicate", "missing", "unknown query")
LISTED = 5  # problems spelt out per kind (all are counted)
ABS_TOL_S, REL_TOL = 1e-6, 1e-9


@dataclass(frozen=True)
class PlanVerdict:
    """The outcome of :func:`check_plan`.

    Attributes:
        ok: whether the plan has no defect.
        problems: one line per defect listed (at most :data:`LISTED` per kind), naming the
            row, the column and the value.
        counts: defects per kind (all of them), only kinds found.
        queries: rows in the plan.
        source: the plan's name for messages.
    """

    ok: bool
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    queries: int = 0
    source: str = "<plan>"

    @property
    def verdict(self) -> str:
        """One line: ``plan.csv: ok, 1000 queries`` or the defects and the first one."""
        if self.ok:
            return f"{self.source}: ok, {self.queries} queries"
        total = sum(self.counts.values())
        kinds = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        return (f"{self.source}: {total} problems ({kinds}) in {self.queries} queries; "
                f"first: {self.problems[0]}")


def read_plan(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a plan CSV, checking its columns and values.

    With pyarrow the file is parsed typed in one pass; a file that does not parse so is
    read again as text, to name the first bad value as written.

    Returns:
        The plan frame (``replica``, ``slot`` int64; ``start_s``, ``end_s`` float64).

    Raises:
        InputError: missing or empty file, unparsable CSV, missing column, or a value that
            is not a number (file, row, column and value named).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such plan file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty")
    fast = _read_typed(p)
    if fast is not None:
        try:
            return coerce_plan(fast, str(p))
        except InputError:
            pass  # re-read as text: name the value as written
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{p}: cannot parse as CSV: {first}") from None
    return coerce_plan(frame, str(p))


def _read_typed(path: Path) -> pd.DataFrame | None:
    """The plan parsed by pyarrow with its column types, or None when that fails."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pcsv
    except ImportError:
        return None
    types = {"query_id": pa.string(), "system": pa.string(), "replica": pa.int64(),
             "slot": pa.int64(), "start_s": pa.float64(), "end_s": pa.float64()}
    try:
        table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
            column_types=types, null_values=[], strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError, OSError):
        return None
    if any(table.schema.field(c).type != t for c, t in types.items()
           if c in table.column_names):
        return None
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)


def coerce_plan(frame: pd.DataFrame, source: str = "<plan>") -> pd.DataFrame:
    """Check a plan frame's columns and parse its values (strings allowed).

    Raises:
        InputError: a missing column, an empty id or system, or a value that is not a
            number (``replica``/``slot``: not a whole number).
    """
    frame = frame.rename(columns=lambda c: c.strip() if isinstance(c, str) else c)
    missing = [c for c in PLAN_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(map(repr, missing))} "
                         f"(has: {', '.join(map(str, frame.columns))})")
    out = {}
    for name in ("query_id", "system"):
        col = frame[name]
        if not _is_text(col):
            col = col.astype(str).where(col.notna())
        empty = (col.isna() | (col == "")).to_numpy(dtype=bool, na_value=True)
        _located(empty, source, name, frame[name], "empty value")
        out[name] = col
    for name in ("replica", "slot", "start_s", "end_s"):
        col = frame[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            num = col.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.isnan(num)
        else:
            num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64,
                                                              na_value=np.nan)
            bad = np.isnan(num) & ~_literal_nan(col)
        if name in ("replica", "slot"):
            bad |= np.isnan(num) | np.isinf(num) | (np.isfinite(num) & (num != np.round(num)))
            _located(bad, source, name, col, "expected a whole number")
            out[name] = num.astype(np.int64)
        else:
            _located(bad, source, name, col, "expected a number of seconds")
            out[name] = num
    return pd.DataFrame(out)


def _is_text(col: pd.Series) -> bool:
    return bool(pd.api.types.is_string_dtype(col) and not isinstance(col.dtype,
                                                                        pd.CategoricalDtype))


def _literal_nan(col: pd.Series) -> np.ndarray:
    if not _is_text(col):
        return np.zeros(len(col), dtype=bool)
    text = col.astype(str).str.strip().str.lower()
    return text.isin(["nan", "inf", "-inf", "+inf"]).to_numpy(dtype=bool, na_value=False)


def _located(bad: np.ndarray, source: str, column: str, col: pd.Series, why: str) -> None:
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        value = col.iloc[i]
        text = "" if value is None or value is pd.NA else str(value)
        raise InputError(f"{source}: row {i + 1}, column {column!r}, value {text!r}: {why}")


def _tol(t: np.ndarray) -> np.ndarray:
    return ABS_TOL_S + REL_TOL * np.abs(np.nan_to_num(t, posinf=0.0, neginf=0.0))


def check_plan(plan_frame: pd.DataFrame | Plan, fleet: Fleet | str | os.PathLike[str],
               workload: Workload | pd.DataFrame | None = None, *,
               instances_on: np.ndarray | None = None,
               slot_s: float | np.ndarray | None = None,
               runtime_s: np.ndarray | pd.DataFrame | None = None,
               source: str = "<plan>") -> PlanVerdict:
    """Validate a plan (see the module docstring for the kinds of defect).

    Args:
        plan_frame: the plan (a :class:`Plan` or a frame with :data:`PLAN_COLUMNS`).
        fleet: the fleet (or anything :func:`~offline_sched.load_systems` takes).
        workload: the queries: a :class:`~offline_sched.Workload`, or a frame with
            ``query_id`` and optionally ``release_s``, ``deadline_s`` [s from window
            start]; None: no completeness, release or deadline checks.
        instances_on: replicas on per (system, slot), (S, T); None: each system's
            ``instances`` in every slot.
        slot_s: slot lengths (see :func:`~offline_sched.dispatch.queues.slot_bounds`);
            None: one slot per system, ``[0, window_s)``.
        runtime_s: predicted runtime per (query, system): (N, S) in workload and fleet
            order (needs ``workload``), or a frame indexed by ``query_id`` with a column per
            system name; None: not checked.
        source: the plan's name in messages.

    Returns:
        The :class:`PlanVerdict`.

    Raises:
        InputError: a malformed plan frame or arguments of the wrong shape.
    """
    fleet = load_systems(fleet)
    frame = plan_frame.frame if isinstance(plan_frame, Plan) else plan_frame
    frame = coerce_plan(frame, source)
    n_sys = len(fleet)
    if instances_on is None:
        n_slots = 1 if slot_s is None else int(np.atleast_1d(np.asarray(slot_s)).shape[-1])
        on = np.repeat(np.array([[s.instances] for s in fleet], dtype=np.int64), n_slots, 1)
    else:
        on = np.asarray(instances_on, dtype=np.int64)
        on = on[:, None] if on.ndim == 1 else on
        if on.ndim != 2 or on.shape[0] != n_sys:
            raise InputError(f"instances_on: shape {np.shape(instances_on)}, expected "
                             f"({n_sys} systems, slots)")
    n_slots = on.shape[1]
    if slot_s is None:
        if n_slots != 1:
            raise InputError(f"slot_s: needed with {n_slots} slots in instances_on")
        slot_s = np.array([[s.window_s] for s in fleet])
    lo, hi = slot_bounds(slot_s, n_sys, n_slots)
    found = _Found(frame)
    codes, uniques = pd.factorize(frame["system"])
    known = {name: i for i, name in enumerate(fleet.names)}
    sys_idx = np.array([known.get(str(u), -1) for u in uniques] + [-1], dtype=np.int64)[codes]
    _rows_checks(found, frame, sys_idx, on, lo, hi)
    if workload is not None or runtime_s is not None:
        _workload_checks(found, frame, sys_idx, fleet, workload, runtime_s)
    return PlanVerdict(ok=not found.counts, problems=found.lines(), counts=found.ordered(),
                       queries=len(frame), source=source)


class _Found:
    """Collects defects per kind: counts and the first few lines."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.counts: dict[str, int] = {}
        self.listed: dict[str, list[str]] = {}

    def add(self, kind: str, mask: np.ndarray, column: str, why) -> None:
        """Record rows where mask holds; ``why(rows)`` gives a reason per listed row."""
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return
        self.counts[kind] = self.counts.get(kind, 0) + int(rows.size)
        shown = rows[:LISTED]
        values = self.frame[column].iloc[shown].tolist() if column in self.frame else shown
        reasons = why(shown)
        self.listed.setdefault(kind, []).extend(
            f"row {int(r) + 1}, column {column!r}, value {_fmt(v)!r}: {text}"
            for r, v, text in zip(shown, values, reasons, strict=True))

    def ordered(self) -> dict[str, int]:
        return {k: self.counts[k] for k in KINDS if k in self.counts}

    def lines(self) -> list[str]:
        return [line for k in KINDS for line in self.listed.get(k, [])[:LISTED]]


def _fmt(v: object) -> str:
    if isinstance(v, float | np.floating):
        return repr(float(v)) if not float(v).is_integer() else f"{float(v):g}"
    return str(v)


def _rows_checks(found: _Found, frame: pd.DataFrame, sys_idx: np.ndarray, on: np.ndarray,
                 lo: np.ndarray, hi: np.ndarray) -> None:
    start, end = frame["start_s"].to_numpy(), frame["end_s"].to_numpy()
    rep, slot = frame["replica"].to_numpy(), frame["slot"].to_numpy()
    names = frame["system"]
    n_sys, n_slots = on.shape
    found.add("value", ~np.isfinite(start), "start_s", lambda r: ["not a finite time"] * len(r))
    found.add("value", ~np.isfinite(end), "end_s", lambda r: ["not a finite time"] * len(r))
    back = np.isfinite(start) & np.isfinite(end) & (end < start - _tol(start))
    found.add("value", back, "end_s", lambda r: [f"ends before it starts ({start[i]:g})"
                                                  for i in r])
    found.add("value", rep < 0, "replica", lambda r: ["negative replica"] * len(r))
    found.add("value", slot < 0, "slot", lambda r: ["negative slot"] * len(r))
    found.add("system", sys_idx < 0, "system",
              lambda r: ["not a system of the fleet"] * len(r))
    found.add("slot", slot >= n_slots, "slot",
              lambda r: [f"beyond the {n_slots} slot(s) given"] * len(r))
    ok = (sys_idx >= 0) & (slot >= 0) & (slot < n_slots)
    s_, t_ = np.where(ok, sys_idx, 0), np.where(ok, slot, 0)
    limit = on[s_, t_]
    found.add("replica", ok & (rep >= limit), "replica",
              lambda r: [f"{names.iloc[i]!s} has {limit[i]} replicas on in slot {slot[i]}"
                         for i in r])
    a, b = lo[s_, t_], hi[s_, t_]
    found.add("window", ok & (start < a - _tol(a)), "start_s",
              lambda r: [f"before slot {slot[i]} starts ({a[i]:g})" for i in r])
    found.add("window", ok & (end > b + _tol(b)), "end_s",
              lambda r: [f"after slot {slot[i]} ends ({b[i]:g})" for i in r])
    # overlaps: sort by (system, replica, start) and compare with the previous row
    known = np.flatnonzero((sys_idx >= 0) & np.isfinite(start) & np.isfinite(end))
    order = known[np.lexsort((end[known], start[known], rep[known], sys_idx[known]))]
    same = (sys_idx[order][1:] == sys_idx[order][:-1]) & (rep[order][1:] == rep[order][:-1])
    prev_end = end[order][:-1]
    clash = same & (start[order][1:] < prev_end - _tol(prev_end))
    mask = np.zeros(len(frame), dtype=bool)
    mask[order[1:][clash]] = True
    prev_row = np.full(len(frame), -1)
    prev_row[order[1:]] = order[:-1]
    found.add("overlap", mask, "start_s",
              lambda r: [f"{names.iloc[i]!s} replica {rep[i]} is busy until {end[prev_row[i]]:g} "
                         f"with row {prev_row[i] + 1}" for i in r])


def _workload_checks(found: _Found, frame: pd.DataFrame, sys_idx: np.ndarray, fleet: Fleet,
                     workload: Workload | pd.DataFrame | None,
                     runtime_s: np.ndarray | pd.DataFrame | None) -> None:
    ids = frame["query_id"]
    start, end = frame["start_s"].to_numpy(), frame["end_s"].to_numpy()
    w_row = None
    if workload is None:
        found.add("duplicate", ids.duplicated().to_numpy(), "query_id",
                  lambda r: ["planned more than once"] * len(r))
    else:
        w_ids, rel, dl, unique = _workload_columns(workload)
        w_row = _positions(ids, w_ids, unique)
        known = w_row >= 0
        dup = pd.Series(w_row).duplicated().to_numpy() & known
        if not known.all():
            dup[~known] = ids[~known].duplicated().to_numpy()
        found.add("duplicate", dup, "query_id", lambda r: ["planned more than once"] * len(r))
        found.add("unknown query", ~known, "query_id",
                  lambda r: ["not a query of the workload"] * len(r))
        planned = np.zeros(len(w_ids), dtype=bool)
        planned[w_row[known]] = True
        if not planned.all():
            miss = np.flatnonzero(~planned)
            found.counts["missing"] = int(miss.size)
            found.listed["missing"] = [
                f"workload row {int(i) + 1}, column 'query_id', value {str(w_ids[i])!r}: "
                "not in the plan" for i in miss[:LISTED]]
        wr = np.where(known, w_row, 0)
        if rel is not None:
            r_ = rel[wr]
            found.add("release", known & (start < r_ - _tol(r_)), "start_s",
                      lambda r: [f"before its release ({r_[i]:g})" for i in r])
        if dl is not None:
            d_ = dl[wr]
            found.add("deadline", known & (end > d_ + _tol(d_)), "end_s",
                      lambda r: [f"after its deadline ({d_[i]:g})" for i in r])
    if runtime_s is not None:
        pred = _predicted(runtime_s, ids, sys_idx, w_row, fleet)
        took = end - start
        short = np.isfinite(pred) & (took < pred - _tol(pred))
        found.add("runtime", short, "end_s",
                  lambda r: [f"runs {took[i]:g} s, predicted {pred[i]:g} s" for i in r])


def _positions(ids: pd.Series, w_ids: object, unique: bool) -> np.ndarray:
    """Row of each planned id in the workload (−1 where absent); hash join, vectorised."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        pa = None
    if pa is not None:
        values = pa.array(w_ids, type=pa.string(), from_pandas=True)
        if not unique and pc.count_distinct(values).as_py() != len(values):
            raise InputError("workload: query ids are not unique")
        pos = pc.index_in(pa.array(ids, type=pa.string(), from_pandas=True),
                          value_set=values)
        return np.asarray(pos.fill_null(-1), dtype=np.int64)
    index = pd.Index(np.asarray(w_ids, dtype=object))
    if not unique and index.has_duplicates:
        raise InputError("workload: query ids are not unique")
    return index.get_indexer(np.asarray(ids, dtype=object))


def _workload_columns(workload: Workload | pd.DataFrame
                      ) -> tuple[Any, np.ndarray | None, np.ndarray | None, bool]:
    """``(ids, release_s, deadline_s, ids known unique)`` of a workload or a frame."""
    if isinstance(workload, pd.DataFrame):
        if "query_id" not in workload.columns:
            raise InputError("workload: needs a 'query_id' column to check a plan against")
        ids = workload["query_id"].astype(str).array
        values = [workload[c] if c in workload.columns else None
                  for c in ("release_s", "deadline_s")]
        unique = False
    else:
        ids = workload.ids
        values = [getattr(workload, c, None) for c in ("release_s", "deadline_s")]
        unique = True  # a Workload's ids are validated unique
    cols = [None if v is None else pd.to_numeric(pd.Series(np.asarray(v)), errors="coerce"
                                                 ).to_numpy(dtype=np.float64)
            for v in values]
    return ids, cols[0], cols[1], unique


def _predicted(runtime_s: np.ndarray | pd.DataFrame, ids: pd.Series, sys_idx: np.ndarray,
               w_row: np.ndarray | None, fleet: Fleet) -> np.ndarray:
    """Predicted runtime of each plan row on its system (NaN where unknown)."""
    n = len(ids)
    out = np.full(n, np.nan)
    if isinstance(runtime_s, pd.DataFrame):
        table = runtime_s.reindex(columns=fleet.names)
        rows = pd.Index(runtime_s.index.astype(str)).get_indexer(ids)
        mat = table.to_numpy(dtype=np.float64)
    else:
        if w_row is None:
            raise InputError("runtime_s: an (N, S) array needs the workload (its row order)")
        mat = np.asarray(runtime_s, dtype=np.float64)
        if mat.ndim != 2 or mat.shape[1] != len(fleet):
            raise InputError(f"runtime_s: shape {mat.shape}, expected (queries, "
                             f"{len(fleet)} systems)")
        rows = w_row
    ok = (rows >= 0) & (sys_idx >= 0)
    out[ok] = mat[rows[ok], sys_idx[ok]]
    return out
