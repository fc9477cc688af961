"""The restricted LP of the planner: a few rows and columns of the full LP, grown until exact.

Full LP over rows k (time classes), options j = (system, slot group) and, per option, the
replica-slots on N_j::

    min  Σ w[k,j]·x[k,j] + Σ c_j·N_j + Σ c_up·up + penalty·Σ o_j
    s.t. Σ_j x[k,j] = n_k                                    (every query placed)
         Σ_k r[k,s_j]·x[k,j] − L_j·N_j − o_j ≤ 0             (capacity of option j)
         lo_s ≤ Σ_{k, j∈s} x[k,j] ≤ hi_s                     (share bounds, optional)
         up[s,t] − N[s,t] + N[s,t−1] ≥ 0                      (switch-ons, with start-up)
         n_lo_j ≤ N_j ≤ n_hi_j,  x, up, o ≥ 0

``o_j`` is an elastic overflow with a large penalty: the LP always solves, and an optimal
``o > 0`` says which options are short of capacity and by how much (the diagnosis).

Only *free* rows are in the LP; each other row is *fixed* to one option and enters as a
constant load. :meth:`RestrictedLP.sift` solves, prices every row at the duals
(:class:`~offline_sched.planner.pricing.Pricer`), frees fixed rows that have a cheaper option
and adds columns free rows lack, until no row has a negative reduced cost: the LP's solution
is then optimal for the full LP (column generation with sifting; rows and columns are added
to the same HiGHS instance, which warm-starts from its last basis).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import SolverError, SolverTimeLimit
from .data import Options, Rows
from .highs import highspy_module, model_status, new_highs, set_time_limit
from .pricing import Priced, Pricer
from .switchons import add_paying_limits

DUAL_RTOL = 1e-9
DUAL_SIMPLEX = 1
PRIMAL_SIMPLEX = 4
"""HiGHS ``simplex_strategy`` values."""
MAX_SIFT_ROUNDS = 200
PRIMAL_MIN_S = 0.05
"""Least seconds a warm primal simplex is given (see :meth:`RestrictedLP.run`)."""
DUAL_COST_PERTURBATION = 0.0
"""HiGHS ``dual_simplex_cost_perturbation_multiplier`` of the restricted LPs (HiGHS's default
is 1). Re-solves after added columns are dual-infeasible starts, and with perturbed costs
HiGHS's dual simplex spent 0.3–0.8 ms per iteration on them against 0.05 ms cold (measured
2026-12-02 on the planner benchmark's windows day: 10^5 queries, group LPs of 11,500–27,000
rows; the LP took 70 s with the default, 34 s without perturbation, the same optimum and
bound; the 10^6-query day is unchanged, 6.2–6.7 s either way). The fine LP keeps HiGHS's
default, :data:`FINE_COST_PERTURBATION`."""
FINE_COST_PERTURBATION = 1.0
"""The same multiplier for the fine LP (:func:`~.relax.solve_relaxation`) and the small
models' direct LP: HiGHS's default. Its vertex is what the repair MIP rounds, and on the
10^6-query benchmark day the vertices of the unperturbed fine LP rounded worse (measured
2026-12-03, one run each, same LP value 4954.9504: certified gap 9.2e-6–4.2e-5, five of
seven above 1e-5, against 7.1e-6–1.4e-5, four of five at most 8.7e-6, with the default);
its time was the same either way."""


@dataclass(frozen=True)
class LPSolution:
    """An optimal solution of the full LP (or of its restriction, see ``exact``).

    Attributes:
        col_k: row of each x column.
        col_j: option of each x column.
        x: value of each x column.
        fixed_opt: option of each fixed row, −1 for free rows, (n,).
        n_on: replica-slots on per option, (J,).
        overflow: elastic overflow per option [s], (J,).
        mu: capacity prices, (J,).
        nu: share prices, (S,).
        priced: every row's best option at (mu, nu).
        objective: LP objective, fixed rows' costs included (penalty terms too).
        rounds: LPs solved.
        exact: whether nothing prices out (the full LP's optimum); False when sifting
            stopped at its deadline or row cap (still a feasible plan).
    """

    col_k: np.ndarray
    col_j: np.ndarray
    x: np.ndarray
    fixed_opt: np.ndarray
    n_on: np.ndarray
    overflow: np.ndarray
    mu: np.ndarray
    nu: np.ndarray
    priced: Priced
    objective: float
    rounds: int
    exact: bool = True


class RestrictedLP:
    """The restricted LP in one HiGHS instance.

    Args:
        rows: all rows.
        options: the options.
        pricer: prices of all rows.
        cost_up: switch-on cost per (system, group), or None (no start-up rows).
        share_lo: share lower bounds per system, or None (no share rows).
        share_hi: share upper bounds.
        penalty: cost per second of overflow.
        fixed_opt: option of each fixed row, −1 for the rows that start free.
        cols: initial ``(k, j)`` columns of the free rows (the disallowed are dropped).
        cost_perturbation: HiGHS's dual simplex cost perturbation multiplier (see
            :data:`DUAL_COST_PERTURBATION` and :data:`FINE_COST_PERTURBATION`).
    """

    def __init__(self, rows: Rows, options: Options, pricer: Pricer,
                 cost_up: np.ndarray | None, share_lo: np.ndarray | None,
                 share_hi: np.ndarray | None, penalty: float, fixed_opt: np.ndarray,
                 cols: tuple[np.ndarray, np.ndarray],
                 cost_perturbation: float = DUAL_COST_PERTURBATION):
        self.hs = highspy_module()
        self.rows, self.opt, self.pricer = rows, options, pricer
        self.n_s = rows.a.shape[1]
        self.cost_up, self.share_lo, self.share_hi = cost_up, share_lo, share_hi
        self.penalty = penalty
        n_j = options.n
        self.fixed_opt = np.asarray(fixed_opt, dtype=np.int64).copy()
        fixed = self.fixed_opt >= 0
        fj = self.fixed_opt[fixed]
        fk = np.flatnonzero(fixed)
        w = rows.count[fk]
        self.load = np.bincount(fj, weights=w * rows.runtime[fk, options.system[fj]],
                                minlength=n_j)
        self.cnt = np.bincount(options.system[fj], weights=w, minlength=self.n_s)
        self.fixed_cost = float(w @ pricer.costs(fk, fj))  # objective of the fixed rows
        # prefix rows: capacity (J), shares (S), start-up (S·G); prefix columns: N, o, up
        self.r_share = n_j
        self.r_up = n_j + (self.n_s if share_lo is not None else 0)
        self.n_prefix_rows = self.r_up + (cost_up.size if cost_up is not None else 0)
        self.c_o = n_j
        self.c_up = 2 * n_j
        self.n_prefix_cols = 2 * n_j + (cost_up.size if cost_up is not None else 0)
        self.row_pos = np.full(rows.n, -1, dtype=np.int64)
        free = np.flatnonzero(~fixed)
        self.row_pos[free] = self.n_prefix_rows + np.arange(free.size)
        self.n_rows_total = self.n_prefix_rows + free.size
        self.col_k = np.zeros(0, dtype=np.int64)
        self.col_j = np.zeros(0, dtype=np.int64)
        self.present = np.zeros(rows.n * options.n, dtype=bool)
        """Whether column (k, j) is in the LP, at ``k·J + j``."""
        self.h = new_highs()
        self.h.setOptionValue("dual_simplex_cost_perturbation_multiplier",
                              float(cost_perturbation))
        self._build(free)
        if cost_up is not None:  # start-ups that pay: keep up ≤ N_t and ≤ hi − N_{t−1}
            self.n_rows_total += add_paying_limits(self.h, 0, self.c_up, options.n_groups,
                                                    options.n_hi, cost_up)
        k, j = self._new_columns(*cols)
        self._add_columns(k, j)
        self.rounds = 0
        self.cold_s: float | None = None
        """Seconds of the first solve (from scratch)."""
        self.primal_ok = True
        """Whether re-solves after added columns use primal simplex: warm, and on the
        benchmark's no-window day faster than dual (6.2–6.7 s against 7.3–7.6 s for its LP);
        but where it turns out slower than the first solve from scratch (wide windows: many
        columns per row), dual it is. A caller may pass what an earlier LP of the same
        model found (:func:`~.relax.refine_groups` does)."""
        self.complete = False
        """Whether every allowed column of every row is in the LP (set by the caller)."""
        self.frozen: tuple[np.ndarray, np.ndarray] | None = None
        """Columns the rounding MIP fixed, and their usual upper bounds (to undo it)."""

    # -- building ---------------------------------------------------------------------------

    def _prefix_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        inf = self.hs.kHighsInf
        n_j = self.opt.n
        lo = [np.full(n_j, -inf)]
        hi = [-self.load]
        if self.share_lo is not None and self.share_hi is not None:
            lo.append(self.share_lo - self.cnt)
            hi.append(self.share_hi - self.cnt)
        if self.cost_up is not None:
            lo.append(np.zeros(self.cost_up.size))
            hi.append(np.full(self.cost_up.size, inf))
        return np.concatenate(lo), np.concatenate(hi)

    def _build(self, free: np.ndarray) -> None:
        hs, opt = self.hs, self.opt
        n_j = opt.n
        inf = hs.kHighsInf
        ci, ri, vi = [], [], []  # COO of the prefix columns
        j = np.arange(n_j)
        ci += [j, self.c_o + j]
        ri += [j, j]
        vi += [-opt.replica_s, -np.ones(n_j)]
        cost = [opt.cost_n, np.full(n_j, self.penalty)]
        col_lo = [opt.n_lo, np.zeros(n_j)]
        col_hi = [opt.n_hi, np.full(n_j, inf)]
        if self.cost_up is not None:
            n_g = opt.n_groups
            up = np.arange(self.cost_up.size)  # up[s, g] at s·G + g, like options
            ci += [self.c_up + up, j]
            ri += [self.r_up + up, self.r_up + j]
            vi += [np.ones(up.size), -np.ones(n_j)]
            nxt = j[(j % n_g) < n_g - 1]  # N[s, g] also enters the row of (s, g + 1)
            ci.append(nxt)
            ri.append(self.r_up + nxt + 1)
            vi.append(np.ones(nxt.size))
            cost.append(self.cost_up.ravel())
            col_lo.append(np.zeros(up.size))
            col_hi.append(opt.n_hi[up] / opt.group_size[opt.group[up]])
        lp = hs.HighsLp()
        n_cols = self.n_prefix_cols
        ci_a, ri_a, vi_a = np.concatenate(ci), np.concatenate(ri), np.concatenate(vi)
        order = np.lexsort((ri_a, ci_a))
        lp.num_col_ = n_cols
        lp.num_row_ = self.n_rows_total
        lp.col_cost_ = np.concatenate(cost)
        lp.col_lower_ = np.concatenate(col_lo)
        lp.col_upper_ = np.concatenate(col_hi)
        plo, phi = self._prefix_bounds()
        cnt = self.rows.count[free]
        lp.row_lower_ = np.concatenate([plo, cnt])
        lp.row_upper_ = np.concatenate([phi, cnt])
        lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.searchsorted(ci_a[order], np.arange(n_cols + 1)).astype(np.int32)
        lp.a_matrix_.index_ = ri_a[order].astype(np.int32)
        lp.a_matrix_.value_ = vi_a[order].astype(np.float64)
        if self.h.passModel(lp) == hs.HighsStatus.kError:
            raise SolverError("HiGHS rejected the planner's LP")

    def _new_columns(self, k: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Allowed, not yet present, distinct columns of free rows among (k, j)."""
        k, j = np.asarray(k, dtype=np.int64), np.asarray(j, dtype=np.int64)
        ok = (j >= 0) & (self.row_pos[k] >= 0)
        k, j = k[ok], j[ok]
        ok = self.opt.allowed(self.rows, k, j)
        keys = k[ok] * self.opt.n + j[ok]
        keys = np.unique(keys[~self.present[keys]])  # new ones only, then distinct
        return keys // self.opt.n, keys % self.opt.n

    def _add_columns(self, k: np.ndarray, j: np.ndarray) -> None:
        if k.size == 0:
            return
        s = self.opt.system[j]
        per = 3 if self.share_lo is not None else 2
        idx = [self.row_pos[k], j]
        val = [np.ones(k.size), self.rows.runtime[k, s]]
        if per == 3:
            idx.append(self.r_share + s)
            val.append(np.ones(k.size))
        starts = np.arange(0, per * k.size, per, dtype=np.int32)
        self.h.addCols(int(k.size), self.pricer.costs(k, j), np.zeros(k.size),
                       self.rows.count[k], int(per * k.size), starts,
                       np.column_stack(idx).ravel().astype(np.int32),
                       np.column_stack(val).ravel().astype(np.float64))
        self.col_k = np.concatenate([self.col_k, k])
        self.col_j = np.concatenate([self.col_j, j])
        self.present[k * self.opt.n + j] = True

    def free_rows(self, k: np.ndarray) -> None:
        """Move fixed rows into the LP (their loads leave the capacity rows' bounds)."""
        k = np.asarray(k, dtype=np.int64)
        k = k[self.fixed_opt[k] >= 0]
        if k.size == 0:
            return
        j = self.fixed_opt[k]
        s = self.opt.system[j]
        w = self.rows.count[k]
        self.load -= np.bincount(j, weights=w * self.rows.runtime[k, s], minlength=self.opt.n)
        self.cnt -= np.bincount(s, weights=w, minlength=self.n_s)
        self.fixed_cost -= float(w @ self.pricer.costs(k, j))
        self.fixed_opt[k] = -1
        self.row_pos[k] = self.n_rows_total + np.arange(k.size)
        self.n_rows_total += k.size
        self.h.addRows(int(k.size), w, w, 0, np.zeros(k.size, dtype=np.int32),
                       np.zeros(0, dtype=np.int32), np.zeros(0))
        lo, hi = self._prefix_bounds()
        n_p = self.r_up
        self.h.changeRowsBounds(n_p, np.arange(n_p, dtype=np.int32), lo[:n_p], hi[:n_p])
        self._add_columns(*self._new_columns(np.r_[k, k], np.r_[j, j]))

    def add_columns(self, k: np.ndarray, j: np.ndarray) -> int:
        """Add columns (k, j) of free rows; return how many were new."""
        k, j = self._new_columns(k, j)
        self._add_columns(k, j)
        return int(k.size)

    # -- solving ----------------------------------------------------------------------------

    def fix_on(self, n_on: np.ndarray | None) -> None:
        """Fix N to given values (None: back to their bounds)."""
        n_j = self.opt.n
        idx = np.arange(n_j, dtype=np.int32)
        lo = self.opt.n_lo if n_on is None else np.asarray(n_on, dtype=np.float64)
        hi = self.opt.n_hi if n_on is None else np.asarray(n_on, dtype=np.float64)
        self.h.changeColsBounds(n_j, idx, lo, hi)

    def run(self, time_limit: float | None = None, primal: bool = False) -> str:
        """Solve the current restriction; return its status.

        A warm primal simplex gets at most as long as the first (cold) solve took; past
        that it is stopped and dual simplex goes on from its basis, and primal stays off
        for this LP (see :attr:`primal_ok`).

        Args:
            time_limit: seconds.
            primal: use primal simplex (warm after columns were added: the basis stays
                primal feasible); else dual simplex (warm after bounds changed).
        """
        primal = primal and self.primal_ok and self.cold_s is not None
        limit = time_limit
        capped = False
        if primal:
            assert self.cold_s is not None
            cap = max(self.cold_s, PRIMAL_MIN_S)
            capped = time_limit is None or cap < time_limit
            limit = cap if capped else time_limit
        set_time_limit(self.h, limit)
        self.h.setOptionValue("simplex_strategy", PRIMAL_SIMPLEX if primal else DUAL_SIMPLEX)
        start = time.perf_counter()
        self.h.run()
        took = time.perf_counter() - start
        self.h.setOptionValue("simplex_strategy", DUAL_SIMPLEX)  # HiGHS's default again
        status = model_status(self.h)
        cut = capped and status == "time-limit"  # stopped by the cap, not the caller
        if self.cold_s is None:
            self.cold_s = took
        elif primal and (took > self.cold_s or cut):
            self.primal_ok = False  # warm primal slower than a cold solve: stop using it
            if cut:  # dual goes on from its basis
                set_time_limit(self.h, None if time_limit is None
                               else max(time_limit - took, PRIMAL_MIN_S))
                self.h.run()
                status = model_status(self.h)
        self.rounds += 1
        return status

    def sift(self, time_limit: float | None = None, max_free: int | None = None,
             deadline: float | None = None, stop_on_overflow: bool = False,
             wide: bool = True, until_feasible: bool = False,
             stop_gap: float | None = None,
             bound: Callable[[np.ndarray, np.ndarray, Priced], float] | None = None
             ) -> LPSolution:
        """Solve, price all rows, grow the restriction until nothing prices out.

        Args:
            time_limit: seconds per LP solve.
            max_free: most rows the LP may hold; beyond it only the rows with the largest
                violations are freed.
            deadline: ``time.perf_counter()`` value after which the current restriction's
                optimum is returned as it is (``exact = False``: still a feasible plan, and
                its prices still give a valid bound).
            stop_on_overflow: return as soon as an LP overflows (its prices still give a
                valid bound; used to price out infeasible replica counts cheaply).
            wide: add, for each row that prices out, its best option on every system (fewer
                rounds) rather than only its best one.
            until_feasible: return as soon as an LP has no overflow (``exact = False``): a
                restriction that overflowed is grown only until it holds a plan.
            stop_gap: return (``exact = False``) once the LP's objective is within this
                relative distance of ``bound`` at its prices: it is then that close to the
                optimum of the full LP (weak duality), and further rounds mostly add columns
                one simplex iteration each (measured: 10 of 22 rounds per group LP on the
                10^6-query benchmark changed nothing beyond 4e-8).
            bound: a lower bound on the full LP at given prices (its Lagrangian dual).

        Raises:
            SolverError: HiGHS failed or ran out of time, or the LP is infeasible (only share
                bounds can make it so: capacity is elastic).
        """
        last: LPSolution | None = None
        for _ in range(MAX_SIFT_ROUNDS):
            left = None if deadline is None or last is None else \
                max(deadline - time.perf_counter(), 0.05)
            limit = left if time_limit is None else (time_limit if left is None
                                                     else min(time_limit, left))
            status = self.run(limit, primal=last is not None)
            if status == "infeasible":
                raise SolverError("infeasible share bounds")
            if status == "time-limit" and last is not None:
                return last  # the previous restriction's optimum (the first one is awaited)
            if status == "time-limit":
                raise SolverTimeLimit("the planner's first LP did not finish within the time "
                                      "limit; allow a longer time limit")
            if status != "optimal":
                raise SolverError(f"HiGHS ended the planner's LP with status {status!r}")
            sol = self.h.getSolution()
            dual = np.asarray(sol.row_dual)
            n_j = self.opt.n
            mu = np.maximum(-dual[:n_j], 0.0)
            nu = (-dual[self.r_share:self.r_share + self.n_s] if self.share_lo is not None
                  else np.zeros(self.n_s))
            priced = self.pricer.price(mu, nu)
            if stop_on_overflow:
                over = np.asarray(sol.col_value)[self.c_o:self.c_o + n_j]
                if (over > 1e-6 * np.maximum(self.opt.replica_s, 1.0)).any():
                    return self._solution(sol, mu, nu, priced, exact=False)
            free = self.row_pos >= 0
            ref = np.empty(self.rows.n)
            ref[free] = dual[self.row_pos[free]]
            fk = np.flatnonzero(~free)
            ref[fk] = self.pricer.values(fk, self.fixed_opt[fk], mu, nu)
            last = self._solution(sol, mu, nu, priced, exact=False)  # before the LP grows
            if stop_gap is not None and bound is not None:
                d = bound(mu, nu, priced)
                if last.objective - d <= stop_gap * max(abs(last.objective), 1e-300):
                    return last
            if until_feasible and not (last.overflow > 1e-6 * np.maximum(
                    self.opt.replica_s, 1.0)).any():
                return last
            tol = DUAL_RTOL * np.maximum(np.abs(ref), np.abs(priced.value)) + 1e-300
            excess = ref - priced.value
            viol = excess > tol
            new_free = np.flatnonzero(viol & ~free)
            if max_free is not None and new_free.size:
                room = max(max_free - int(free.sum()), 0)
                if new_free.size > room:
                    rel = excess[new_free] / np.maximum(np.abs(ref[new_free]), 1e-300)
                    new_free = new_free[np.argsort(-rel, kind="stable")[:room]]
            vk = np.flatnonzero(viol & free)
            if new_free.size:
                self.free_rows(new_free)
            grow = np.r_[vk, new_free]
            added = self.add_columns(grow, priced.option[grow])
            if grow.size and wide:  # each row's best option on every system, not just one
                best = self.pricer.per_system(mu, nu)[grow]
                added += self.add_columns(np.repeat(grow, best.shape[1]), best.ravel())
            if not added and not new_free.size:
                return self._solution(sol, mu, nu, priced, exact=True)
            if deadline is not None and time.perf_counter() >= deadline:
                return last
        return self._current(exact=False)

    def _current(self, exact: bool) -> LPSolution:
        sol = self.h.getSolution()
        dual = np.asarray(sol.row_dual)
        n_j = self.opt.n
        mu = np.maximum(-dual[:n_j], 0.0)
        nu = (-dual[self.r_share:self.r_share + self.n_s] if self.share_lo is not None
              else np.zeros(self.n_s))
        return self._solution(sol, mu, nu, self.pricer.price(mu, nu), exact=exact)

    def _solution(self, sol, mu: np.ndarray, nu: np.ndarray, priced: Priced,
                  exact: bool = True) -> LPSolution:
        vals = np.asarray(sol.col_value)
        n_j = self.opt.n
        x = vals[self.n_prefix_cols:]
        obj = float(self.h.getInfo().objective_function_value) + self.fixed_cost
        return LPSolution(col_k=self.col_k.copy(), col_j=self.col_j.copy(), x=x.copy(),
                          fixed_opt=self.fixed_opt.copy(), n_on=vals[:n_j].copy(),
                          overflow=vals[self.c_o:self.c_o + n_j].copy(), mu=mu, nu=nu,
                          priced=priced, objective=obj, rounds=self.rounds, exact=exact)
