"""Baselines for planning in time, scored by the same evaluation as the MILP.

==========================  =============================================================
``always-on``               today's plan (the one-slot MILP's routing), every replica on
                            in every slot; queries run as soon as possible
``as-soon-as-possible``     today's routing; each system fills its slots from the first
                            on (earliest deadline first) and powers on only the replicas
                            the busy time needs
``wait-awhile``             the carbon-shifting anchor (Wiesner et al., "Let's Wait
                            Awhile", Middleware 2021): today's routing; each system fills
                            its slots in order of the signal (carbon, else price), so every
                            query goes to the cleanest slot of its window that still has
                            room (tightest windows first); replicas as needed
``provisioned:<policy>``    any routing (a threshold or all-GPU schedule, ...) placed as
                            soon as possible with replicas as needed (:func:`from_routing`)
==========================  =============================================================

A query that finds no room in its window is put in its last allowed slot anyway, so the
plan is complete but breaks capacity there (``feasible = false``), as today's baselines do.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..errors import InputError
from .data import J_PER_KWH, PlanData
from .evaluate import evaluate
from .model import PlanResult


def class_routing(data: PlanData, counts: np.ndarray) -> np.ndarray:
    """Split a routing per token class (C, S) into one per time class (K, S).

    Within a token class, queries take the systems in input order (the first ``counts[c, 0]``
    to system 0, and so on); each query then counts for its own time class.
    """
    p, tc = data.problem, data.tclasses
    counts = np.asarray(counts, dtype=np.int64)
    n_s = p.n_systems
    if counts.shape != (p.classes.n_classes, n_s):
        raise InputError(f"routing: shape {counts.shape}, expected "
                         f"({p.classes.n_classes}, {n_s})")
    if (counts.sum(axis=1) != p.classes.count).any():
        raise InputError("routing: counts do not place every query exactly once")
    if not tc.has_windows and tc.n_classes == p.classes.n_classes:
        return counts[tc.base]
    qc = p.classes.query_class
    order = np.argsort(qc, kind="stable")
    start = np.concatenate([[0], np.cumsum(p.classes.count)[:-1]])
    rank = np.empty(qc.size, dtype=np.int64)
    rank[order] = np.arange(qc.size) - start[qc[order]]
    cum = np.cumsum(counts, axis=1)
    system = np.zeros(qc.size, dtype=np.int64)
    for s in range(n_s - 1):  # loop over systems only
        system += rank >= cum[qc, s]
    out = np.bincount(tc.query_tclass * n_s + system, minlength=tc.n_classes * n_s)
    return out.reshape(tc.n_classes, n_s)


def place(data: PlanData, routing: np.ndarray, slot_order: np.ndarray,
          priority: np.ndarray) -> tuple[np.ndarray, ...]:
    """Pour each system's queries into its slots, slot by slot in ``slot_order``.

    Args:
        data: the planner's data.
        routing: queries of time class k on system s, (K, S).
        slot_order: the order in which slots are filled.
        priority: rank of each time class (lower first) when a slot is contended, (K,).

    Returns:
        ``(k, system, slot, count)`` entries; queries left without room are in their last
        allowed slot.
    """
    rows = data.rows
    inst = np.array([s.instances for s in data.problem.fleet], dtype=np.float64)
    order = np.argsort(priority, kind="stable")
    out_k, out_s, out_t, out_c = [], [], [], []
    for s in range(routing.shape[1]):  # loop over systems, then slots
        rem = routing[:, s].astype(np.int64).copy()
        rt = rows.runtime[:, s]
        cap = inst[s] * data.grid.replica_s[s]
        for t in slot_order:
            cand = order[(rem[order] > 0) & (rows.first[order] <= t) & (rows.last[order] >= t)]
            if cand.size == 0:
                continue
            load = np.cumsum(rem[cand] * rt[cand])
            n_full = int(np.searchsorted(load, cap * (1 + 1e-12), side="right"))
            take = np.zeros(cand.size, dtype=np.int64)
            take[:n_full] = rem[cand[:n_full]]
            if n_full < cand.size:
                used = float(load[n_full - 1]) if n_full else 0.0
                r = rt[cand[n_full]]
                take[n_full] = int(min(rem[cand[n_full]], (cap - used) // r)) if r > 0 else \
                    rem[cand[n_full]]
            nz = take > 0
            out_k.append(cand[nz])
            out_s.append(np.full(int(nz.sum()), s))
            out_t.append(np.full(int(nz.sum()), t))
            out_c.append(take[nz])
            rem[cand] -= take
        late = np.flatnonzero(rem > 0)
        out_k.append(late)
        out_s.append(np.full(late.size, s))
        out_t.append(rows.last[late])
        out_c.append(rem[late])
    cat = [np.concatenate(v).astype(np.int64) for v in (out_k, out_s, out_t, out_c)]
    return tuple(cat)


def _needed_on(data: PlanData, k, s, t, c) -> np.ndarray:
    n_s, n_t = data.n_systems, data.grid.n_slots
    busy = np.zeros((n_s, n_t))
    np.add.at(busy, (s, t), c * data.rows.runtime[k, s])
    inst = np.array([sy.instances for sy in data.problem.fleet], dtype=np.int64)[:, None]
    lo = np.array([p.min_instances for p in data.provisioning], dtype=np.int64)[:, None]
    need = np.ceil(busy / data.grid.replica_s[:, None] - 1e-9).astype(np.int64)
    return np.minimum(np.maximum(need, lo), inst)


def _result(data: PlanData, name: str, k, s, t, c, on, t0: float) -> PlanResult:
    ev = evaluate(data, k, s, t, c, on)
    return PlanResult(data=data, policy=name, k=k, system=s, slot=t, count=c, on=on,
                      evaluation=ev, solve_s=time.perf_counter() - t0, method=name)


def today_routing(data: PlanData) -> np.ndarray:
    """The one-slot MILP's routing at the data's λ (``offline_sched.solve``), (C, S)."""
    from .. import solve

    p = data.problem
    return np.asarray(solve(p.workload, p.fleet, data.lam).counts)


def _edf(data: PlanData) -> np.ndarray:
    rows = data.rows
    return rows.last * (data.grid.n_slots + 1) + rows.first


def always_on(data: PlanData, routing: np.ndarray | None = None) -> PlanResult:
    """Today's routing, every replica on in every slot, queries as soon as possible."""
    t0 = time.perf_counter()
    routing = today_routing(data) if routing is None else routing
    k, s, t, c = place(data, class_routing(data, routing), np.arange(data.grid.n_slots),
                       _edf(data))
    inst = np.array([sy.instances for sy in data.problem.fleet], dtype=np.int64)
    on = np.repeat(inst[:, None], data.grid.n_slots, axis=1)
    return _result(data, "always-on", k, s, t, c, on, t0)


