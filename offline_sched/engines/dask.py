"""Scale-out: the group → solve → expand passes on a Dask dataframe (``--engine dask``).

What grows with the job list is reading it, grouping it and writing the per-query
assignment; the solve itself only sees the class table. So for job lists beyond one machine
the three passes run where the data lives, on Dask, over a directory of Parquet files:

1. **Group.** Each partition is validated (the same checks as the in-process path, with the
   partition named in messages) and reduced to query counts per (τin, τout); the counts are
   summed in a tree. Query ids, if present, are checked to be unique across partitions.
2. **Solve.** The class table (a :class:`~offline_sched.engines.classtable.ClassTable`) is solved
   in-process by the same :class:`~offline_sched.solver.HighsSolver` as the in-process path.
3. **Expand.** Each partition maps its queries back to systems with
   :func:`~offline_sched.schedule.expand_counts`, continuing each class where the earlier
   partitions stopped (one small counting pass over the few classes the optimum splits
   across systems), and writes its part of the assignment.

Because the class table, the solver and the expansion rule (within a class, queries in global
input order take the systems in order) are the same, the assignment equals the in-process
one query for query. Global input order is the files in name order, rows in file order.

Output: ``*.csv`` is one CSV file (parts concatenated in order); any other name is a
directory of Parquet parts ``part-000000.parquet``, … in input order. Parts are written by
the workers into a temporary folder beside the output, so with a distributed cluster that
folder must be on a shared file system.

Dask is imported lazily; install it with ``pip install 'offline-sched[dask]'``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from ..errors import InfeasibleError, InputError
from ..fleet import Fleet, System, load_systems
from ..fleet.toml import fleet_files
from ..io.assignment import generated_ids, write_assignment_part
from ..io.frames import int_column
from ..io.outputs import check_output, write_manifest
from ..io.suffix import PARQUET_SUFFIXES, is_parquet
from ..problem import AssignmentProblem, build_problem, check_lam
from ..progress import Phase, Progress, no_progress
from ..schedule import Schedule, expand_counts
from ..workload import Workload, class_keys, workload_from_frame
from .classtable import ClassTable, class_table_from_counts

TREE_FAN_IN = 8


@dataclass(frozen=True)
class DaskSolve:
    """Outcome of :func:`solve_dask`.

    Attributes:
        schedule: the class-level schedule (counts, evaluation, summary); it has no per-query
            ``assignment`` in memory — that is in ``out``.
        out: the assignment written (a CSV file or a directory of Parquet parts).
        partitions: number of Dask partitions processed.
    """

    schedule: Schedule
    out: Path
    partitions: int


def _dask():
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:
        raise InputError("the dask engine needs Dask: pip install 'offline-sched[dask]'"
                         ) from None
    return dask, dd


def parquet_files(source: str | os.PathLike[str]) -> list[Path]:
    """The Parquet files of ``source`` (a file, or a directory's files in name order).

    Raises:
        InputError: missing path, or a directory without ``*.parquet`` / ``*.pq`` files.
    """
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.is_file() and p.suffix.lower() in PARQUET_SUFFIXES)
        if not files:
            raise InputError(f"{path}: no .parquet files in this directory")
        return files
    if path.is_file():
        if path.suffix.lower() not in PARQUET_SUFFIXES:
            raise InputError(f"{path}: the dask engine reads Parquet (.parquet, .pq); "
                             "convert the file or use --engine pandas")
        return [path]
    raise InputError(f"{path}: no such file or directory")


def _tokens(frame: pd.DataFrame, source: str) -> np.ndarray:
    return class_keys(int_column(frame, "input_tokens", source),
                      int_column(frame, "output_tokens", source))


def _partition_counts(frame: pd.DataFrame, source: str) -> tuple[int, pd.Series]:
    """Validate one partition; return its length and its query counts per class key."""
    if len(frame) == 0:  # an empty part file holds no queries; only an empty total is an error
        return 0, pd.Series(dtype=np.int64)
    wl = workload_from_frame(frame, source)
    keys = class_keys(wl.input_tokens, wl.output_tokens)
    return len(wl), pd.Series(keys).value_counts(sort=False)


def _sum_counts(parts: Sequence[pd.Series]) -> pd.Series:
    return pd.concat(parts).groupby(level=0).sum()


def _split_counts(frame: pd.DataFrame, split_keys: np.ndarray, source: str) -> np.ndarray:
    """Queries of each split class in this partition."""
    keys = _tokens(frame, source)
    pos = np.minimum(np.searchsorted(split_keys, keys), split_keys.size - 1)
    hit = split_keys[pos] == keys
    return np.bincount(pos[hit], minlength=split_keys.size)


def _expand_partition(frame: pd.DataFrame, source: str, keys_sorted: np.ndarray,
                      counts: np.ndarray, split: np.ndarray, split_start: np.ndarray,
                      row_start: int, names: list[str], path: str, header: bool) -> int:
    """Assign this partition's queries to systems and write its part of the assignment.

    ``split_start``: queries of each split class in the earlier partitions.
    """
    cls = np.searchsorted(keys_sorted, _tokens(frame, source))
    start = np.zeros(keys_sorted.size, dtype=np.int64)
    start[split] = split_start
    system_index = expand_counts(cls, counts, start)
    if "query_id" in frame.columns:
        ids = frame["query_id"].astype(str).array
    else:
        ids = generated_ids(row_start, row_start + len(frame))
    write_assignment_part(path, ids, system_index, names, header=header)
    return len(frame)


def _tree(delayed, items: list, combine: Callable):
    while len(items) > 1:
        items = [delayed(combine)(items[i:i + TREE_FAN_IN])
                 for i in range(0, len(items), TREE_FAN_IN)]
    return items[0]


def _check_orphans(table: ClassTable, fleet: Fleet) -> None:
    """Raise the in-process path's error for queries no system can take (without row ids)."""
    ok = np.zeros(table.count.shape, dtype=bool)
    for system in fleet:
        if system.instances > 0:
            ok |= system.eligible(table.input_tokens, table.output_tokens)
    if not ok.all():
        first = int(np.flatnonzero(~ok)[0])
        raise InfeasibleError(
            f"{int(table.count[~ok].sum())} queries fit no system's token limits, e.g. "
            f"input_tokens={table.input_tokens[first]}, "
            f"output_tokens={table.output_tokens[first]} in {table.source}")


def _check_range(problem: AssignmentProblem) -> None:
    if problem.outside_range.any():
        c, s = (int(v[0]) for v in np.nonzero(problem.outside_range))
        m = problem.fleet[s].cost.runtime
        raise InputError(
            f"{problem.workload.source}: {problem.extrapolated} (query, system) predictions "
            f"lie outside the measured token range, e.g. input_tokens="
            f"{problem.classes.input_tokens[c]}, output_tokens="
            f"{problem.classes.output_tokens[c]} on {problem.fleet[s].name!r} (measured input "
            f"{m.input_range}, output {m.output_range}); drop --strict-range to extrapolate")


def solve_dask(source: str | os.PathLike[str],
               systems: Fleet | Sequence[System] | str | os.PathLike[str] = "hybrid",
               lam: float = 0.5, out: str | os.PathLike[str] = "assignment.csv", *,
               time_limit: float | None = None, gap_tol: float | None = None,
               strict_range: bool = False, scheduler: object = None,
               progress: Progress | None = None, overwrite: bool = False) -> DaskSolve:
    """Solve a job list held as Parquet files with Dask, writing the per-query assignment.

    Args:
        source: a Parquet file or a directory of Parquet files (read in name order).
        systems: the fleet (bundled name, TOML path or list of systems).
        lam: λ in [0, 1], the weight of energy.
        out: ``*.csv``: one CSV file; otherwise a directory of Parquet parts.
        time_limit: seconds for the MILP; on expiry the best schedule found is used.
        gap_tol: certified relative gap to reach (default 1e-6).
        strict_range: refuse queries outside a cost model's measured token range.
        scheduler: passed to :func:`dask.compute` (``"threads"``, ``"synchronous"``, a
            ``distributed.Client``, ...); None uses Dask's default or the active client.
        progress: called as each phase starts (see :class:`~offline_sched.progress.Phase`).
        overwrite: replace a non-empty output directory that offline_sched did not write.

    Returns:
        The class-level schedule and where the assignment was written.

    Raises:
        InputError: Dask missing, bad input (file, partition, row, column and value named).
        InfeasibleError: capacities, shares or token limits cannot all be met.
    """
    from ..policies import milp

    dask, dd = _dask()
    from dask import delayed

    lam = check_lam(lam)
    check_output(out, inputs=[source, systems, *fleet_files(systems)],
                 directory=not str(out).lower().endswith(".csv"), overwrite=overwrite)
    say = progress or no_progress
    files = parquet_files(source)
    fleet = load_systems(systems)
    ddf = dd.read_parquet([str(f) for f in files])
    label = str(source)
    missing = [c for c in ("input_tokens", "output_tokens") if c not in ddf.columns]
    if missing:
        have = ", ".join(map(str, list(ddf.columns)[:8]))
        raise InputError(f"{label}: missing column {missing[0]!r} (found: {have})")
    parts = ddf.to_delayed()
    names = [f"{label} (partition {i})" for i in range(len(parts))]
    say(Phase.READ, f"grouping {len(files)} file(s), {len(parts)} partition(s) with Dask ...")
    per_part = [delayed(_partition_counts, nout=2)(part, name)
                for part, name in zip(parts, names, strict=True)]
    counts, lengths = dask.compute(_tree(delayed, [c for _, c in per_part], _sum_counts),
                                   [n for n, _ in per_part], scheduler=scheduler)
    lengths = np.asarray(lengths, dtype=np.int64)
    n_queries = int(lengths.sum())
    if n_queries == 0:
        raise InputError(f"{label}: no data rows")
    if "query_id" in ddf.columns:  # unique across partitions too (a shuffle of the ids only)
        unique = int(ddf["query_id"].astype(str).nunique().compute(scheduler=scheduler))
        if unique < n_queries:
            raise InputError(f"{label}: duplicate query ids ({n_queries - unique} repeated "
                             "values)")

    table = class_table_from_counts(counts, source=label)
    _check_orphans(table, fleet)
    # a ClassTable stands in for a Workload: build_problem reads only len(), classes(), ids
    problem = build_problem(cast(Workload, table), fleet)
    if strict_range:
        _check_range(problem)
    say(Phase.SOLVE, f"{n_queries} queries in {table.count.size} classes, {len(fleet)} "
        "systems; solving ...")
    sched = milp(problem, lam, time_limit=time_limit, gap_tol=gap_tol)

    keys_sorted = class_keys(table.input_tokens, table.output_tokens)
    split = (sched.counts > 0).sum(axis=1) > 1
    starts = np.zeros((len(parts), int(split.sum())), dtype=np.int64)
    if split.any():
        say(Phase.EXPAND, f"{int(split.sum())} classes are split across systems; counting "
            "them per partition ...")
        split_keys = delayed(keys_sorted[split], pure=True)
        per = dask.compute(*[delayed(_split_counts)(part, split_keys, name)
                             for part, name in zip(parts, names, strict=True)],
                           scheduler=scheduler)
        starts = np.cumsum(np.vstack([np.zeros((1, starts.shape[1]), dtype=np.int64)]
                                     + [np.asarray(p)[None, :] for p in per]), axis=0)[:-1]
    say(Phase.WRITE, f"writing {out} ...")
    shared = [delayed(x, pure=True) for x in (keys_sorted, sched.counts, split)]
    _write(dask, delayed, parts, names, shared, starts, lengths, list(fleet.names),
           Path(out), scheduler, overwrite)
    return DaskSolve(schedule=sched, out=Path(out), partitions=len(parts))


def _write(dask, delayed, parts: list, names: list[str], shared: list, starts: np.ndarray,
           lengths: np.ndarray, systems: list[str], out: Path, scheduler: object,
           overwrite: bool = False) -> None:
    """Expand and write every partition into a temporary folder, then move it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    csv = not is_parquet(out) and out.suffix.lower() == ".csv"
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".parts", dir=out.parent))
    try:
        suffix = ".csv" if csv else ".parquet"
        row_start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        paths = [str(tmp / f"part-{i:06d}{suffix}") for i in range(len(parts))]
        dask.compute(*[delayed(_expand_partition)(part, name, *shared, starts[i],
                                                  int(row_start[i]), systems, paths[i],
                                                  i == 0)
                       for i, (part, name) in enumerate(zip(parts, names, strict=True))],
                     scheduler=scheduler)
        if csv:
            from ..io.atomic import atomic_path

            with atomic_path(out) as target, open(target, "wb") as dst:
                for path in paths:
                    with open(path, "rb") as src:
                        shutil.copyfileobj(src, dst)
        else:
            check_output(out, directory=True, overwrite=overwrite)
            write_manifest(tmp, source="dask engine", parts=len(paths))
            old = None
            if out.exists():
                old = out.with_name(f".{out.name}.old")
                os.replace(out, old)
            umask = os.umask(0)
            os.umask(umask)
            for entry in [tmp, *tmp.iterdir()]:  # mkdtemp makes 0700: normal permissions
                os.chmod(entry, (0o777 if entry.is_dir() else 0o666) & ~umask)
            os.replace(tmp, out)
            if old is not None:
                shutil.rmtree(old) if old.is_dir() else old.unlink()
    finally:
        with contextlib.suppress(FileNotFoundError):
            if tmp.exists():
                shutil.rmtree(tmp)
