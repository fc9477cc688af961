"""The planner's LP relaxation, solved without building it.

Small models go to HiGHS whole (every row, every allowed column). Large ones:

1. **Groups.** Time classes start in coarse bins (token counts within a factor, equal
   eligibility and window). An LP over the groups — count-weighted mean costs, a restriction
   of the full LP whose plans split back to the members at exactly the group's cost and
   loads — is solved by column generation (every group priced at its duals).
2. **Regrouping.** Every class is priced at those duals (:class:`~.pricing.Pricer`): the
   Lagrangian bound. Each group is split by its members' own best options, and the closest
   calls become rows of their own; repeat until the group LP is within
   :data:`REFINE_GAP` of the bound.
3. **Classes.** Members of groups on one option are fixed there; members of split groups
   enter a restricted LP of classes (:class:`~.lp.RestrictedLP`), sifted for a short while.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import SolverError
from .data import PlanData, Rows
from .lp import DUAL_COST_PERTURBATION, FINE_COST_PERTURBATION, LPSolution, RestrictedLP
from .pricing import Priced, Pricer

COARSE_RATIO = 1.1
"""Token counts within a factor 1.1 share a bin (widened for many options)."""
COARSE_RATIOS = (1.1, 1.25, 1.5, 2.0, 3.0, 5.0)
COARSE_MAX_COLUMNS = 60_000
DIRECT_MAX_COLUMNS = 200_000
"""Up to this many allowed (row, option) pairs, the LP gets all of them at once."""
MAX_FREE = 8_000
"""Most classes the fine LP holds at once (HiGHS slows down beyond)."""
REFINE_ROUNDS = 8
REFINE_GAP = 2e-7
"""Regroup until the group LP is within this of the Lagrangian bound."""
REFINE_INDIVIDUAL = 400
"""Closest-call classes that become rows of their own in each regrouping."""
FINE_SIFT_S = 2.0
"""Seconds of sifting on the classes themselves after the groups (the group LP's plan and
bound are already within :data:`REFINE_GAP`; the first fine LP is always awaited)."""
"""Seconds of sifting before the restricted LP's optimum is taken as it is (the gap then
says how far from the LP optimum it may be)."""
REFINE_SHARE = 0.6
"""Share of the time limit for the group LPs (the first is awaited up to the whole limit)."""
FINE_SHARE = 0.75
"""Share of the time limit by which the fine LP's sifting stops."""
RELIEF = 1e-4
"""Fixed load may fill an option up to this share short of every replica (see _relieve)."""
PENALTY_FACTOR = 1e3
GROUP_STOP = 0.1
"""A group LP stops sifting within this share of the refinement's gap of its own bound."""


def all_columns(rows: Rows, data: PlanData) -> tuple[np.ndarray, np.ndarray]:
    """Every allowed (row, option) pair."""
    opt = data.options
    k = np.repeat(np.arange(rows.n), opt.n)
    j = np.tile(np.arange(opt.n), rows.n)
    ok = opt.allowed(rows, k, j)
    return k[ok], j[ok]


def n_allowed(rows: Rows, data: PlanData) -> int:
    """Number of allowed (row, option) pairs, counted per system without enumerating them."""
    opt = data.options
    total = 0
    for j in range(opt.n):  # loop over options only
        gf = opt.group_first[opt.group[j]]
        total += int((rows.eligible[:, opt.system[j]] & (rows.first <= gf)
                      & (gf <= rows.last)).sum())
    return total


def penalty(data: PlanData) -> float:
    """Cost per second of elastic overflow: far above any capacity price."""
    r = data.rows
    gmax = float(np.abs(data.options.g).max()) if data.options.n else 1.0
    rt = np.where(r.eligible, np.maximum(r.runtime, 1e-12), np.inf)
    per_s = np.where(r.eligible, (np.abs(r.a) * gmax + data.beta * r.runtime) / rt, 0.0)
    static = np.abs(data.options.cost_n) / np.maximum(data.options.replica_s, 1e-12)
    top = max(float(per_s.max()) if per_s.size else 0.0, float(static.max(initial=0.0)))
    return PENALTY_FACTOR * (top + 1e-12) + 1.0