def as_soon_as_possible(data: PlanData, routing: np.ndarray | None = None,
                        name: str = "as-soon-as-possible") -> PlanResult:
    """Today's routing, earliest slots first, replicas on only as the busy time needs."""
    t0 = time.perf_counter()
    routing = today_routing(data) if routing is None else routing
    k, s, t, c = place(data, class_routing(data, routing), np.arange(data.grid.n_slots),
                       _edf(data))
    return _result(data, name, k, s, t, c, _needed_on(data, k, s, t, c), t0)


def wait_awhile(data: PlanData, routing: np.ndarray | None = None) -> PlanResult:
    """Today's routing; each query in the lowest-carbon slot of its window with room."""
    t0 = time.perf_counter()
    routing = today_routing(data) if routing is None else routing
    signal = data.carbon if data.carbon is not None else data.price
    if signal is None:
        signal = np.zeros(data.grid.n_slots)
    slot_order = np.argsort(signal, kind="stable")
    rows = data.rows
    width = rows.last - rows.first
    priority = width * (data.grid.n_slots + 1) + rows.last
    k, s, t, c = place(data, class_routing(data, routing), slot_order, priority)
    return _result(data, "wait-awhile", k, s, t, c, _needed_on(data, k, s, t, c), t0)


def from_routing(data: PlanData, routing: np.ndarray, name: str) -> PlanResult:
    """Any routing per token class (C, S), placed as soon as possible.

    For example a threshold or all-GPU schedule's ``counts``; replicas on as needed.
    """
    return as_soon_as_possible(data, routing, name=f"provisioned:{name}")


BASELINES: dict[str, Callable[..., PlanResult]] = {
    "always-on": always_on, "as-soon-as-possible": as_soon_as_possible,
    "wait-awhile": wait_awhile}


def run_baselines(data: PlanData, names: list[str] | None = None,
                  routing: np.ndarray | None = None) -> list[PlanResult]:
    """Run baselines (default: all three) sharing one routing (today's if None)."""
    names = list(BASELINES) if names is None else names
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise InputError(f"unknown baseline(s) {unknown}; expected {', '.join(BASELINES)}")
    routing = today_routing(data) if routing is None else routing
    return [BASELINES[n](data, routing) for n in names]


def plan_table(plans: list[PlanResult]) -> pd.DataFrame:
    """One row per plan, the columns of a comparison.

    Columns: ``policy, feasible, objective, energy_kwh, static_energy_kwh, carbon_kg, cost,
    instances_on_max, runtime_s, gap, status, solve_s``.
    """
    rows = []
    for pl in plans:
        ev = pl.evaluation
        rows.append({"policy": pl.policy, "feasible": ev.feasible, "objective": ev.objective,
                     "energy_kwh": ev.energy_j / J_PER_KWH,
                     "static_energy_kwh": ev.static_energy_j / J_PER_KWH,
                     "carbon_kg": ev.carbon_g / 1000.0, "cost": ev.cost,
                     "instances_on_max": ev.instances_on_max, "runtime_s": ev.runtime_s,
                     "gap": pl.gap, "status": pl.status, "solve_s": pl.solve_s})
    return pd.DataFrame(rows)
