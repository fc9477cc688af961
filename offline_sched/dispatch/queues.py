"""Replica queues: back-to-back sequencing, replica pools and filling rounds (vectorised).

The building blocks of :mod:`offline_sched.dispatch.packing` and
:mod:`offline_sched.dispatch.repair`. A *run* is one replica's queue: items sorted so that
equal run ids are contiguous, in queue order. Loops here run over rounds, never over items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from offline_sched.errors import InputError


def slot_bounds(slot_s: float | np.ndarray, n_systems: int, n_slots: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Start and end [s] of every (system, slot) from slot lengths.

    Args:
        slot_s: slot length: a number (all systems and slots), (T,) per slot, or (S, T) per
            system and slot (e.g. each system's ``window_s`` as (S, 1) with one slot).
        n_systems: S.
        n_slots: T.

    Returns:
        ``(start, end)``, each (S, T); slot t starts where slot t−1 ends, slot 0 at 0.

    Raises:
        InputError: a shape that does not broadcast to (S, T), or a length that is not > 0.
    """
    try:
        length = np.broadcast_to(np.asarray(slot_s, dtype=np.float64),
                                 (n_systems, n_slots))
    except (ValueError, TypeError):
        raise InputError(f"slot_s: shape {np.shape(slot_s)} does not fit "
                         f"({n_systems} systems, {n_slots} slots)") from None
    bad = ~(np.isfinite(length) & (length > 0))
    if bad.any():
        s, t = (int(v[0]) for v in np.nonzero(bad))
        raise InputError(f"slot_s: system {s}, slot {t}, value {float(length[s, t])!r}: expected a "
                         "length > 0 s")
    end = np.cumsum(length, axis=1)
    return end - length, end


# --------------------------------------------------------------------------- sequencing
def run_starts(run: np.ndarray) -> np.ndarray:
    """Boolean (n,): whether item i starts a new run of equal values in ``run``."""
    first = np.ones(run.shape[0], dtype=bool)
    first[1:] = run[1:] != run[:-1]
    return first


