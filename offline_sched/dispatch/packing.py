"""Packing a pooled load onto replicas: per-replica queues with start and end times.

The schedule checks capacity as pooled device-seconds per (system, slot):
``instances_on × slot length``. A serving stack runs replicas, each working through its own
queue, and pooled seconds do not always pack (three replicas with 1,000 s left between them
cannot take one 900-s query when no replica has 900 s free). :func:`pack` turns the pooled
load into queues and says what does not fit; :func:`~offline_sched.dispatch.repair.repair`
moves what does not fit to replicas with room (cheapest extra cost first) or raises
:class:`~offline_sched.InfeasibleError`.

Semantics:

* Times are absolute seconds from the window start. Slot t of system s spans
  ``[slot_start[s, t], slot_end[s, t])``; slots follow each other from 0 (see
  :func:`~offline_sched.dispatch.queues.slot_bounds`). Replica r of a system is the same
  machine in every slot.
* Each replica runs its queries one after another on their *amortised* runtime: the
  per-query runtime of the cost model. For tables measured at batch size B > 1 that is the
  batch's wall time divided by B, so ``start_s``/``end_s`` are positions in the replica's
  device-time budget: B consecutive queries of a queue run together as one batch, which
  ends when the last of them does, and the replica's queue ends at the same time.
* A query may carry a release and a deadline: it starts no earlier than ``release_s`` and
  ends no later than ``deadline_s`` (and inside its slot).

Packing (vectorised; loops run over rounds or (system, slot) groups, never over queries):

1. *Deal*: in each (system, slot) group queries are sorted longest first and dealt to the
   replicas in snake order (0, 1, …, m−1, m−1, …, 0, …), which balances loads to within one
   query; each replica's queue is ordered by deadline (earliest first), then as dealt.
2. *Trim*: queries that end after their deadline or their slot are taken off (the rest
   only move earlier).
3. *Refill*: those queries are dealt again, longest first, onto the replicas with the most
   room, each replica accepting the prefix that fits at its tail; repeated until nothing
   more fits (:func:`~offline_sched.dispatch.queues.fill_round`).
4. *Improve*: in groups without releases or deadlines inside the slot, a query that still
   fits nowhere may go where shorter queries move or swap out of its way
   :mod:`offline_sched.dispatch.improve`); the group's queues are then re-timed.

:func:`~offline_sched.dispatch.repair.repair` runs the refill rounds across (system, slot)
groups, each overflow query going to its cheapest group with room.

``packing_loss_s`` is the pooled capacity that packing could not use: per group,
``min(load, capacity) − packed`` (load beyond the pooled capacity is the schedule's
infeasibility, not packing's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from offline_sched.dispatch.improve import make_room
from offline_sched.dispatch.queues import (
    Pool,
    fill_rounds,
    make_pool,
    sequence,
    slot_bounds,
)
from offline_sched.errors import InputError


@dataclass(frozen=True)
class Packing:
    """Queries placed on replicas, and what did not fit.

    Per-query arrays are (N,), in the caller's query order.

    Attributes:
        system: system index of each query.
        slot: slot index of each query.
        replica: replica within its system (0-based), −1 for a query that did not fit.
        start_s: start [s from window start]; NaN where it did not fit.
        end_s: end [s]; NaN where it did not fit.
        runtime_s: runtime of each query on its system [s].
        overflow: indices of the queries that did not fit, longest first.
        packing_loss_s: pooled capacity that packing could not use [s] (module docstring).
        groups: per (system, slot): ``system, slot, replicas, capacity_s, load_s,
            packed_s, overflow_s, loss_s`` (before any repair).
        instances_on: replicas on per (system, slot), (S, T).
        slot_start: slot starts [s], (S, T).
        slot_end: slot ends [s], (S, T).
        release_s: per-query release [s], or None.
        deadline_s: per-query deadline [s], or None.
        moved: queries moved to another (system, slot) or replica by :func:`repair`.
    """

    system: np.ndarray
    slot: np.ndarray
    replica: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    runtime_s: np.ndarray
    overflow: np.ndarray
    packing_loss_s: float
    groups: pd.DataFrame
    instances_on: np.ndarray
    slot_start: np.ndarray
    slot_end: np.ndarray
    release_s: np.ndarray | None = None
    deadline_s: np.ndarray | None = None
    moved: int = 0
    info: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every query is placed."""
        return self.overflow.size == 0


# --------------------------------------------------------------------------- inputs
def _floats(values: object, name: str, n: int | None = None, *, nan_ok: bool = False,
            inf_ok: bool = False) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        want = f"({n},)" if n is not None else "1-D"
        raise InputError(f"{name}: shape {arr.shape}, expected {want}")
    bad = np.isnan(arr) if not nan_ok else np.zeros(arr.shape, dtype=bool)
    if not inf_ok:
        bad |= np.isinf(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{name}: query {i}, value {float(arr[i])!r}: expected a finite number")
    return arr


def _indices(values: object, name: str, n: int, limit: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,) or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise InputError(f"{name}: expected ({n},) integers, got shape {arr.shape} of "
                         f"{arr.dtype}")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= limit)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{name}: query {i}, value {arr[i]}: expected 0 ≤ {name} < {limit}")
    return arr


