"""Capacity fill: the room whole queries leave on the replicas on, filled by queries that gain.

Rounding to whole queries leaves each full option a few seconds short of its capacity; on a
binding system those seconds are worth its capacity price (on the planner benchmark's A100s
about 3e-7 of the objective per second). :func:`fill_room` moves into that room, option by
option, the queries placed elsewhere that fit and cost less there, best gain per second
first: a greedy knapsack, a few vectorised passes per option over every placed class.
"""

from __future__ import annotations

import numpy as np

from .lp import RestrictedLP

FILL_PASSES = 4
"""Greedy knapsack passes per option in :func:`fill_room`."""
FILL_CANDIDATES = 20_000
"""Most candidate queries sorted per knapsack pass (the densest)."""


def fill_room(lp: RestrictedLP, k: np.ndarray, j: np.ndarray, c: np.ndarray, n_on: np.ndarray,
              passes: int = FILL_PASSES) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                     np.ndarray]:
    """Fill the room whole queries leave on the replicas on with queries that gain by it.

    Rounding leaves each full option a few seconds short of its capacity; those seconds are
    worth the option's capacity price. For each option with room, the queries placed
    elsewhere that fit and cost less there move in, best gain per second first (a greedy
    knapsack, a few vectorised passes per option). Moves stay within a system when there are
    share bounds. Replicas that the moves leave idle are then switched off.

    Returns:
        ``(k, j, count, n_on)`` with the moves applied.
    """
    rows, opt = lp.rows, lp.opt
    c = c.astype(np.int64).copy()
    rt_all = rows.runtime[k]  # (entries, S)
    busy = np.bincount(j, weights=c * rt_all[np.arange(k.size), opt.system[j]],
                       minlength=opt.n)
    cur_cost = lp.pricer.costs(k, j)
    shares = lp.share_lo is not None
    gf = opt.group_first[opt.group]
    new_k, new_j, new_c = [], [], []
    # per system, the entries that could gain on one of its options at all (the gain is
    # linear in the option's factor g: largest at its least or greatest g), by runtime there:
    # the candidates that fit a room are then a prefix
    a_k, first_k, last_k = rows.a[k], rows.first[k], rows.last[k]
    by_rt, rt_sorted = [], []
    for s_ in range(rt_all.shape[1]):  # loop over systems
        g_s = opt.g[opt.system == s_]
        if g_s.size == 0:
            by_rt.append(np.zeros(0, dtype=np.int64))
            rt_sorted.append(np.zeros(0))
            continue
        a_s = a_k[:, s_]
        best = np.minimum(a_s * g_s.min(), a_s * g_s.max()) + lp.pricer.beta * rt_all[:, s_]
        pot = np.flatnonzero(rows.eligible[k, s_] & (cur_cost - best > -1e-9 * np.abs(cur_cost)))
        pot = pot[np.argsort(rt_all[pot, s_], kind="stable")]
        by_rt.append(pot)
        rt_sorted.append(rt_all[pot, s_])
    for jj in np.argsort(busy - opt.replica_s * n_on):  # loop over options, most room first
        s = int(opt.system[jj])
        for _ in range(passes):  # loop over a few knapsack passes
            room = float(opt.replica_s[jj] * n_on[jj] - busy[jj])
            if room <= 0:
                break
            fit = int(np.searchsorted(rt_sorted[s], room, side="right"))
            cand = np.sort(by_rt[s][:fit])  # those of flatnonzero(rt_all[:, s] <= room)
            ok = ((c[cand] > 0) & (j[cand] != jj)  # eligible on s: all of by_rt[s] are
                  & (first_k[cand] <= gf[jj]) & (gf[jj] <= last_k[cand]))
            if shares:
                ok &= opt.system[j[cand]] == s
            cand = cand[ok]
            gain = cur_cost[cand] - (a_k[cand, s] * opt.g[jj] + lp.pricer.beta * rt_all[cand, s])
            good = gain > 0
            cand, gain = cand[good], gain[good]
            if cand.size == 0:
                break
            r = np.maximum(rt_all[cand, s], 1e-12)
            density = gain / r
            if cand.size > FILL_CANDIDATES:  # the densest that could fill the room at all
                top = np.argpartition(-density, FILL_CANDIDATES - 1)[:FILL_CANDIDATES]
                cand, r, density = cand[top], r[top], density[top]
            order = _densest_first(density, r, room)
            cand, r = cand[order], r[order]
            n_fit = np.minimum(c[cand], np.floor(room / r))
            load = np.cumsum(n_fit * r)
            m = np.where(load <= room * (1 + 1e-12), n_fit, 0).astype(np.int64)
            if not m.any():
                break
            moved = m > 0
            src, e, mm = j[cand[moved]], cand[moved], m[moved]
            c[e] -= mm
            np.subtract.at(busy, src, mm * rt_all[e, opt.system[src]])
            busy[jj] += float(mm @ r[moved])
            new_k.append(k[e])
            new_j.append(np.full(e.size, jj))
            new_c.append(mm)
    if new_k:
        k = np.r_[k, np.concatenate(new_k)]
        j = np.r_[j, np.concatenate(new_j)]
        c = np.r_[c, np.concatenate(new_c)]
    need = np.maximum(np.ceil(busy / opt.replica_s - 1e-9), opt.n_lo)
    n_on = np.where(opt.cost_n > 0, np.minimum(n_on, need), n_on).astype(np.int64)
    nz = c > 0
    return k[nz], j[nz], c[nz], n_on


SORT_HEAD = 256
"""Candidates sorted per knapsack pass before the rest is looked at (see :func:`_densest_first`)."""


def _densest_first(density: np.ndarray, r: np.ndarray, room: float) -> np.ndarray:
    """Indices by density, highest first (ties in index order), as far as the knapsack reads.

    The knapsack takes the longest prefix whose loads (at least one query each: every
    candidate fits the room) sum to at most ``room``; this sorts only the :data:`SORT_HEAD`
    densest (and every one tied with the last of them) when their runtimes already pass
    ``room``: the same prefix as a stable sort of all.
    """
    if density.size <= SORT_HEAD:
        return np.argsort(-density, kind="stable")
    cut = -np.partition(-density, SORT_HEAD - 1)[SORT_HEAD - 1]
    head = np.flatnonzero(density >= cut)  # in index order
    head = head[np.argsort(-density[head], kind="stable")]
    if r[head].sum() > room * (1 + 1e-12):  # each takes at least one query: past the room
        return head
    return np.argsort(-density, kind="stable")
