"""Rounding an LP solution to whole queries, and greedy repairs of a schedule.

:func:`round_lp` floors the LP counts and places the few left-over queries with a tiny exact
MIP on the residual capacities; :func:`make_room` places them greedily when that MIP finds
the systems full; :func:`fill` moves queries to cheaper systems while capacity allows.
"""

from __future__ import annotations

import numpy as np

from ..problem import AssignmentProblem
from .class_model import ClassModel
from .status import Status


def round_lp(p: AssignmentProblem, w: np.ndarray, lp_counts: np.ndarray,
           abs_tol: float = 1e-12, time_limit: float | None = None) -> np.ndarray | None:
    """Round an LP solution: floor, then an exact MIP for the left-over queries.

    If the left-over queries fit nowhere (every system they may use is full to the brim),
    they are placed greedily, moving the queries that make room most cheaply
    (:func:`make_room`).
    """
    base = np.minimum(np.floor(lp_counts + 1e-7), p.classes.count[:, None]).astype(np.int64)
    over = base.sum(axis=1) - p.classes.count
    for c in np.flatnonzero(over > 0):  # tolerance pushed a class over its size
        base[c, np.argmax(base[c])] -= over[c]
    residual = p.classes.count - base.sum(axis=1)
    rows = np.flatnonzero(residual > 0)
    if rows.size == 0:
        return base
    rt = np.where(p.eligible, p.runtime_s, 0.0)
    cap_left = p.capacity_s - np.einsum("cs,cs->s", base, rt)
    placed = base.sum(axis=0)
    if (cap_left < -1e-9 * p.capacity_s - 1e-9).any() or (p.max_count - placed < 0).any():
        return None
    sub = ClassModel(p, residual[rows], np.maximum(cap_left, 0.0),
                 np.maximum(p.min_count - placed, 0), p.max_count - placed, rows=rows,
                 integer=True)
    sub.set_costs(w)
    budget = 10.0 if time_limit is None else max(min(time_limit, 10.0), 0.05)
    status = sub.run(time_limit=budget, mip_gap=0.0, abs_gap=abs_tol)
    if status == Status.OPTIMAL:
        base[rows] += np.rint(sub.to_counts(sub.values())).astype(np.int64)
        return base
    if status != Status.INFEASIBLE:
        return None
    return make_room(p, w, base, rows, residual[rows])


def make_room(p: AssignmentProblem, w: np.ndarray, counts: np.ndarray, rows: np.ndarray,
               left_over: np.ndarray) -> np.ndarray | None:
    """Place left-over queries one by one, moving other queries away to make room.

    Each query goes to the eligible system where it fits most cheaply; if it fits nowhere,
    the (system, class, target) move that frees enough time at the least extra cost is made
    first. Deterministic and vectorised over classes; loops over the few left-over queries.

    Returns:
        Feasible counts, or None if some query cannot be placed this way.
    """
    counts = counts.copy()
    rt = np.where(p.eligible, p.runtime_s, np.inf)
    busy = np.einsum("cs,cs->s", counts, np.where(p.eligible, p.runtime_s, 0.0))
    per_sys = counts.sum(axis=0)
    for c, k in zip(rows, left_over, strict=True):
        for _ in range(int(k)):  # loop over left-over queries (at most a few per system)
            left = p.capacity_s - busy
            fits = p.eligible[c] & (rt[c] <= left) & (per_sys < p.max_count)
            if fits.any():
                s = int(np.argmin(np.where(fits, w[c], np.inf)))
            else:
                best = (np.inf, -1, -1, -1, 0)
                for s_np in np.flatnonzero(p.eligible[c] & (per_sys < p.max_count)):
                    s = int(s_np)
                    need = rt[c, s] - left[s]
                    # move m queries of class d from s to t: m·rt[d,s] ≥ need, fits on t
                    with np.errstate(invalid="ignore", divide="ignore"):
                        m = np.ceil(need / np.where(counts[:, s] > 0, rt[:, s], np.nan))
                        room = (m >= 1) & (m <= np.minimum(counts[:, s],
                                                           per_sys[s] - p.min_count[s]))
                        m = np.where(room, m, 0.0)
                        ok = (room[:, None] & p.eligible & (m[:, None] * rt <= left[None, :])
                              & (per_sys + m[:, None] <= p.max_count[None, :]))
                        ok[:, s] = False
                        extra = np.where(ok, m[:, None] * (w - w[:, [s]]), np.inf)
                    d, t = (int(i) for i in np.unravel_index(np.argmin(extra), extra.shape))
                    if extra[d, t] + w[c, s] < best[0]:
                        best = (float(extra[d, t] + w[c, s]), s, int(d), int(t), int(m[d]))
                if best[1] < 0:
                    return None
                _, s, d, t, m = best
                counts[d, s] -= m
                counts[d, t] += m
                busy[s] -= m * rt[d, s]
                busy[t] += m * rt[d, t]
                per_sys[s] -= m
                per_sys[t] += m
            counts[c, s] += 1
            busy[s] += rt[c, s]
            per_sys[s] += 1
    return counts


def fill(p: AssignmentProblem, w: np.ndarray, counts: np.ndarray,
          max_moves: int = 1000) -> np.ndarray:
    """Greedy repair: move queries to a cheaper system while its left-over capacity allows.

    Each step takes the single (class, from, to) move of largest objective gain that fits
    the target's remaining capacity and the share bounds, and moves as many queries of that
    class as fit. Vectorised over classes; loops over moves (few: rounding leaves less than
    one query's runtime free per system).
    """
    counts = counts.copy()
    rt = np.where(p.eligible, p.runtime_s, np.inf)
    busy = np.einsum("cs,cs->s", counts, np.where(p.eligible, p.runtime_s, 0.0))
    n_s = p.n_systems
    for _ in range(max_moves):
        left = p.capacity_s - busy
        per_sys = counts.sum(axis=0)
        best = (0.0, -1, -1, -1)
        for src in range(n_s):
            has = (counts[:, src] > 0) & (per_sys[src] > p.min_count[src])
            if not has.any():
                continue
            with np.errstate(invalid="ignore"):
                gain = np.where(has[:, None] & p.eligible, w[:, [src]] - w, -np.inf)
            gain[:, src] = -np.inf
            gain[rt > left[None, :]] = -np.inf
            gain[:, per_sys >= p.max_count] = -np.inf
            c, dst = (int(i) for i in np.unravel_index(np.argmax(gain), gain.shape))
            if gain[c, dst] > best[0] + 1e-15:
                best = (float(gain[c, dst]), int(c), src, int(dst))
        if best[1] < 0:
            break
        _, c, src, dst = best
        k = int(min(counts[c, src], left[dst] // rt[c, dst],
                    per_sys[src] - p.min_count[src], p.max_count[dst] - per_sys[dst]))
        if k <= 0:
            break
        counts[c, src] -= k
        counts[c, dst] += k
        busy[src] -= k * rt[c, src]
        busy[dst] += k * rt[c, dst]
    return counts