def coarse_rows(data: PlanData, ratio: float = COARSE_RATIO) -> tuple[Rows, np.ndarray]:
    """Bins of time classes and the bin of each class.

    A bin holds classes whose token counts lie within a factor ``ratio``, with equal
    eligibility and window.
    """
    r = data.rows
    c = data.problem.classes
    tin = c.input_tokens[data.tclasses.base].astype(np.float64)
    tout = c.output_tokens[data.tclasses.base].astype(np.float64)
    b_in = np.floor(np.log(tin) / np.log(ratio)).astype(np.int64)
    b_out = np.floor(np.log(tout) / np.log(ratio)).astype(np.int64)
    n_s = r.eligible.shape[1]
    pattern = r.eligible.astype(np.int64) @ (1 << np.arange(n_s, dtype=np.int64))
    t = data.grid.n_slots
    window = r.first * t + r.last
    key = ((b_in * (int(b_out.max()) + 1) + b_out) * (1 << n_s) + pattern) * (t * t) + window
    groups, uniques = pd.factorize(key)
    n_b = len(uniques)
    w = r.count
    tot = np.bincount(groups, weights=w, minlength=n_b)

    def mean(values: np.ndarray) -> np.ndarray:
        out = np.empty((n_b, values.shape[1]))
        for s in range(values.shape[1]):  # loop over systems only
            out[:, s] = np.bincount(groups, weights=values[:, s] * w, minlength=n_b)
        return out / tot[:, None]

    first_of = np.zeros(n_b, dtype=np.int64)
    first_of[groups[::-1]] = np.arange(r.n)[::-1]  # any member: eligibility, window uniform
    bins = Rows(a=mean(r.a), runtime=mean(r.runtime), eligible=r.eligible[first_of],
                first=r.first[first_of], last=r.last[first_of], count=tot)
    return bins, groups


def coarse_bins(data: PlanData) -> tuple[Rows, np.ndarray]:
    """The finest bins whose LP stays small.

    Ratio 1.1, widened until the bins' allowed (bin, option) pairs number at most
    :data:`COARSE_MAX_COLUMNS`.
    """
    for ratio in COARSE_RATIOS:
        bins, groups = coarse_rows(data, ratio)
        if n_allowed(bins, data) <= COARSE_MAX_COLUMNS:
            break
    return bins, groups


def _proportional(csol: LPSolution, bins: Rows, groups: np.ndarray, count: np.ndarray
                  ) -> np.ndarray:
    """An option per class that splits each bin's classes as the coarse LP splits the bin.

    Classes take a bin's options in turn, by cumulative query count; the loads then match
    the coarse plan's up to about one class per split.
    """
    order = np.lexsort((np.arange(groups.size), groups))
    cls_bin = groups[order]
    start = np.concatenate([[0.0], np.cumsum(bins.count)[:-1]])
    pos = np.cumsum(count[order]) - 0.5 * count[order] - start[cls_bin]  # mid-point in bin
    cols = np.lexsort((csol.col_j, csol.col_k))
    ck, cj, cx = csol.col_k[cols], csol.col_j[cols], np.maximum(csol.x[cols], 0.0)
    cstart = np.concatenate([[0.0], np.cumsum(bins.count)[:-1]])
    cum = np.cumsum(cx) - cstart[ck]  # end of each column's share within its bin
    glob_end = cstart[ck] + cum
    glob_pos = start[cls_bin] + pos
    pick = np.minimum(np.searchsorted(glob_end, glob_pos, side="left"), ck.size - 1)
    out = np.empty(groups.size, dtype=np.int64)
    out[order] = cj[pick]
    return out


