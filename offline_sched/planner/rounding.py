"""Rounding the planner's LP to whole queries and whole replicas.

:func:`round_plan` makes the restricted LP's free rows and replica counts integer and lets
HiGHS solve that MIP from a greedy start — over the whole model when it is small (it then
proves optimality), else over the fractional rows and the shortest queries beside them with
the rest frozen. The greedy (:func:`greedy_round`) floors, places the left-over queries where
they cost least, moves a few queries off a full option when nothing fits
(:func:`_make_room`), and fills the room rounding leaves (:func:`_fill_gaps`).
"""

from __future__ import annotations

import numpy as np

from ..errors import InfeasibleError, SolverError
from .highs import model_status, set_time_limit
from .lp import LPSolution, RestrictedLP

OVERFLOW_TOL = 1e-6
ROUND_TIME_S = 10.0
"""Seconds for the rounding MIP over the whole model (small problems: it proves optimality)."""
PARTIAL_ROUND_TIME_S = 3.0
FULL_MIP_MAX_COLUMNS = 5_000
"""Up to this many (class, option) columns, the rounding MIP is the whole model (it proves
optimality); above, the replicas stay near the Benders choice and the greedy rounding is
taken when it is within the tolerance."""
MAKE_ROOM_CANDIDATES = 30
POLISH_PER_OPTION = 25
"""Shortest queries per option left free beside the fractional rows in the rounding MIP."""
FILL_STEPS = 200
"""Most gap-filling moves after rounding."""
"""Entries of a full option tried when moving queries away to make room."""
"""Seconds for the rounding MIP over a restricted model (large problems: it only polishes)."""


