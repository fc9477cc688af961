"""Repairing a packing: move queries that did not fit to replicas with room.

:func:`~offline_sched.dispatch.packing.pack` leaves a few queries over where pooled capacity
does not pack into replicas. :func:`repair` moves each to the cheapest (system, slot) it is
eligible for whose freest replica can take it — inside the slot and the query's release and
deadline — using the same vectorised rounds as the packer's refill
(:func:`~offline_sched.dispatch.queues.fill_round`), so the returned plan is always
executable. When some query fits nowhere it raises :class:`InfeasibleError` naming the
system (and slot) that is short and by how much; the caller may then re-solve with that
shortfall reserved (e.g. capacity reduced by ``packing_loss_s`` on that system).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from offline_sched.dispatch.packing import Packing
from offline_sched.dispatch.queues import Pool, fill_round, make_pool
from offline_sched.errors import InfeasibleError, InputError


def repair(packing: Packing, runtime_s: np.ndarray, eligible: np.ndarray,
           cost: np.ndarray | None = None, *, row: np.ndarray | None = None,
           system_names: list[str] | None = None, query_ids: object = None) -> Packing:
    """Move every overflow query to a replica with room, cheapest extra cost first.

    Per-(query, system) data may be given per query (K = N rows) or per class (``row``
    maps each query to its class), e.g. an :class:`~offline_sched.AssignmentProblem`'s
    ``runtime_s``, ``eligible`` and ``weights(lam)`` with ``row=classes.query_class``.

    Args:
        packing: the result of :func:`~offline_sched.dispatch.packing.pack`.
        runtime_s: runtime on each system [s], (K, S); non-finite = cannot run there.
        eligible: whether each system may take the query, (K, S).
        cost: cost of running the query on each system, (K, S), or per slot (K, S, T);
            lower is better. None: the runtime.
        row: row of each query in the arrays above, (N,); None: the identity.
        system_names: names for messages (default ``system 0``, …).
        query_ids: ids per query for messages (default the query index).

    Returns:
        A :class:`Packing` without overflow; ``moved`` counts the queries moved and
        ``info["repair_cost"]`` is the total extra cost.

    Raises:
        InfeasibleError: some queries fit no eligible replica with room (which system is
            short, by how many seconds, with an example).
        InputError: arrays of the wrong shape.
    """
    if packing.ok:
        return packing
    on = packing.instances_on
    n_sys, n_slots = on.shape
    q = packing.overflow
    rows = q if row is None else np.asarray(row)[q]
    rt = _matrix(runtime_s, "runtime_s", n_sys)[rows]
    ok = _matrix(eligible, "eligible", n_sys)[rows].astype(bool) & np.isfinite(rt)
    c = rt if cost is None else _cost(cost, n_sys, n_slots)[rows]
    if c.ndim == 2:
        c = np.repeat(c[:, :, None], n_slots, axis=2)
    c = np.where(ok[:, :, None], c, np.inf).reshape(q.size, n_sys * n_slots)
    rtg = np.repeat(rt, n_slots, axis=1)  # (K, G)
    pool = make_pool(on, packing.slot_start, packing.slot_end)
    on_now = packing.replica >= 0
    gq = packing.system * n_slots + packing.slot
    np.maximum.at(pool.tails, pool.offset[gq[on_now]] + packing.replica[on_now],
                  packing.end_s[on_now])
    rel = None if packing.release_s is None else packing.release_s[q]
    dl = None if packing.deadline_s is None else packing.deadline_s[q]
    system, slot = packing.system.copy(), packing.slot.copy()
    replica, start = packing.replica.copy(), packing.start_s.copy()
    end, runtime = packing.end_s.copy(), packing.runtime_s.copy()
    base = c[np.arange(q.size), gq[q]]
    extra = 0.0
    todo = np.arange(q.size)
    while todo.size:
        fits = _fits(pool, rtg[todo], None if rel is None else rel[todo],
                     None if dl is None else dl[todo])
        cc = np.where(fits, c[todo], np.inf)
        best = np.argmin(cc, axis=1)
        can = np.isfinite(cc[np.arange(todo.size), best])
        if not can.all():
            _raise(packing, q[todo[~can]], system_names, query_ids)
        placed, _, rep, s, e = fill_round(
            pool, best, rtg[todo, best], None if rel is None else rel[todo],
            None if dl is None else dl[todo])
        if not placed.any():  # cannot happen (the freest replica takes one); never spin
            _raise(packing, q[todo], system_names, query_ids)
        idx, grp = todo[placed], best[placed]
        qi = q[idx]
        system[qi], slot[qi] = grp // n_slots, grp % n_slots
        replica[qi], start[qi], end[qi] = rep[placed], s[placed], e[placed]
        runtime[qi] = rtg[idx, grp]
        extra += float(np.sum(c[idx, grp] - np.where(np.isfinite(base[idx]), base[idx],
                                                     c[idx, grp])))
        todo = todo[~placed]
    info = dict(packing.info, repair_cost=extra)
    return replace(packing, system=system, slot=slot, replica=replica, start_s=start,
                   end_s=end, runtime_s=runtime, overflow=np.empty(0, dtype=np.int64),
                   moved=packing.moved + int(q.size), info=info)


def _matrix(values: np.ndarray, name: str, n_sys: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.shape[1] != n_sys:
        raise InputError(f"{name}: shape {arr.shape}, expected (rows, {n_sys} systems)")
    return arr


def _cost(cost: np.ndarray, n_sys: int, n_slots: int) -> np.ndarray:
    arr = np.asarray(cost, dtype=np.float64)
    if not ((arr.ndim == 2 and arr.shape[1] == n_sys)
            or (arr.ndim == 3 and arr.shape[1:] == (n_sys, n_slots))):
        raise InputError(f"cost: shape {arr.shape}, expected (rows, {n_sys}) or (rows, "
                         f"{n_sys}, {n_slots})")
    return arr


def _fits(pool: Pool, rtg: np.ndarray, rel: np.ndarray | None, dl: np.ndarray | None
          ) -> np.ndarray:
    """Whether each query fits the freest replica of each group, (K, G)."""
    lower = np.broadcast_to(pool.lo, rtg.shape)
    upper = np.broadcast_to(pool.hi, rtg.shape)
    if rel is not None:
        lower = np.maximum(lower, rel[:, None])
    if dl is not None:
        upper = np.minimum(upper, dl[:, None])
    return (pool.m > 0) & (np.maximum(pool.min_tail(), lower) + rtg <= upper)


def _raise(packing: Packing, stuck: np.ndarray, names: list[str] | None, ids: object
           ) -> None:
    """Raise InfeasibleError: per (system, slot) of the stuck queries, the seconds short."""
    n_slots = packing.instances_on.shape[1]
    g = packing.system[stuck] * n_slots + packing.slot[stuck]
    short = np.bincount(g, weights=packing.runtime_s[stuck])
    worst = int(np.argmax(short))
    s, t = divmod(worst, n_slots)
    name = names[s] if names is not None else f"system {s}"
    where = f"{name!r}" + (f" slot {t}" if n_slots > 1 else "")
    mine = stuck[g == worst]
    longest = int(mine[np.argmax(packing.runtime_s[mine])])
    label = f"#{longest}" if ids is None else f"{ids[longest]}"  # type: ignore[index]
    row = packing.groups.iloc[worst]
    others = "" if short.size == 1 or np.count_nonzero(short) == 1 else (
        f"; {np.count_nonzero(short) - 1} more (system, slot) groups are short too, "
        f"{short.sum():.6g} s in all")
    raise InfeasibleError(
        f"packing: {where} is short by {short[worst]:.6g} s: {mine.size} queries fit none "
        f"of its {int(row['replicas'])} replicas nor any other eligible system with room "
        f"(pooled load {row['load_s']:.6g} s of {row['capacity_s']:.6g} s; longest query "
        f"{label}, {packing.runtime_s[longest]:.6g} s){others}; reserve that shortfall "
        "and re-solve, or add capacity")