def _instances(instances_on: object) -> np.ndarray:
    arr = np.asarray(instances_on)
    shape = arr.shape
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.size == 0:
        raise InputError(f"instances_on: shape {shape}, expected (systems, slots)")
    if not np.issubdtype(arr.dtype, np.integer):
        whole = np.isfinite(arr) & (arr == np.round(arr))
        if not whole.all():
            s, t = (int(v[0]) for v in np.nonzero(~whole))
            raise InputError(f"instances_on: system {s}, slot {t}, value {arr[s, t].item()!r}: "
                             "expected a whole number")
    arr = arr.astype(np.int64)
    if (arr < 0).any():
        s, t = (int(v[0]) for v in np.nonzero(arr < 0))
        raise InputError(f"instances_on: system {s}, slot {t}, value {arr[s, t]}: expected ≥ 0")
    return arr


# --------------------------------------------------------------------------- packing
def pack(runtime_s: np.ndarray, system: np.ndarray, slot: np.ndarray | None = None, *,
         instances_on: np.ndarray, slot_s: float | np.ndarray,
         release_s: np.ndarray | None = None, deadline_s: np.ndarray | None = None
         ) -> Packing:
    """Pack each (system, slot) load onto its replicas (deal, trim, refill; module docstring).

    Args:
        runtime_s: amortised runtime of each query on its system [s], (N,), ≥ 0.
        system: system index of each query, (N,).
        slot: slot index of each query, (N,); None: all in slot 0.
        instances_on: replicas on per (system, slot), (S, T) (or (S,) for one slot).
        slot_s: slot lengths [s] (see :func:`slot_bounds`).
        release_s: earliest start of each query [s from window start], (N,), or None;
            NaN or −inf means none.
        deadline_s: latest end of each query [s], (N,), or None; NaN or +inf means none.

    Returns:
        The :class:`Packing`; queries that fit nowhere in their own (system, slot) are in
        ``overflow`` (hand it to :func:`repair`).

    Raises:
        InputError: arrays of the wrong shape, negative or non-finite runtimes, indices out
            of range, bad ``instances_on`` or ``slot_s``.
    """
    on = _instances(instances_on)
    n_sys, n_slots = on.shape
    r = _floats(runtime_s, "runtime_s")
    n = r.shape[0]
    if (r < 0).any():
        i = int(np.flatnonzero(r < 0)[0])
        raise InputError(f"runtime_s: query {i}, value {float(r[i])!r}: expected ≥ 0")
    sys_ = _indices(system, "system", n, n_sys)
    slot_ = np.zeros(n, dtype=np.int64) if slot is None else _indices(slot, "slot", n,
                                                                       n_slots)
    rel = None if release_s is None else np.nan_to_num(
        _floats(release_s, "release_s", n, nan_ok=True, inf_ok=True), nan=-np.inf)
    dl = None if deadline_s is None else np.nan_to_num(
        _floats(deadline_s, "deadline_s", n, nan_ok=True, inf_ok=True), nan=np.inf)
    lo, hi = slot_bounds(slot_s, n_sys, n_slots)
    pool = make_pool(on, lo, hi)
    g = sys_ * n_slots + slot_
    # per-query window inside its slot; None: the slot itself (no gathers needed)
    lower = None if rel is None else np.maximum(rel, pool.lo[g])
    upper = None if dl is None else np.minimum(dl, pool.hi[g])

    # 1. deal longest first in snake order
    order = _group_order(g, r, pool.m.shape[0])
    gs = g[order]
    rank = np.arange(n) - np.searchsorted(gs, gs, side="left")
    m = pool.m[gs]
    has = m > 0
    cyc, pos = np.divmod(rank, np.maximum(m, 1))
    rid = pool.offset[gs] + np.where(cyc % 2 == 0, pos, m - 1 - pos)
    q, rid, rank, cyc = order[has], rid[has], rank[has], cyc[has]
    if upper is not None:  # earliest deadline first, then as dealt
        key = np.lexsort((rank, upper[q], rid))
        q, rid = q[key], rid[key]
    else:  # as dealt: a replica's k-th query is its k-th deal, so place without sorting
        counts = np.bincount(rid, minlength=pool.tails.shape[0])
        where_ = np.concatenate([[0], np.cumsum(counts)[:-1]])[rid] + cyc
        q_sorted = np.empty_like(q)
        q_sorted[where_] = q
        rid_sorted = np.empty_like(rid)
        rid_sorted[where_] = rid
        q, rid = q_sorted, rid_sorted
    # 2. trim what ends late (the rest only moves earlier)
    late = [order[~has]]
    replica = np.full(n, -1, dtype=np.int64)
    start = np.full(n, np.nan)
    end = np.full(n, np.nan)
    late.append(_settle(q, rid, r, lower, upper, pool, g, replica, start, end,
                        rel is not None))
    # 3. refill from the replicas' tails
    over = np.concatenate(late)
    placed, rep2, s2, e2 = fill_rounds(pool, g[over], r[over],
                                       None if rel is None else rel[over],
                                       None if dl is None else dl[over])
    replica[over[placed]] = rep2[placed]
    start[over[placed]], end[over[placed]] = s2[placed], e2[placed]
    overflow = over[~placed]
    overflow = overflow[np.argsort(-r[overflow], kind="stable")]
    # 4. local improvement where queues have no window inside the slot
    if overflow.size:
        overflow = _improve(overflow, g, r, lower, upper, pool, replica, start, end,
                            rel is not None)
    groups = _groups(on, lo, hi, g, r, replica >= 0)
    return Packing(system=sys_, slot=slot_, replica=replica, start_s=start, end_s=end,
                   runtime_s=r, overflow=overflow,
                   packing_loss_s=float(groups["loss_s"].sum()), groups=groups,
                   instances_on=on, slot_start=lo, slot_end=hi, release_s=rel, deadline_s=dl)