def _fixed_entries(lp: RestrictedLP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = np.flatnonzero(lp.fixed_opt >= 0)
    return k, lp.fixed_opt[k], lp.rows.count[k].astype(np.int64)


def round_plan(lp: RestrictedLP, sol: LPSolution, time_limit: float | None,
               n_lo: np.ndarray, n_hi: np.ndarray, good_enough: float | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, float]:
    """An integral plan near the LP's: the free rows and replica counts re-solved as a MIP.

    Args:
        lp: the restricted LP (fixed rows are integral already).
        sol: its last solution (for the greedy fallback).
        time_limit: seconds for the MIP.
        n_lo: least replica-slots per option in the MIP.
        n_hi: most replica-slots per option in the MIP.
        good_enough: if the greedy rounding's objective is at most this, it is taken without
            the MIP.

    Returns:
        ``(k, j, count, n_on, method, mip_bound)``; ``mip_bound`` is the MIP's proven bound
        (a bound on the whole problem only when the restricted LP holds every row and
        column), or −inf.
    """
    hs = lp.hs
    n_j = lp.opt.n
    try:
        start = greedy_round(lp, sol)
    except SolverError:
        start = None
    fk, fj, fc = _fixed_entries(lp)
    if start is not None and good_enough is not None:
        value = option_objective(lp, np.r_[fk, start[0]], np.r_[fj, start[1]],
                                 np.r_[fc, start[2]], start[3])
        if value <= good_enough:
            return (np.r_[fk, start[0]], np.r_[fj, start[1]], np.r_[fc, start[2]], start[3],
                    "lp+round", -np.inf)
    if start is not None:
        lp.add_columns(start[0], start[1])  # left-over placements may use new columns
    n_x = lp.col_k.size
    xcols = lp.n_prefix_cols + np.arange(n_x, dtype=np.int32)
    ncols = np.arange(n_j, dtype=np.int32)
    cols = np.r_[ncols, xcols]
    integer = hs.HighsVarType.kInteger
    lp.h.changeColsBounds(n_j, ncols, n_lo.astype(np.float64), n_hi.astype(np.float64))
    lp.h.changeColsIntegrality(cols.size, cols, np.array([integer] * cols.size))
    lp.h.setOptionValue("mip_rel_gap", 1e-9)
    lp.h.setOptionValue("mip_abs_gap", 1e-12)
    small = lp.complete and lp.col_k.size <= FULL_MIP_MAX_COLUMNS
    cap = ROUND_TIME_S if small or start is None else PARTIAL_ROUND_TIME_S
    budget = cap if time_limit is None else max(min(time_limit, cap), 0.05)
    set_time_limit(lp.h, budget, mip=True)  # a MIP now: its own timer, from zero
    if start is not None and (start[3] >= n_lo - 1e-9).all() and (start[3] <= n_hi + 1e-9).all():
        _set_start(lp, *start)
    ocols = lp.c_o + np.arange(n_j, dtype=np.int32)
    lp.h.changeColsBounds(n_j, ocols, np.zeros(n_j), np.zeros(n_j))  # no overflow in a plan
    if not small:  # re-decide only the fractional rows and short queries beside them
        _freeze_most(lp, sol, xcols)
    lp.h.run()
    if small and model_status(lp.h) == "infeasible":  # the whole model: proven, no plan
        raise InfeasibleError("infeasible: the queries fit only if some are split; whole "
                              "queries cannot all be placed")
    info = lp.h.getInfo()
    found = info.primal_solution_status == 2 or model_status(lp.h) == "optimal"
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else -np.inf
    vals = np.asarray(lp.h.getSolution().col_value) if found else None
    cont = hs.HighsVarType.kContinuous
    lp.h.changeColsIntegrality(cols.size, cols, np.array([cont] * cols.size))
    lp.h.changeColsBounds(n_j, ocols, np.zeros(n_j), np.full(n_j, hs.kHighsInf))
    if lp.frozen is not None:  # undo the freeze for later re-solves
        idx, upper = lp.frozen
        lp.h.changeColsBounds(idx.size, idx, np.zeros(idx.size), upper)
        lp.frozen = None
    fixed_cost = float(lp.rows.count[fk] @ lp.pricer.costs(fk, fj)) if fk.size else 0.0
    if vals is not None:
        x = np.rint(vals[lp.n_prefix_cols:lp.n_prefix_cols + n_x]).astype(np.int64)
        n_on = np.rint(vals[:n_j]).astype(np.int64)
        over = vals[lp.c_o:lp.c_o + n_j]
        if (over <= OVERFLOW_TOL * lp.opt.replica_s).all():
            keep = x > 0
            return (np.r_[fk, lp.col_k[keep]], np.r_[fj, lp.col_j[keep]],
                    np.r_[fc, x[keep]], n_on, "lp+mip", bound + fixed_cost)
    k, j, c, n_on = greedy_round(lp, sol)
    return np.r_[fk, k], np.r_[fj, j], np.r_[fc, c], n_on, "lp+round", -np.inf


def _freeze_most(lp: RestrictedLP, sol: LPSolution, xcols: np.ndarray) -> None:
    """Fix most free rows' columns at their (integral) LP values for the rounding MIP.

    Left free: the fractional rows and, on each option a fractional row uses, the
    :data:`POLISH_PER_OPTION` shortest queries there (swaps with them repack the option).
    """
    rows, opt = lp.rows, lp.opt
    n_old = sol.col_k.size
    x = np.zeros(xcols.size)
    x[:n_old] = sol.x
    ck, cj = lp.col_k, lp.col_j
    frac = np.abs(x - np.rint(x)) > 1e-7
    open_rows = np.zeros(rows.n, dtype=bool)
    open_rows[ck[frac]] = True
    for j in np.unique(cj[frac]):  # loop over the options fractional rows use
        on_j = np.flatnonzero((cj == j) & (x > 0.5))
        rt = rows.runtime[ck[on_j], opt.system[j]]
        open_rows[ck[on_j[np.argsort(rt, kind="stable")[:POLISH_PER_OPTION]]]] = True
    fixed = ~open_rows[ck]  # columns added for the start: fixed at 0 unless their row is open
    val = np.where(fixed, np.rint(x), 0.0)
    idx = xcols[fixed].astype(np.int32)
    lp.h.changeColsBounds(idx.size, idx, val[fixed], val[fixed])
    lp.frozen = (idx, rows.count[ck[fixed]].astype(np.float64))


def option_objective(lp: RestrictedLP, k: np.ndarray, j: np.ndarray, c: np.ndarray,
                     n_on: np.ndarray) -> float:
    """Objective of an integral option plan (queries, replica-slots, switch-ons)."""
    value = float(c @ lp.pricer.costs(k, j)) + float(lp.opt.cost_n @ n_on)
    if lp.cost_up is not None:
        n_g = lp.opt.n_groups
        prev = np.where(np.arange(lp.opt.n) % n_g > 0, np.r_[0, n_on[:-1]], 0)
        value += float(lp.cost_up.ravel() @ np.maximum(n_on - prev, 0))
    return value


def _set_start(lp: RestrictedLP, k: np.ndarray, j: np.ndarray, c: np.ndarray,
               n_on: np.ndarray) -> None:
    """Hand HiGHS a feasible integral start (free rows' entries, replicas, switch-ons)."""
    n_j = lp.opt.n
    vals = np.zeros(lp.n_prefix_cols + lp.col_k.size)
    vals[:n_j] = n_on
    if lp.cost_up is not None:
        n_g = lp.opt.n_groups
        prev = np.where(np.arange(n_j) % n_g > 0, np.r_[0, n_on[:-1]], 0)
        vals[lp.c_up:lp.c_up + n_j] = np.maximum(n_on - prev, 0)
    keys = lp.col_k * n_j + lp.col_j
    order = np.argsort(keys)
    pos = order[np.searchsorted(keys[order], k * n_j + j)]
    np.add.at(vals, lp.n_prefix_cols + pos, c.astype(np.float64))
    sol = lp.hs.HighsSolution()
    sol.col_value = vals
    sol.value_valid = True
    lp.h.setSolution(sol)


def greedy_round(lp: RestrictedLP, sol: LPSolution
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fallback rounding of the free rows.

    Floor, then left-over queries one at a time to the cheapest option with room (switching
    on replicas as needed); where every allowed option is full even with all replicas on,
    the cheapest move of a few other queries to another option makes room first.

    Raises:
        SolverError: a left-over query fits nowhere, even after such a move.
    """
    rows, opt = lp.rows, lp.opt
    x = np.floor(sol.x + 1e-7).astype(np.int64)
    placed = np.bincount(sol.col_k, weights=x, minlength=rows.n)
    left = np.where(lp.row_pos >= 0, rows.count - placed, 0).astype(np.int64)
    keep = x > 0
    ek, ej, ec = sol.col_k[keep].copy(), sol.col_j[keep].copy(), x[keep].copy()
    busy = lp.load + np.bincount(ej, weights=ec * rows.runtime[ek, opt.system[ej]],
                                 minlength=opt.n)
    cap = opt.replica_s * opt.n_hi * (1 + 1e-12)
    js = np.arange(opt.n)
    new: list[tuple[int, int, int]] = []
    for k in np.flatnonzero(left > 0):  # loop over the few left-over classes
        allowed = opt.allowed(rows, np.full(opt.n, k), js)
        rt = rows.runtime[k, opt.system]
        cost = lp.pricer.costs(np.full(opt.n, k), js)
        for _ in range(int(left[k])):
            ok = allowed & (busy + rt <= cap)
            if not ok.any():
                ek, ej, ec = _make_room(lp, int(k), allowed, busy, ek, ej, ec, new)
                ok = allowed & (busy + rt <= cap)
            extra_on = np.ceil((busy + rt) / opt.replica_s - 1e-12) - \
                np.ceil(busy / opt.replica_s - 1e-12)
            jj = int(np.argmin(np.where(ok, cost + np.maximum(extra_on, 0) * opt.cost_n,
                                        np.inf)))
            busy[jj] += rt[jj]
            new.append((int(k), jj, 1))
    if new:
        add = np.array(new, dtype=np.int64)
        ek, ej, ec = np.r_[ek, add[:, 0]], np.r_[ej, add[:, 1]], np.r_[ec, add[:, 2]]
    ek, ej, ec = _fill_gaps(lp, ek, ej, ec, busy)
    n_on = np.maximum(np.ceil(busy / opt.replica_s - 1e-9), opt.n_lo).astype(np.int64)
    n_on = np.minimum(np.where(opt.cost_n <= 0, opt.n_hi, n_on), opt.n_hi).astype(np.int64)
    nz = ec > 0
    return ek[nz], ej[nz], ec[nz], n_on


def _fill_gaps(lp: RestrictedLP, ek: np.ndarray, ej: np.ndarray, ec: np.ndarray,
               busy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move queries into the room rounding leaves on options whose replicas are all on.

    Each step moves, into one option's left-over room, the queries of the entry that gain
    most by going there (cheaper per query, and they fit). Updates ``busy`` in place.
    """
    rows, opt = lp.rows, lp.opt
    room = opt.replica_s * opt.n_hi - busy
    moves: list[tuple[int, int, int]] = []
    ec = ec.copy()
    for _ in range(FILL_STEPS):  # loop over moves (few: one per full option, roughly)
        best: tuple[float, int, int, int] = (0.0, -1, -1, 0)
        for j in np.flatnonzero(room > 0):  # loop over options with room
            rt = rows.runtime[ek, opt.system[j]]
            ok = (ec > 0) & (ej != j) & (rt <= room[j]) & \
                opt.allowed(rows, ek, np.full(ek.size, j))
            if not ok.any():
                continue
            gain = np.where(ok, lp.pricer.costs(ek, ej) - lp.pricer.costs(ek, np.full(ek.size, j)),
                            0.0)  # masked below: no −inf·0
            n_move = np.where(ok, np.minimum(ec, np.floor(room[j] / np.maximum(rt, 1e-300))), 0)
            total = np.where(ok, gain * n_move, -np.inf)
            e = int(np.argmax(total))
            if total[e] > best[0] + 1e-15:
                best = (float(total[e]), int(j), e, int(n_move[e]))
        _, dst, e, m = (best[0], int(best[1]), int(best[2]), int(best[3]))
        if dst < 0 or m <= 0:
            break
        k, src = int(ek[e]), int(ej[e])
        ec[e] -= m
        busy[src] -= m * rows.runtime[k, opt.system[src]]
        busy[dst] += m * rows.runtime[k, opt.system[dst]]
        room[src] += m * rows.runtime[k, opt.system[src]]
        room[dst] -= m * rows.runtime[k, opt.system[dst]]
        moves.append((k, dst, m))
    if moves:
        add = np.array(moves, dtype=np.int64)
        ek, ej, ec = np.r_[ek, add[:, 0]], np.r_[ej, add[:, 1]], np.r_[ec, add[:, 2]]
    return ek, ej, ec


def _make_room(lp: RestrictedLP, k: int, allowed: np.ndarray, busy: np.ndarray,
               ek: np.ndarray, ej: np.ndarray, ec: np.ndarray, new: list
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move the cheapest few queries off a full option so one query of class k fits there.

    Updates ``busy`` in place and returns the entries with the move applied.

    Raises:
        SolverError: no such move exists among the free rows' entries.
    """
    rows, opt = lp.rows, lp.opt
    cap = opt.replica_s * opt.n_hi * (1 + 1e-12)
    js = np.arange(opt.n)
    rt_k = rows.runtime[k, opt.system]
    cost_k = lp.pricer.costs(np.full(opt.n, k), js)
    best: tuple[float, int, int, int, int] = (np.inf, -1, -1, -1, 0)
    for j in np.flatnonzero(allowed):  # loop over the class's options
        short = busy[j] + rt_k[j] - cap[j]
        at = np.flatnonzero((ej == j) & (ec > 0))
        if short <= 0 or at.size == 0:
            continue
        rr = rows.runtime[ek[at], opt.system[j]]
        m = np.ceil(short / np.maximum(rr, 1e-300) - 1e-12)
        fits = m <= ec[at]
        cand = at[fits][np.argsort((m * rr)[fits], kind="stable")[:MAKE_ROOM_CANDIDATES]]
        for e in cand:  # loop over a few candidate entries
            k2 = int(ek[e])
            mm = int(np.ceil(short / max(rows.runtime[k2, opt.system[j]], 1e-300) - 1e-12))
            rt2 = rows.runtime[k2, opt.system]
            dest = opt.allowed(rows, np.full(opt.n, k2), js) & (js != j) & \
                (busy + mm * rt2 <= cap)
            if not dest.any():
                continue
            c2 = lp.pricer.costs(np.full(opt.n, k2), js)
            delta = np.where(dest, mm * (c2 - c2[j]), np.inf)
            d = int(np.argmin(delta))
            if delta[d] + cost_k[j] < best[0]:
                best = (float(delta[d] + cost_k[j]), int(j), int(e), d, mm)
    _, jb, e, d, mm = best
    if jb < 0:
        raise SolverError("rounding: a left-over query fits nowhere")
    k2 = int(ek[e])
    ec = ec.copy()
    ec[e] -= mm
    busy[jb] -= mm * rows.runtime[k2, opt.system[jb]]
    busy[d] += mm * rows.runtime[k2, opt.system[d]]
    new.append((k2, d, mm))
    return ek, ej, ec


