"""Writing per-query assignments (``query_id, system``) to CSV or Parquet, fast and atomically.

A day's assignment has one row per query, so writing it is one of the three passes that grow
with the job list. With pyarrow installed the table is built column-wise in Arrow — query ids
stay Arrow strings, the system column is a ``take`` from the system names — and written by
Arrow's CSV or Parquet writer, about ten times faster than :meth:`pandas.DataFrame.to_csv`.
The CSV is byte-for-byte what pandas writes (``index=False``); ids that need quoting (commas,
quotes, line breaks) fall back to pandas. Without pyarrow, CSV is written by pandas and
Parquet is refused with an install hint.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .atomic import atomic_path
from .suffix import is_parquet


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.compute
        import pyarrow.csv
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return None
    return pyarrow


def generated_ids(start: int, stop: int) -> np.ndarray:
    """Ids ``q<start>, …, q<stop-1>`` of queries without a ``query_id`` (input row order)."""
    return np.char.add("q", np.arange(start, stop).astype(str))


def assignment_table(query_ids, system_index: np.ndarray, system_names: list[str]):
    """The assignment as a pyarrow Table ``query_id, system`` (None without pyarrow).

    Args:
        query_ids: ids per query (numpy, pandas or Arrow strings), (N,).
        system_index: system of each query, (N,).
        system_names: name of each system index.
    """
    pa = _pyarrow()
    if pa is None:
        return None
    if isinstance(query_ids, pd.api.extensions.ExtensionArray | pd.Series):
        ids = pa.array(query_ids, type=pa.string(), from_pandas=True)
    elif isinstance(query_ids, pa.Array | pa.ChunkedArray):
        ids = query_ids
    else:
        ids = pa.array(np.asarray(query_ids), type=pa.string())
    systems = pa.array(system_names, type=pa.string()).take(
        pa.array(np.asarray(system_index)))
    return pa.table({"query_id": ids, "system": systems})


def write_assignment(path: str | os.PathLike[str], query_ids, system_index: np.ndarray,
                     system_names: list[str], slot: np.ndarray | None = None) -> Path:
    """Write ``query_id, system`` rows (input order) to CSV or Parquet, atomically.

    Args:
        path: output file; ``.parquet``/``.pq`` writes Parquet, anything else CSV.
        query_ids: ids per query, (N,).
        system_index: system of each query, (N,).
        system_names: name of each system index.
        slot: slot of each query (0-based), (N,): a third column ``slot``; None: none.

    Returns:
        The path written.

    Raises:
        InputError: Parquet asked for without pyarrow installed.
    """
    table = assignment_table(query_ids, system_index, system_names)
    if table is not None and slot is not None:
        import pyarrow as pa

        table = table.append_column("slot", pa.array(np.asarray(slot, dtype=np.int64)))
    with atomic_path(path) as tmp:
        if table is not None:
            _write_table(table, tmp, is_parquet(path), names=system_names)
        elif is_parquet(path):
            raise InputError(f"{path}: writing Parquet needs pyarrow: pip install pyarrow")
        else:
            names = np.asarray(system_names, dtype=object)
            frame = pd.DataFrame({"query_id": np.asarray(query_ids, dtype=object),
                                  "system": names[np.asarray(system_index)]})
            if slot is not None:
                frame["slot"] = np.asarray(slot, dtype=np.int64)
            frame.to_csv(tmp, index=False)
    return Path(path)


def _needs_quotes(text: str) -> bool:
    return any(ch in text for ch in ',"\r\n')


def _write_table(table, tmp: Path, parquet: bool, names: list[str], header: bool = True
                 ) -> None:
    """Write an Arrow table as Parquet, or as CSV exactly as pandas would."""
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if parquet:
        pq.write_table(table, tmp)
        return
    if (any(_needs_quotes(name) for name in names)
            or pc.any(pc.match_substring_regex(table["query_id"], r'[",\r\n]')).as_py()):
        table.to_pandas().to_csv(tmp, index=False, header=header)
        return
    with open(tmp, "wb") as fh:
        if header:
            fh.write((",".join(table.column_names) + "\n").encode())
        pcsv.write_csv(table, fh, pcsv.WriteOptions(include_header=False, quoting_style="none"))


def write_assignment_part(path: str | os.PathLike[str], query_ids, system_index: np.ndarray,
                          system_names: list[str], header: bool) -> Path:
    """Write one part of a partitioned assignment (no atomic rename; the caller owns ``path``).

    Args:
        path: the part file (Parquet by suffix, else CSV).
        query_ids: ids of this part's queries.
        system_index: their systems.
        system_names: name of each system index.
        header: write the CSV header (the first part only).
    """
    table = assignment_table(query_ids, system_index, system_names)
    if table is None:
        if is_parquet(path):
            raise InputError(f"{path}: writing Parquet needs pyarrow: pip install pyarrow")
        names = np.asarray(system_names, dtype=object)
        pd.DataFrame({"query_id": np.asarray(query_ids, dtype=object),
                      "system": names[np.asarray(system_index)]}).to_csv(
            path, index=False, header=header)
    else:
        _write_table(table, Path(path), is_parquet(path), names=system_names, header=header)
    return Path(path)


def write_schedule(schedule, path: str | os.PathLike[str]) -> Path:
    """Write a :class:`~offline_sched.schedule.Schedule`'s assignment (input order).

    Ids not given in the workload are generated as ``q0, q1, …`` without building Python
    strings per query. A schedule planned in more than one slot gains a ``slot`` column.
    """
    workload = schedule.problem.workload
    ids = workload.query_ids
    if ids is None:
        ids = generated_ids(0, len(workload))
    slot = schedule.slot_index if getattr(schedule, "n_slots", 1) > 1 else None
    return write_assignment(path, ids, schedule.system_index, list(schedule.problem.fleet.names),
                            slot=slot)