def _settle(q: np.ndarray, rid: np.ndarray, r: np.ndarray, lower: np.ndarray | None,
            upper: np.ndarray | None, pool: Pool, g: np.ndarray, replica: np.ndarray,
            start: np.ndarray, end: np.ndarray, released: bool) -> np.ndarray:
    """Time queues (``q`` sorted into runs by global replica ``rid``) from their slot start.

    Queries that end after their deadline or slot are taken off, until none does (taking
    queries off only moves the others earlier). Writes the kept queries' replica, start and
    end and raises ``pool.tails`` to their last ends.

    Returns:
        The queries taken off.
    """
    late = []
    while q.size:
        grp = pool.group_of[rid]
        tail0 = pool.lo[grp]
        s, e = sequence(rid, r[q], tail0 if lower is None else lower[q], tail0, released)
        bad = e > (pool.hi[grp] if upper is None else upper[q])
        if not bad.any():
            break
        late.append(q[bad])
        q, rid = q[~bad], rid[~bad]
    if q.size:
        replica[q] = rid - pool.offset[g[q]]
        start[q], end[q] = s, e
        np.maximum.at(pool.tails, rid, e)
    return np.concatenate(late) if late else np.empty(0, dtype=np.int64)


def _improve(overflow: np.ndarray, g: np.ndarray, r: np.ndarray, lower: np.ndarray | None,
             upper: np.ndarray | None, pool: Pool, replica: np.ndarray, start: np.ndarray,
             end: np.ndarray, released: bool) -> np.ndarray:
    """Moves and swaps (:mod:`offline_sched.dispatch.improve`) in each eligible group.

    A group qualifies when it has ≥ 2 replicas and none of its queries has a release or
    deadline inside the slot. Its queues are re-timed and re-checked afterwards.

    Returns:
        The overflow left, longest first.
    """
    left = []
    for grp in np.unique(g[overflow]):  # loop over (system, slot) groups
        items = overflow[g[overflow] == grp]
        m, off = int(pool.m[grp]), int(pool.offset[grp])
        members = np.flatnonzero(g == grp)
        if (m < 2 or (lower is not None and (lower[members] > pool.lo[grp]).any())
                or (upper is not None and (upper[members] < pool.hi[grp]).any())):
            left.append(items)
            continue
        rest, touched = make_room(items, members, r, replica, start, end,
                                  pool.tails[off:off + m], float(pool.hi[grp]))
        placed = members[np.isin(replica[members], touched)]
        placed = placed[np.lexsort((start[placed], replica[placed]))]
        pool.tails[off + touched] = pool.lo[grp]
        rid = off + replica[placed]
        replica[placed] = -1
        start[placed] = end[placed] = np.nan
        left += [rest, _settle(placed, rid, r, lower, upper, pool, g, replica, start, end,
                               released)]
    out = np.concatenate(left) if left else np.empty(0, dtype=np.int64)
    return out[np.argsort(-r[out], kind="stable")]


def _group_order(g: np.ndarray, r: np.ndarray, n_groups: int) -> np.ndarray:
    """Order of the queries by group, longest first within each (two cheap sorts)."""
    order = np.argsort(-r)
    small = np.int16 if n_groups < 2**15 else np.int32  # int16: a radix sort
    return order[np.argsort(g[order].astype(small), kind="stable")]


def _groups(on: np.ndarray, lo: np.ndarray, hi: np.ndarray, g: np.ndarray, r: np.ndarray,
            placed: np.ndarray) -> pd.DataFrame:
    n_sys, n_slots = on.shape
    n_groups = n_sys * n_slots
    cap = (on * (hi - lo)).ravel().astype(np.float64)
    load = np.bincount(g, weights=r, minlength=n_groups)
    packed = np.bincount(g[placed], weights=r[placed], minlength=n_groups)
    return pd.DataFrame({
        "system": np.repeat(np.arange(n_sys), n_slots),
        "slot": np.tile(np.arange(n_slots), n_sys),
        "replicas": on.ravel(),
        "capacity_s": cap,
        "load_s": load,
        "packed_s": packed,
        "overflow_s": load - packed,
        "loss_s": np.maximum(np.minimum(load, cap) - packed, 0.0),
    })