def within_run_exclusive(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Exclusive cumulative sum of ``values`` restarting at every run start."""
    incl = np.cumsum(values)
    excl = incl - values
    start_idx = np.maximum.accumulate(np.where(first, np.arange(values.shape[0]), 0))
    return excl - excl[start_idx]


def sequence(run: np.ndarray, runtime: np.ndarray, lower: np.ndarray,
             tail0: np.ndarray, released: bool) -> tuple[np.ndarray, np.ndarray]:
    """Back-to-back times of items already sorted into runs (one run per replica queue).

    Item i of a run starts at ``max(lower_i, end_{i−1})`` (``end_{−1} = tail0``): with
    ``C_{i−1}`` the run's runtime before i, ``start_i = C_{i−1} + max_{j≤i}(lower_j −
    C_{j−1})``, a grouped cumulative maximum (vectorised).

    Args:
        run: run id per item (equal ids contiguous).
        runtime: runtime per item.
        lower: earliest start per item (release, slot start), or anything ≤ tail0.
        tail0: free-from time of the item's replica (equal within a run).
        released: whether ``lower`` can exceed ``tail0`` (else a faster path).

    Returns:
        ``(start, end)`` per item.
    """
    if run.shape[0] == 0:
        return np.empty(0), np.empty(0)
    first = run_starts(run)
    before = within_run_exclusive(runtime, first)
    if released:
        val = np.maximum(lower, tail0) - before
        lead = pd.Series(val).groupby(run, sort=False).cummax().to_numpy()
    else:
        lead = tail0
    start = before + lead
    end = start + runtime
    prev = np.empty_like(end)  # float rounding: never start before the previous end
    prev[0] = -np.inf
    prev[1:] = end[:-1]
    prev[first] = -np.inf
    start = np.maximum(start, prev)
    return start, start + runtime


# --------------------------------------------------------------------------- filling rounds
@dataclass
class Pool:
    """Replica state of all (system, slot) groups: G groups, R replicas in all."""

    m: np.ndarray          # replicas per group (G,)
    offset: np.ndarray     # first replica of each group (G,)
    lo: np.ndarray         # slot start per group (G,)
    hi: np.ndarray         # slot end per group (G,)
    tails: np.ndarray      # free-from time per replica (R,)
    group_of: np.ndarray   # group of each replica (R,)

    def min_tail(self) -> np.ndarray:
        """Earliest free time per group (+inf for groups without replicas)."""
        out = np.full(self.m.shape[0], np.inf)
        has = self.m > 0
        out[has] = np.minimum.reduceat(self.tails, self.offset[has])
        return out


def fill_round(pool: Pool, group: np.ndarray, runtime: np.ndarray,
               release: np.ndarray | None, deadline: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """One refill round: deal items onto the replicas with most room, accept fitting prefixes.

    In each group items are taken longest first and dealt cyclically onto the replicas
    sorted by free time (earliest first); each replica accepts, from its tail, the prefix of
    its items that ends by their deadline and slot end. Items that cannot fit even on the
    group's freest replica are *hopeless* (tails only grow). Unless all are hopeless, at
    least one item is placed, so repeated rounds terminate. Updates ``pool.tails``.

    Args:
        pool: replica state (updated in place).
        group: group of each item, (K,).
        runtime: runtime of each item there, (K,).
        release: earliest start of each item, (K,), or None.
        deadline: latest end of each item, (K,), or None.

    Returns:
        ``(placed, hopeless, replica, start, end)``: masks (K,) and, for placed items, the
        replica within the group and times (undefined elsewhere).
    """
    k = group.shape[0]
    lower = pool.lo[group] if release is None else np.maximum(release, pool.lo[group])
    upper = pool.hi[group] if deadline is None else np.minimum(deadline, pool.hi[group])
    hopeless = (pool.m[group] == 0) | (np.maximum(pool.min_tail()[group], lower) + runtime
                                       > upper)
    placed = np.zeros(k, dtype=bool)
    replica = np.full(k, -1, dtype=np.int64)
    start = np.full(k, np.nan)
    end = np.full(k, np.nan)
    live = np.flatnonzero(~hopeless)
    if live.size == 0:
        return placed, hopeless, replica, start, end
    g = group[live]
    order = np.lexsort((-runtime[live], g))
    live, g = live[order], g[order]
    rank = np.arange(live.size) - np.searchsorted(g, g, side="left")
    by_tail = np.lexsort((pool.tails, pool.group_of))  # replicas, freest first per group
    rid = by_tail[pool.offset[g] + rank % pool.m[g]]
    key = np.lexsort((rank, rid))
    live, rid = live[key], rid[key]
    tail0 = pool.tails[rid]
    s, e = sequence(rid, runtime[live], lower[live], tail0, release is not None)
    fail = (e > upper[live]).astype(np.int64)
    first = run_starts(rid)
    ok = (within_run_exclusive(fail, first) + fail) == 0
    idx = live[ok]
    placed[idx] = True
    replica[idx] = rid[ok] - pool.offset[group[idx]]
    start[idx], end[idx] = s[ok], e[ok]
    np.maximum.at(pool.tails, rid[ok], e[ok])
    return placed, hopeless, replica, start, end


def fill_rounds(pool: Pool, group: np.ndarray, runtime: np.ndarray,
                 release: np.ndarray | None, deadline: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Repeat :func:`fill_round` until every item is placed or hopeless.

    Returns:
        ``(placed, replica, start, end)`` per item.
    """
    k = group.shape[0]
    placed = np.zeros(k, dtype=bool)
    replica = np.full(k, -1, dtype=np.int64)
    start = np.full(k, np.nan)
    end = np.full(k, np.nan)
    todo = np.arange(k)
    while todo.size:
        rel = None if release is None else release[todo]
        dl = None if deadline is None else deadline[todo]
        ok, hopeless, rep, s, e = fill_round(pool, group[todo], runtime[todo], rel, dl)
        if not ok.any():  # nothing fits any more (a round places one unless all hopeless)
            break
        placed[todo[ok]] = True
        replica[todo[ok]], start[todo[ok]], end[todo[ok]] = rep[ok], s[ok], e[ok]
        todo = todo[~ok & ~hopeless]
    return placed, replica, start, end


def make_pool(instances_on: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Pool:
    """Empty replicas of every (system, slot) group, free from their slot start.

    Args:
        instances_on: replicas per (system, slot), (S, T); group ``g = s·T + t``.
        lo: slot starts, (S, T).
        hi: slot ends, (S, T).
    """
    m = instances_on.ravel().astype(np.int64)
    offset = np.concatenate([[0], np.cumsum(m)[:-1]]).astype(np.int64)
    group_of = np.repeat(np.arange(m.shape[0]), m)
    return Pool(m=m, offset=offset, lo=lo.ravel().copy(), hi=hi.ravel().copy(),
                 tails=lo.ravel()[group_of].copy(), group_of=group_of)
