"""From options back to slots and queries: split slot groups, power on replicas, expand.

* :func:`split_groups` turns counts per (class, system, slot group) into counts per
  (class, system, slot): the group's replica-slots are spread evenly over its slots and its
  queries poured into them, longest first; the few that fragmentation leaves over go to any
  allowed slot with room (switching on a replica if needed).
* :func:`best_on` chooses the replicas on per (system, slot) for a fixed placement: the
  least that fit the busy time (at least ``min_instances``), or all of them where a replica
  costs nothing or less; with start-up energy, a dynamic programme over the slots (exact).
* :func:`expand` gives every query its system and slot (vectorised).
"""

from __future__ import annotations

import numpy as np

from ..errors import SolverError
from .data import PlanData

SLACK = 1e-9
GAP_FILL_STEPS = 50
"""Items tried per slot to fill the room the longest-first pour leaves."""


def _pour(counts: np.ndarray, runtime: np.ndarray, caps: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pour items (count, runtime) in order into bins of capacity ``caps`` (seconds).

    Returns:
        ``(item, bin, count)`` of the placed pieces and the left-over count per item.
    """
    rem = counts.astype(np.int64).copy()
    items, bins, pieces = [], [], []
    for b, cap in enumerate(caps):  # loop over the group's slots
        if cap <= 0 or not rem.any():
            continue
        load = np.cumsum(rem * runtime)
        full = int(np.searchsorted(load, cap * (1 + SLACK) + SLACK, side="right"))
        take = rem[:full].copy()
        used = float(load[full - 1]) if full else 0.0
        if full < rem.size and runtime[full] > 0:
            part = int(min(rem[full], (cap - used) * (1 + SLACK) // runtime[full]))
            if part > 0:
                take = np.r_[take, part]
        take = np.r_[take, np.zeros(rem.size - take.size, dtype=np.int64)]
        rem -= take
        gap = cap - float(take @ runtime)
        for _ in range(GAP_FILL_STEPS):  # fill the gap with the largest items that still fit
            fits = np.flatnonzero((rem > 0) & (runtime <= gap * (1 + SLACK) + SLACK))
            if fits.size == 0:
                break
            i = fits[0]  # items are longest first: the first that fits is the largest
            n_fit = int(min(rem[i], (gap * (1 + SLACK) + SLACK) // max(runtime[i], 1e-300)))
            take[i] += n_fit
            rem[i] -= n_fit
            gap -= n_fit * runtime[i]
        nz = np.flatnonzero(take)
        items.append(nz)
        bins.append(np.full(nz.size, b))
        pieces.append(take[nz])
    if not items:
        return (np.zeros(0, np.int64),) * 3 + (rem,)
    return np.concatenate(items), np.concatenate(bins), np.concatenate(pieces), rem


def split_groups(data: PlanData, k: np.ndarray, j: np.ndarray, count: np.ndarray,
                 n_on: np.ndarray) -> tuple[np.ndarray, ...]:
    """Counts per (class, system, slot) and replicas on per (system, slot) from an option plan.

    Returns:
        ``(k, system, slot, count, on)`` with ``on`` of shape (S, T).

    Raises:
        SolverError: left-over queries fit in no allowed slot even with every replica on.
    """
    opt, rows = data.options, data.rows
    n_s, t = data.n_systems, data.grid.n_slots
    on = np.zeros((n_s, t), dtype=np.int64)
    out_k, out_s, out_t, out_c = [], [], [], []
    busy = np.zeros((n_s, t))
    left_k, left_c = [], []
    order = np.argsort(j, kind="stable")
    k, j, count = k[order], j[order], count[order]
    bounds = np.searchsorted(j, np.arange(opt.n + 1))
    for jj in range(opt.n):  # loop over options
        s = int(opt.system[jj])
        slots = np.flatnonzero(opt.group_of_slot == opt.group[jj])
        m = slots.size
        n_total = int(n_on[jj])
        per = np.full(m, n_total // m) + (np.arange(m) < n_total % m)
        on[s, slots] = per
        lo, hi = bounds[jj], bounds[jj + 1]
        if hi == lo:
            continue
        kk, cc = k[lo:hi], count[lo:hi]
        rt = rows.runtime[kk, s]
        if m == 1:
            out_k.append(kk)
            out_s.append(np.full(kk.size, s))
            out_t.append(np.full(kk.size, slots[0]))
            out_c.append(cc)
            busy[s, slots[0]] += float(cc @ rt)
            continue
        srt = np.argsort(-rt, kind="stable")
        kk, cc, rt = kk[srt], cc[srt], rt[srt]
        item, b, piece, rem = _pour(cc, rt, per * opt.replica_s[jj])
        out_k.append(kk[item])
        out_s.append(np.full(item.size, s))
        out_t.append(slots[b])
        out_c.append(piece)
        np.add.at(busy[s], slots[b], piece * rt[item])
        nz = np.flatnonzero(rem)
        left_k.append(kk[nz])
        left_c.append(rem[nz])
    k2 = np.concatenate(out_k) if out_k else np.zeros(0, np.int64)
    s2 = np.concatenate(out_s) if out_s else np.zeros(0, np.int64)
    t2 = np.concatenate(out_t) if out_t else np.zeros(0, np.int64)
    c2 = np.concatenate(out_c) if out_c else np.zeros(0, np.int64)
    if left_k and np.concatenate(left_k).size:
        extra = _place_left(data, np.concatenate(left_k), np.concatenate(left_c), busy, on)
        k2, s2, t2, c2 = (np.r_[k2, extra[0]], np.r_[s2, extra[1]], np.r_[t2, extra[2]],
                          np.r_[c2, extra[3]])
    return k2, s2, t2, c2, on


def _place_left(data: PlanData, k: np.ndarray, c: np.ndarray, busy: np.ndarray,
                on: np.ndarray) -> tuple[np.ndarray, ...]:
    """Place left-over queries one by one where they cost least (few: fragmentation only)."""
    rows, grid = data.rows, data.grid
    n_s, t = on.shape
    hi = np.array([s.instances for s in data.problem.fleet])[:, None]
    slot = np.arange(t)[None, :]
    length = grid.replica_s[:, None]
    idle = np.array([p.idle_power_w for p in data.provisioning])[:, None]
    static = data.lam * idle * length * data.g_slot[None, :] / data.metric_scale
    out: tuple[list, list, list, list] = ([], [], [], [])
    for kk, cc in zip(k, c, strict=True):  # loop over the few left-over classes
        for _ in range(int(cc)):
            rt = rows.runtime[kk][:, None]
            ok = (rows.eligible[kk][:, None] & (slot >= rows.first[kk])
                  & (slot <= rows.last[kk]))
            need = np.ceil((busy + rt) / length - 1e-12)
            ok &= need <= hi
            if not ok.any():
                raise SolverError("splitting slot groups: a query fits in no allowed slot")
            extra_on = np.maximum(need - on, 0)
            cost = (rows.a[kk][:, None] * data.g_slot[None, :] + data.beta * rt
                    + extra_on * static)
            s, ts = np.unravel_index(np.argmin(np.where(ok, cost, np.inf)), cost.shape)
            busy[s, ts] += rt[s, 0]
            on[s, ts] = max(on[s, ts], int(need[s, ts]))
            for lst, v in zip(out, (kk, s, ts, 1), strict=True):
                lst.append(v)
    return tuple(np.array(v, dtype=np.int64) for v in out)


def best_on(data: PlanData, busy: np.ndarray) -> np.ndarray:
    """Replicas on per (system, slot) that fit ``busy`` (S, T) at least cost (exact).

    Without start-up energy each slot is independent: the least count that fits (and
    ``min_instances``), or every replica where one costs nothing or less. With start-up
    energy a dynamic programme over the slots also weighs switch-ons.
    """
    n_s, t = busy.shape
    length = data.grid.replica_s[:, None]
    inst = np.array([s.instances for s in data.problem.fleet], dtype=np.int64)
    lo = np.array([p.min_instances for p in data.provisioning], dtype=np.int64)
    need = np.maximum(np.ceil(busy / length - 1e-9).astype(np.int64), lo[:, None])
    need = np.minimum(need, inst[:, None])
    idle = np.array([p.idle_power_w for p in data.provisioning])
    c_on = data.lam * idle[:, None] * length * data.g_slot[None, :] / data.metric_scale
    startup = np.array([p.startup_energy_j for p in data.provisioning])
    c_up = data.lam * startup[:, None] * data.g_slot[None, :] / data.metric_scale
    if not (startup > 0).any() or data.lam == 0:
        return np.where(c_on < 0, inst[:, None], need).astype(np.int64)
    on = np.empty((n_s, t), dtype=np.int64)
    for s in range(n_s):  # loop over systems, then slots: O(T·H²) with H = instances
        levels = np.arange(inst[s] + 1)
        f = np.where(levels >= need[s, 0], c_on[s, 0] * levels + c_up[s, 0] * levels, np.inf)
        back = []
        for tt in range(1, t):
            step = c_up[s, tt] * np.maximum(levels[None, :] - levels[:, None], 0)  # u → v
            total = f[:, None] + step
            arg = np.argmin(total, axis=0)
            f = total[arg, levels] + c_on[s, tt] * levels
            f = np.where(levels >= need[s, tt], f, np.inf)
            back.append(arg)
        v = int(np.argmin(f))
        on[s, t - 1] = v
        for tt in range(t - 1, 0, -1):
            v = int(back[tt - 1][v])
            on[s, tt - 1] = v
    return on


def expand(query_tclass: np.ndarray, k: np.ndarray, s: np.ndarray, t: np.ndarray,
           count: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """System and slot of every query (input order), from counts per (class, system, slot).

    Within each class, queries are taken in input order over the entries sorted by
    (system, slot).

    Returns:
        ``(system, slot)`` per query, int16/int32.
    """
    n = query_tclass.shape[0]
    order = np.lexsort((t, s, k))
    k, s, t, count = k[order], s[order], t[order], count[order]
    per_class = np.bincount(query_tclass, minlength=n_classes)
    start = np.concatenate([[0], np.cumsum(per_class)[:-1]])
    q_order = np.argsort(query_tclass, kind="stable")
    ends = np.cumsum(count)  # entries sorted by class: global positions are monotone
    pos = np.empty(n, dtype=np.int64)
    pos[q_order] = np.arange(n)
    entry = np.searchsorted(ends, pos, side="right")
    if n and entry.max() >= count.size:
        raise SolverError("expand: counts do not cover every query")
    sys_dtype = np.int16 if s.max(initial=0) < 2**15 else np.int32
    del start
    return s[entry].astype(sys_dtype), t[entry].astype(np.int32)