def _group_options(gsol: LPSolution, groups: np.ndarray, k: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(class, option) pairs: each of classes ``k`` with every option its group's plan uses."""
    used = gsol.x > 1e-9
    order = np.argsort(gsol.col_k[used], kind="stable")
    gk, gj = gsol.col_k[used][order], gsol.col_j[used][order]
    g = groups[k]
    lo = np.searchsorted(gk, g)
    reps = np.searchsorted(gk, g, side="right") - lo
    at = np.repeat(lo - np.cumsum(np.r_[0, reps[:-1]]), reps) + np.arange(int(reps.sum()))
    return np.repeat(k, reps), gj[at]


def _relieve(data: PlanData, pricer: Pricer, gsol: LPSolution, fixed_opt: np.ndarray
             ) -> np.ndarray:
    """Free fixed classes on options whose fixed load alone exceeds every replica.

    Classes fixed by the group plan's proportions carry their own runtimes, not the group's
    mean, so a full option can end up a little over; the closest calls there (least margin
    at the group LP's prices) are freed until the fixed load fits :data:`RELIEF` short of
    the capacity, so that the fine LP need not overflow.
    """
    rows, opt = data.rows, data.options
    fk = np.flatnonzero(fixed_opt >= 0)
    fj = fixed_opt[fk]
    load = rows.count[fk] * rows.runtime[fk, opt.system[fj]]
    total = np.bincount(fj, weights=load, minlength=opt.n)
    cap = opt.replica_s * opt.n_hi * (1 - RELIEF)
    hit = np.flatnonzero(total > cap)
    if hit.size == 0:
        return fixed_opt
    margin = pricer.price(gsol.mu, gsol.nu, margin=True).margin
    assert margin is not None
    out = fixed_opt.copy()
    for jj in hit:  # loop over the overloaded options
        at = np.flatnonzero(fj == jj)
        at = at[np.argsort(margin[fk[at]], kind="stable")]
        n_take = int(np.searchsorted(np.cumsum(load[at]), total[jj] - cap[jj])) + 1
        out[fk[at[:n_take]]] = -1
    return out


def _lp(rows: Rows, data: PlanData, pricer: Pricer, fixed_opt: np.ndarray,
        cols: tuple[np.ndarray, np.ndarray],
        cost_perturbation: float = DUAL_COST_PERTURBATION,
        pen: float | None = None) -> RestrictedLP:
    """A restricted LP; ``pen`` is :func:`penalty` of ``data`` where the caller has it."""
    return RestrictedLP(rows, data.options, pricer, data.cost_up, data.share_lo, data.share_hi,
                        penalty(data) if pen is None else pen, fixed_opt, cols,
                        cost_perturbation)


def group_rows(rows: Rows, groups: np.ndarray, n_groups: int) -> Rows:
    """Rows of groups of rows: summed counts, count-weighted mean costs.

    A restriction of the LP whose plans split back to the members with exactly the group's
    cost and loads.
    """
    w = rows.count
    tot = np.bincount(groups, weights=w, minlength=n_groups)
    out_a = np.empty((n_groups, rows.a.shape[1]))
    out_r = np.empty_like(out_a)
    for s in range(rows.a.shape[1]):  # loop over systems only
        out_a[:, s] = np.bincount(groups, weights=rows.a[:, s] * w, minlength=n_groups)
        out_r[:, s] = np.bincount(groups, weights=rows.runtime[:, s] * w, minlength=n_groups)
    first_of = np.zeros(n_groups, dtype=np.int64)
    first_of[groups[::-1]] = np.arange(rows.n)[::-1]  # eligibility and window are uniform
    return Rows(a=out_a / tot[:, None], runtime=out_r / tot[:, None],
                eligible=rows.eligible[first_of], first=rows.first[first_of],
                last=rows.last[first_of], count=tot)


def _group_lp(data: PlanData, grows: Rows, mu: np.ndarray, nu: np.ndarray,
              extra: tuple[np.ndarray, np.ndarray], deadline: float | None,
              limit: float | None, stop_gap: float, primal_ok: bool = True,
              pen: float | None = None) -> tuple[RestrictedLP, LPSolution]:
    from .solve import lagrangian  # the bound's formula lives with the solver

    gp = Pricer(grows, data.options, data.beta)
    best = gp.per_system(mu, nu)
    k = np.repeat(np.arange(grows.n), best.shape[1])
    cols = (np.r_[k, extra[0]], np.r_[best.ravel(), extra[1]])
    glp = _lp(grows, data, gp, np.full(grows.n, -1), cols, pen=pen)
    glp.primal_ok = primal_ok

    def bound(m: np.ndarray, n: np.ndarray, priced: Priced) -> float:
        return lagrangian(data, gp, m, n, priced)

    return glp, glp.sift(limit, deadline=deadline, stop_gap=stop_gap, bound=bound)


def refine_groups(data: PlanData, pricer: Pricer, time_limit: float | None,
                  refine_gap: float = REFINE_GAP, pen: float | None = None
                  ) -> tuple[np.ndarray, RestrictedLP, LPSolution, float, float]:
    """Aggregated LPs over groups of classes, regrouped by the classes' own best options.

    Start from coarse bins; after each group LP, price every class at its duals (the
    Lagrangian bound) and split each group by its members' best options, the closest calls
    becoming rows of their own. Stop when the group LP (a feasible plan) is within
    ``refine_gap`` of the bound, after :data:`REFINE_ROUNDS`, or past
    :data:`REFINE_SHARE` of the time limit.

    Returns:
        ``(group of each class, last group LP, its solution, its Lagrangian gap, the best
        Lagrangian bound over the rounds)``.
    """
    from .solve import lower_bound  # the bound's formula lives with the solver

    rows = data.rows
    start = time.perf_counter()
    pen = penalty(data) if pen is None else pen  # once: a pass over every row
    _, groups = coarse_bins(data)
    groups = pd.factorize(groups)[0]
    mu, nu = np.zeros(data.options.n), np.zeros(rows.a.shape[1])
    extra = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    gap = np.inf
    best_bound = -np.inf
    gsol = glp = None
    end = None if time_limit is None else start + REFINE_SHARE * time_limit
    for _ in range(REFINE_ROUNDS):
        n_g = int(groups.max()) + 1
        grows = group_rows(rows, groups, n_g)
        if gsol is None and n_allowed(grows, data) <= DIRECT_MAX_COLUMNS:  # the first LP
            extra = all_columns(grows, data)  # whole, not sifted up from zero prices (24 rounds)
        # the first group LP may use the whole limit (no plan without it), later ones their share
        limit = None
        if time_limit is not None and end is not None:
            stop = start + time_limit if gsol is None else end
            limit = max(stop - time.perf_counter(), 0.05)
        try:
            # a warm primal simplex found slower than a cold solve stays off for the
            # later group LPs (on the windows day it cost 2-7 s in each of them)
            new_lp, new_sol = _group_lp(data, grows, mu, nu, extra, end, limit,
                                        GROUP_STOP * refine_gap,
                                        True if glp is None else glp.primal_ok, pen)
        except SolverError:
            if gsol is None:
                raise
            break  # out of time: the last group LP stands
        glp, gsol = new_lp, new_sol
        mu, nu = gsol.mu, gsol.nu
        priced = pricer.price(mu, nu, margin=True)
        bound = lower_bound(data, LPSolution(
            col_k=gsol.col_k, col_j=gsol.col_j, x=gsol.x, fixed_opt=gsol.fixed_opt,
            n_on=gsol.n_on, overflow=gsol.overflow, mu=mu, nu=nu, priced=priced,
            objective=gsol.objective, rounds=gsol.rounds))
        gap = (gsol.objective - bound) / max(abs(gsol.objective), 1e-12)
        best_bound = max(best_bound, bound)  # any round's prices bound: keep the best
        groups_used = groups
        if gap <= refine_gap or (end is not None and time.perf_counter() > end):
            break
        sens = (rows.runtime[np.arange(rows.n), data.options.system[priced.option]]
                * float(mu.max(initial=0.0)) + float(np.abs(nu).sum()) + 1e-300)
        score = priced.margin / sens
        n_ind = min(REFINE_INDIVIDUAL, rows.n)
        alone = np.zeros(rows.n, dtype=bool)
        alone[np.argpartition(score, n_ind - 1)[:n_ind]] = True
        key = np.where(alone, -1 - np.arange(rows.n), groups * data.options.n + priced.option)
        new_groups = pd.factorize(key)[0]
        # each new group inherits the options its members' old group used
        first_member = np.zeros(int(new_groups.max()) + 1, dtype=np.int64)
        first_member[new_groups[::-1]] = np.arange(rows.n)[::-1]
        member, inherited = _group_options(gsol, groups, first_member)
        extra = (new_groups[member], inherited)
        groups = new_groups
    assert gsol is not None and glp is not None
    return groups_used, glp, gsol, gap, best_bound


@dataclass
class Relaxation:
    """The solved LP relaxation.

    Attributes:
        lp: restricted LP over time classes (all of them and every column for small models).
        sol: its solution.
        pricer: prices every time class.
        groups: for large models: the final LP over groups of classes, its solution, and the
            group of each class; None for small ones.
    """

    lp: RestrictedLP
    sol: LPSolution
    pricer: Pricer
    groups: tuple[RestrictedLP, LPSolution, np.ndarray] | None = None
    bound: float = -np.inf
    """The best Lagrangian bound of the group LPs' rounds (−inf for small models)."""


def solve_relaxation(data: PlanData, time_limit: float | None = None,
                     gap_tol: float = 1e-6) -> Relaxation:
    """Solve the full LP relaxation exactly (see the module docstring).

    Args:
        data: the model data.
        time_limit: seconds (the first LP is awaited up to all of them).
        gap_tol: the plan's tolerance; the group LPs stop within a 20th of it, or within
            :data:`REFINE_GAP` if that is looser.

    Returns:
        The relaxation (its LPs are kept for re-solves with fixed replica counts).

    Raises:
        SolverError: HiGHS failed or ran out of time.
    """
    start = time.perf_counter()
    rows = data.rows
    pricer = Pricer(rows, data.options, data.beta)
    if n_allowed(rows, data) <= DIRECT_MAX_COLUMNS:
        lp = _lp(rows, data, pricer, np.full(rows.n, -1), all_columns(rows, data),
                 FINE_COST_PERTURBATION)
        lp.complete = True
        return Relaxation(lp, lp.sift(time_limit), pricer)
    pen = penalty(data)
    groups, glp, gsol, _, best_bound = refine_groups(data, pricer, time_limit,
                                                     max(REFINE_GAP, 0.05 * gap_tol), pen)
    # fine LP: members of groups on one option fixed there, members of split groups free
    used = gsol.x > 1e-9
    n_used = np.bincount(gsol.col_k[used], minlength=int(groups.max()) + 1)
    main = np.full(n_used.size, -1, dtype=np.int64)
    order = np.argsort(gsol.x, kind="stable")
    main[gsol.col_k[order]] = gsol.col_j[order]
    free = n_used[groups] > 1
    if free.sum() > MAX_FREE:  # the split groups' members beyond the cap: as the group splits
        priced = pricer.price(gsol.mu, gsol.nu, margin=True)
        assert priced.margin is not None
        rank = np.where(free, priced.margin, np.inf)
        keep = np.argsort(rank, kind="stable")[:MAX_FREE]
        main_of = _proportional(gsol, group_rows(rows, groups, n_used.size), groups,
                                rows.count)
        free = np.zeros(rows.n, dtype=bool)
        free[keep] = True
        fixed_opt = np.where(free, -1, main_of)
    else:
        fixed_opt = np.where(free, -1, main[groups])
    fixed_opt = _relieve(data, pricer, gsol, fixed_opt)
    free = fixed_opt < 0
    fk = np.flatnonzero(free)
    priced = pricer.price(gsol.mu, gsol.nu)
    best = pricer.per_system(gsol.mu, gsol.nu)[fk]  # each free class's best on every system
    mk, mj = _group_options(gsol, groups, fk)  # and every option its group uses: the fine
    cols = (np.r_[fk, mk, np.repeat(fk, best.shape[1])],  # LP then holds the group plan
            np.r_[priced.option[fk], mj, best.ravel()])
    lp = _lp(rows, data, pricer, fixed_opt, cols, FINE_COST_PERTURBATION, pen)
    deadline = time.perf_counter() + FINE_SIFT_S
    limit = None
    if time_limit is not None:
        deadline = min(deadline, start + FINE_SHARE * time_limit)
        limit = max(start + time_limit - time.perf_counter(), 0.05)
    return Relaxation(lp, lp.sift(limit, max_free=MAX_FREE, deadline=deadline), pricer,
                      (glp, gsol, groups), best_bound)
