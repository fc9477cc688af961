"""Executable plans: one row per query ``query_id, system, replica, slot, start_s, end_s``.

A :class:`Plan` is what an operator or a script runs: replica ``replica`` (0-based within
its system) starts query ``query_id`` at ``start_s`` seconds from the window start and is
done with it by ``end_s``, within slot ``slot``. Rows are ordered by system, replica, start.
Times are on the query's amortised runtime (see :mod:`offline_sched.dispatch.packing`).

:func:`plan_for_schedule` packs a :class:`~offline_sched.Schedule` (one slot per system, its
``window_s``), repairs what does not pack and returns the plan; :func:`write_plan` writes it
as CSV (Arrow's writer when pyarrow is installed: shortest round-trip floats, about ten
times faster than pandas) or Parquet, atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InfeasibleError, InputError
from .packing import Packing, pack
from .repair import repair

PLAN_COLUMNS = ["query_id", "system", "replica", "slot", "start_s", "end_s"]


@dataclass(frozen=True)
class Plan:
    """Per-replica queues with start and end times.

    Attributes:
        frame: columns exactly :data:`PLAN_COLUMNS`, one row per query, ordered by system,
            replica, start (``system`` is categorical over the fleet's system names).
        packing_loss_s: pooled capacity that packing could not use [s], before repair.
        moved: queries the repair moved to another system, slot or replica.
        repair_cost: total extra cost of those moves (units of the cost given to repair).
        groups: per (system, slot): ``system, slot, replicas, capacity_s, load_s,
            packed_s, overflow_s, loss_s`` as packed (before repair).
    """

    frame: pd.DataFrame
    packing_loss_s: float = 0.0
    moved: int = 0
    repair_cost: float = 0.0
    groups: pd.DataFrame | None = None

    @property
    def summary(self) -> dict:
        """``queries, replicas_used, makespan_s, packing_loss_s, moved, repair_cost``."""
        f = self.frame
        used = f.groupby(["system", "replica"], observed=True).ngroups if len(f) else 0
        return {"queries": len(f), "replicas_used": int(used),
                "makespan_s": float(f["end_s"].max()) if len(f) else 0.0,
                "packing_loss_s": self.packing_loss_s, "moved": self.moved,
                "repair_cost": self.repair_cost}


def to_plan(packing: Packing, query_ids: object = None,
            system_names: list[str] | None = None) -> Plan:
    """Turn a packing without overflow into a :class:`Plan` (sorted; vectorised).

    Args:
        packing: a packing whose every query is placed (after :func:`repair`).
        query_ids: ids per query, (N,) (numpy, pandas or Arrow-backed strings); None:
            ``q0, q1, …`` in query order.
        system_names: name of each system index; None: ``"0", "1", …``.

    Raises:
        InfeasibleError: some queries are not placed (repair the packing first).
    """
    if not packing.ok:
        raise InfeasibleError(f"plan: {packing.overflow.size} queries fit no replica "
                              f"({packing.packing_loss_s:.6g} s of packing loss); "
                              "repair the packing first")
    n_sys = packing.instances_on.shape[0]
    names = list(system_names) if system_names is not None else [str(s) for s in
                                                                  range(n_sys)]
    offset = np.concatenate([[0], np.cumsum(packing.instances_on.max(axis=1))[:-1]])
    rid = offset[packing.system] + packing.replica
    order = np.argsort(packing.start_s, kind="stable")
    small = np.int16 if rid.size == 0 or rid.max() < 2**15 else np.int32
    order = order[np.argsort(rid[order].astype(small), kind="stable")]
    n = packing.system.shape[0]
    ids: object
    if query_ids is None:
        ids = np.char.add("q", order.astype(str)).astype(object)
    else:
        if len(query_ids) != n:  # type: ignore[arg-type]
            raise InputError(f"query_ids: {len(query_ids)} ids for "  # type: ignore[arg-type]
                             f"{n} queries")
        ids = _take(query_ids, order)
    frame = pd.DataFrame({
        "query_id": ids,
        "system": pd.Categorical.from_codes(packing.system[order], categories=names),
        "replica": packing.replica[order],
        "slot": packing.slot[order],
        "start_s": packing.start_s[order],
        "end_s": packing.end_s[order],
    })
    groups = packing.groups.assign(system=np.asarray(names, dtype=object)[
        packing.groups["system"].to_numpy()])
    return Plan(frame=frame, packing_loss_s=packing.packing_loss_s, moved=packing.moved,
                repair_cost=float(packing.info.get("repair_cost", 0.0)), groups=groups)


def _take(values: object, order: np.ndarray) -> object:
    if isinstance(values, pd.Series):
        return values.array.take(order)
    if isinstance(values, pd.api.extensions.ExtensionArray):
        return values.take(order)
    return np.asarray(values, dtype=object)[order]


def pack_schedule(schedule: object) -> Packing:
    """Pack a :class:`~offline_sched.Schedule` onto its fleet's replicas and repair it.

    Today's schedule: one slot per system, ``[0, window_s)``, with ``instances`` replicas.
    A schedule planned in time: each query in its slot, on the replicas the plan has on in
    that (system, slot), inside the query's release/deadline window. Per-query runtimes come
    from the problem's cost model; overflow goes to the cheapest eligible (system, slot) with
    room by the schedule's objective weights at its λ (by runtime where weights are
    unavailable). Moved queries can break the schedule's share bounds
    (``min_share``/``max_share``).

    Raises:
        InfeasibleError: what does not pack fits nowhere else either.
    """
    problem = schedule.problem  # type: ignore[attr-defined]
    fleet = problem.fleet
    qc = problem.classes.query_class
    si = np.asarray(schedule.system_index, dtype=np.int64)  # type: ignore[attr-defined]
    planned = getattr(schedule, "planned", None)
    if planned is not None:
        return _pack_planned(schedule, planned, si)
    packing = pack(problem.runtime_s[qc, si], si,
                   instances_on=np.array([[s.instances] for s in fleet], dtype=np.int64),
                   slot_s=np.array([[s.window_s] for s in fleet], dtype=np.float64))
    if not packing.ok:
        try:
            cost = problem.weights(schedule.lam)  # type: ignore[attr-defined]
        except InputError:
            cost = None
        packing = repair(packing, problem.runtime_s, problem.eligible, cost, row=qc,
                         system_names=list(fleet.names), query_ids=problem.workload.ids)
    return packing


EXTRA_REPLICA_ROUNDS = 3
"""Rounds of powering on spare replicas where a planned (system, slot) does not pack,
before repair moves the rest."""
PER_SLOT_COST_MAX = 5_000_000
"""Largest (time classes × systems × slots) for which repair prices moves per slot (the
plan's slot weights); above it, one weight per (time class, system) at the mean signal."""


def _pack_planned(schedule: object, planned: Any, si: np.ndarray) -> Packing:
    """:func:`pack_schedule` for a schedule planned in time (slots, replicas on, windows)."""
    data = planned.data
    problem = data.problem
    rows, tc = data.rows, data.tclasses
    slot = np.asarray(schedule.slot_index, dtype=np.int64)  # type: ignore[attr-defined]
    wl = problem.workload
    runtime = np.where(rows.eligible, rows.runtime, np.inf)
    rt = runtime[tc.query_tclass, si]
    inst = np.array([[sy.instances] for sy in problem.fleet], dtype=np.int64)
    on = np.asarray(planned.on, dtype=np.int64)
    for _ in range(EXTRA_REPLICA_ROUNDS + 1):
        packing = pack(rt, si, slot, instances_on=on, slot_s=float(data.grid.slot_s),
                       release_s=getattr(wl, "release_s", None),
                       deadline_s=getattr(wl, "deadline_s", None))
        if packing.ok:
            return packing
        # what does not pack: power on spare replicas in its (system, slot) first
        over = np.zeros(on.shape)
        q = packing.overflow
        np.add.at(over, (si[q], slot[q]), rt[q])
        more = np.minimum(on + np.ceil(over / float(data.grid.slot_s)).astype(np.int64)
                          + (over > 0), inst)
        if (more == on).all():
            break
        on = more
    # repair may use every replica, on or not (the re-scored plan then counts it as on)
    packing = dataclasses.replace(packing, instances_on=np.broadcast_to(inst, on.shape).copy())
    g = np.asarray(data.g_slot, dtype=np.float64)
    if rows.a.size * g.size <= PER_SLOT_COST_MAX:
        cost = rows.a[:, :, None] * g[None, None, :] + data.beta * rows.runtime[:, :, None]
    else:
        cost = rows.a * float(g.mean()) + data.beta * rows.runtime
    return repair(packing, runtime, rows.eligible, cost, row=tc.query_tclass,
                  system_names=list(problem.fleet.names), query_ids=wl.ids)


def plan_for_schedule(schedule: object) -> Plan:
    """The executable per-replica :class:`Plan` of a schedule (see :func:`pack_schedule`)."""
    problem = schedule.problem  # type: ignore[attr-defined]
    return to_plan(pack_schedule(schedule), problem.workload.ids, list(problem.fleet.names))


def executable_schedule(schedule: Any) -> Any:
    """The schedule made executable: packed onto replicas, with its plan attached.

    When packing fits every query on the system the schedule chose, the schedule is returned
    as is (its ``plan`` filled in). When repair had to move queries, a new schedule holding the
    moved assignment is returned; its objective is re-scored and its certified gap recomputed
    against the same pooled lower bound (the bound of the pooled-capacity relaxation, which
    every executable plan also obeys), so the gap stays honest.

    Raises:
        InfeasibleError: what does not pack fits nowhere else either, or only by breaking a
            share bound.
    """
    from ..schedule import Schedule
    from ..solver.status import GAP_TOL, SolveResult, Status, relative_gap

    problem = schedule.problem
    packing = pack_schedule(schedule)
    plan = to_plan(packing, problem.workload.ids, list(problem.fleet.names))
    planned = getattr(schedule, "planned", None)
    same_on = planned is None or np.array_equal(_on_used(packing, planned), planned.on)
    if packing.moved == 0 and same_on:
        schedule.__dict__["plan"] = plan
        return schedule
    if planned is not None:
        moved = _moved_plan(schedule, packing)
    else:
        moved = Schedule(problem, schedule.policy, schedule.lam,
                         system_index_=np.asarray(packing.system, dtype=np.int64),
                         solve_s=schedule.solve_s, params=dict(schedule.params))
    broken = moved.violations()
    if broken:  # repair moved queries across a share bound: no executable plan is certified
        raise InfeasibleError("packing: the queries that do not pack onto replicas can only "
                              f"move by breaking a constraint ({'; '.join(broken)}); reserve "
                              "the shortfall and re-solve, or add capacity")
    res = schedule.result
    if res is not None:
        value = moved.objective
        gap = relative_gap(value, res.lower_bound)
        moved.result = SolveResult(moved.counts, Status.OPTIMAL if gap <= GAP_TOL else
                                   Status.GAP, value, res.lower_bound, gap, res.solve_s,
                                   f"{res.method}+packing", res.lp_s)
    moved.__dict__["plan"] = plan
    return moved


def _on_used(packing: Packing, planned: Any) -> np.ndarray:
    """Replicas on per (system, slot) after packing: the plan's, plus any spare ones it used."""
    used = np.zeros(packing.instances_on.shape, dtype=np.int64)
    np.maximum.at(used, (packing.system, packing.slot), packing.replica + 1)
    return np.maximum(np.asarray(planned.on, dtype=np.int64), used)


def _moved_plan(schedule: Any, packing: Packing) -> Any:
    """The planned schedule re-scored with the systems and slots repair chose."""
    from ..planner.evaluate import evaluate
    from ..planner.model import PlanResult
    from ..planner.schedules import to_schedule

    planned = schedule.planned
    data = planned.data
    n_s, n_t = data.n_systems, data.grid.n_slots
    key = (data.tclasses.query_tclass * n_s + packing.system) * n_t + packing.slot
    uniq, count = np.unique(key, return_counts=True)
    k, rest = uniq // (n_s * n_t), uniq % (n_s * n_t)
    s, t = rest // n_t, rest % n_t
    on = _on_used(packing, planned)
    ev = evaluate(data, k, s, t, count, on)
    plan = PlanResult(data=data, policy=planned.policy, k=k, system=s, slot=t, count=count,
                      on=on, evaluation=ev, lower_bound=planned.lower_bound,
                      solve_s=planned.solve_s, method=f"{planned.method}+packing",
                      info=planned.info)
    return to_schedule(plan, schedule.policy)


def write_plan(plan: Plan | pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a plan as CSV (Parquet for ``.parquet``/``.pq``), atomically.

    Args:
        plan: the plan or its frame.
        path: output path.

    Returns:
        The path written.
    """
    frame = plan.frame if isinstance(plan, Plan) else plan
    if os.fspath(path) == "-":  # standard output, as for every other table
        from ..io.atomic import write_frame

        return write_frame(frame, path)
    target = Path(path)
    parquet = target.suffix.lower() in (".parquet", ".pq")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if parquet:
            frame.to_parquet(tmp, index=False)
        elif not _arrow_csv(frame, tmp):
            frame.to_csv(tmp, index=False)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return target


def _arrow_csv(frame: pd.DataFrame, tmp: Path) -> bool:
    """Write with pyarrow's CSV writer; False (nothing written) when it cannot.

    It cannot without pyarrow, or when a value needs quoting (pandas writes those).
    """
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pcsv
    except ImportError:
        return False
    table = pa.Table.from_pandas(frame[PLAN_COLUMNS], preserve_index=False)
    for name in ("query_id", "system"):
        col = pc.cast(table[name], pa.string())  # dictionary (categorical) → plain strings
        if pc.any(pc.match_substring_regex(col, r'[",\r\n]')).as_py():
            return False
        table = table.set_column(table.schema.get_field_index(name), name, col)
    with open(tmp, "wb") as fh:
        fh.write((",".join(PLAN_COLUMNS) + "\n").encode())
        pcsv.write_csv(table, fh, pcsv.WriteOptions(include_header=False,
                                                    quoting_style="none"))
    return True
