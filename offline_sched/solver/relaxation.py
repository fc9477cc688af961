"""The LP relaxation of the class-level assignment problem, solved fast and exactly.

The relaxation over counts x[c, s] ≥ 0 of class c on system s,

    min Σ w[c,s]·x[c,s]   s.t.   Σ_s x[c,s] = n_c               (every query placed)
                                 Σ_c r[c,s]·x[c,s] ≤ cap_s       (capacity)
                                 lo_s ≤ Σ_c x[c,s] ≤ hi_s         (share bounds, optional)

has one row per class but only S (or 2S) *coupling* rows. Its optimum is fixed by the coupling
rows' dual prices y = (μ, ν): at those prices every class goes to the system of least priced
cost a[c,s] = w[c,s] + μ_s·r[c,s] + ν_s, and only classes that tie are split. Handing HiGHS
all C rows makes it pivot about once per class (minutes for 10^6 queries), so
:class:`ClassRelaxation` finds the prices first and lets HiGHS decide only the classes they
leave open:

1. **Coarse LP.** Classes are binned geometrically by (τin, τout) and eligibility; an LP over
   the bins (a few thousand rows; built once and re-costed per λ, so HiGHS warm-starts from
   the previous basis) gives prices close to the optimum.
2. **Dual refinement.** Kelley's cutting-plane method maximises the Lagrangian dual
   g(y) = Σ_c n_c·min_s a[c,s] − μ·cap − ν⁺·hi + ν⁻·lo in a small box around those prices.
   Most classes have the same best system everywhere in the box: their part of g is linear and
   summed once, so each evaluation touches only the few classes near a tie.
3. **Sifting.** Classes whose best system is clear at the refined prices are fixed to it and
   an exact LP (HiGHS) re-decides the rest in the capacity they leave. Its duals are checked
   against every fixed class (reduced cost ≥ 0); violators are freed and the LP re-solved
   until there are none. The result is an optimal *basic* solution of the full LP — fixed
   classes integral, at most one fractional class per coupling row — with its duals.

The lower bound reported is g at the final prices with the original capacities: by weak
duality it bounds the MILP optimum from below whatever the solvers' tolerances.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InfeasibleError, SolverError
from ..problem import AssignmentProblem
from .highs_model import build_highs, highspy_module, model_status, new_highs, set_time_limit
from .status import Status

COARSE_RATIO = 1.1
"""Bin width of the coarse LP: token counts within a factor 1.1 share a bin."""
SIFT_MIN_FREE = 1_000
"""Classes the first exact LP re-decides at least (all of them in smaller problems)."""
SIFT_SCORE = 2e-5
"""Classes whose best system wins by less than this fraction of their priced capacity cost
are re-decided by the exact LP."""
BOX = 2e-3
"""Half-width of the dual refinement box, relative to the coarse prices."""
KELLEY_STAGES = (1e-8, 1e-10, 1e-12)
"""Relative accuracy on g of each refinement stage; the box shrinks between stages."""
KELLEY_SHRINK = 8.0
KELLEY_MAX_ITER = 40
DUAL_RTOL = 1e-9
"""A fixed class violates the duals if its reduced cost exceeds this times its priced cost."""


@dataclass(frozen=True)
class Relaxed:
    """An optimal basic solution of the LP relaxation.

    Attributes:
        counts: x[c, s], (C, S) float; integral except for at most one class per coupling row.
        reduced: reduced cost of each (class, system), (C, S); +inf where ineligible.
        lower_bound: the Lagrangian dual value g(y) at the final prices (a proven bound).
        capacity_price: the capacity prices μ ≥ 0 of those prices, (S,).
        count_price: the share-row prices ν, (S,) (zero without share rows).
    """

    counts: np.ndarray
    reduced: np.ndarray
    lower_bound: float
    capacity_price: np.ndarray | None = None
    count_price: np.ndarray | None = None


class _LP:
    """One HiGHS LP over (groups of) classes: class rows, capacity rows, share rows."""

    def __init__(self, eligible: np.ndarray, runtime: np.ndarray, count: np.ndarray,
                 capacity: np.ndarray, lo: np.ndarray | None, hi: np.ndarray | None):
        built = build_highs(eligible, runtime, count, capacity, lo, hi)
        self.hs, self.h, self.cls, self.sys = built.hs, built.h, built.cls, built.sys
        self.n_c, self.n_s = built.shape
        self.shares = lo is not None

    def run(self, cost: np.ndarray, time_limit: float | None) -> Status:
        """Solve with per-(row, system) costs ``cost`` (n_c, S); return the status."""
        w = cost[self.cls, self.sys]
        self.h.changeColsCost(w.size, np.arange(w.size, dtype=np.int32), w)
        set_time_limit(self.h, time_limit)
        self.h.run()
        return model_status(self.h)

    def solution(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (x as (n_c, S), μ ≥ 0 per capacity row, ν per system)."""
        sol = self.h.getSolution()
        x = np.zeros((self.n_c, self.n_s))
        x[self.cls, self.sys] = sol.col_value
        dual = np.asarray(sol.row_dual)
        mu = np.maximum(-dual[self.n_c:self.n_c + self.n_s], 0.0)
        nu = -dual[self.n_c + self.n_s:] if self.shares else np.zeros(self.n_s)
        return x, mu, nu


def coarse_groups(p: AssignmentProblem) -> tuple[np.ndarray, int]:
    """Group classes by eligibility and geometric (τin, τout) bins of width COARSE_RATIO.

    Returns:
        ``(group of each class, number of groups)``.
    """
    c = p.classes
    bins_in = np.floor(np.log(c.input_tokens) / np.log(COARSE_RATIO)).astype(np.int64)
    bins_out = np.floor(np.log(c.output_tokens) / np.log(COARSE_RATIO)).astype(np.int64)
    pattern = p.eligible.astype(np.int64) @ (1 << np.arange(p.n_systems, dtype=np.int64))
    groups, uniques = pd.factorize((bins_in << 40) | (bins_out << 20) | pattern)
    return groups, len(uniques)


def group_min(groups: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Per group and column, the least value of its classes, (n_groups, S)."""
    out = np.full((n_groups, values.shape[1]), np.inf)
    for s in range(values.shape[1]):  # loop over systems only
        np.minimum.at(out[:, s], groups, values[:, s])
    return out


class ClassRelaxation:
    """The LP relaxation of one problem, re-solved for many cost matrices (one per λ).

    Args:
        problem: the class-level problem.
        capacity: capacity per system the LP may use [s] (a hair below the real one).
    """

    def __init__(self, problem: AssignmentProblem, capacity: np.ndarray):
        p = problem
        self.p = p
        self.count = p.classes.count.astype(np.float64)
        self.runtime = np.where(p.eligible, p.runtime_s, 0.0)
        self.capacity = np.asarray(capacity, dtype=np.float64)
        self.lo = p.min_count.astype(np.float64)
        self.hi = p.max_count.astype(np.float64)
        self.shares = p.has_shares
        n_c = p.classes.n_classes
        self._coarse: _LP | None = None
        if n_c > SIFT_MIN_FREE:
            self._groups, n_g = coarse_groups(p)
            self._group_count = np.bincount(self._groups, weights=self.count, minlength=n_g)
            self._group_eligible = np.zeros((n_g, p.n_systems), dtype=bool)
            self._group_eligible[self._groups] = p.eligible
            self._coarse = _LP(self._group_eligible, self._group_mean(self.runtime),
                               self._group_count, self.capacity, *self._share_bounds(0.0))

    def _coarse_relaxation_infeasible(self, time_limit: float | None) -> bool:
        """Whether the coarse LP with each group's *least* runtimes is infeasible.

        That LP relaxes the fine one (every fine schedule maps onto it with no more load), so
        its infeasibility proves the problem infeasible in one small LP, instead of sifting
        towards a full LP that has no solution.
        """
        fastest = group_min(self._groups, self._group_count.size,
                            np.where(self.p.eligible, self.runtime, np.inf))
        lp = _LP(self._group_eligible, np.where(self._group_eligible, fastest, 0.0),
                 self._group_count, self.p.capacity_s, *self._share_bounds(0.0))
        return lp.run(np.zeros(fastest.shape), time_limit) == Status.INFEASIBLE

    def _group_mean(self, values: np.ndarray) -> np.ndarray:
        n_g = self._group_count.size
        out = np.empty((n_g, values.shape[1]))
        for s in range(values.shape[1]):  # loop over systems only
            out[:, s] = np.bincount(self._groups, weights=values[:, s] * self.count,
                                    minlength=n_g)
        return out / self._group_count[:, None]

    def _share_bounds(self, fixed_count: np.ndarray | float
                      ) -> tuple[np.ndarray | None, np.ndarray | None]:
        if not self.shares:
            return None, None
        return self.lo - fixed_count, self.hi - fixed_count

    def solve(self, weights: np.ndarray, time_limit: float | None = None) -> Relaxed:
        """Solve the relaxation for per-query costs ``weights`` (C, S; +inf where ineligible).

        Raises:
            InfeasibleError: the LP has no solution (capacities or shares too tight).
            SolverError: HiGHS failed or ran out of time.
        """
        start = time.perf_counter()

        def left() -> float | None:
            return None if time_limit is None else time_limit - (time.perf_counter() - start)

        w = np.where(self.p.eligible, weights, 0.0)
        mu, nu = np.zeros(self.p.n_systems), np.zeros(self.p.n_systems)
        if self._coarse is not None:
            status = self._coarse.run(self._group_mean(w), left())
            if status == Status.OPTIMAL:
                _, mu, nu = self._coarse.solution()
                mu, nu = self._refine(weights, mu, nu)
            elif status == Status.INFEASIBLE:
                if self._coarse_relaxation_infeasible(left()):
                    raise InfeasibleError("the LP relaxation is infeasible")
            else:
                raise SolverError(f"HiGHS coarse LP ended with status {status.value!r}")
        return self._sift(weights, mu, nu, left)

    # -- dual refinement -------------------------------------------------------------------

    def _refine(self, weights: np.ndarray, mu: np.ndarray, nu: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """Kelley's cutting planes for max g(μ, ν) in a box around the coarse prices."""
        n_s = self.p.n_systems
        y0 = np.concatenate([mu, np.maximum(nu, 0.0), np.maximum(-nu, 0.0)])
        active = np.concatenate([mu > 0, (nu > 0) & self.shares, (nu < 0) & self.shares])
        if not active.any():
            return mu, nu
        y = y0
        for _ in range(3):  # widen the box if the optimum lies on its edge
            scale = np.max(y[active])
            half = BOX * (np.abs(y) + 0.05 * scale) * active
            lo, hi = np.maximum(y - half, 0.0), y + half
            y, edge = self._kelley(weights, y, lo, hi)
            if not edge:
                break
        return y[:n_s], y[n_s:2 * n_s] - y[2 * n_s:]

    def _kelley(self, weights: np.ndarray, y0: np.ndarray, lo: np.ndarray, hi: np.ndarray
                ) -> tuple[np.ndarray, bool]:
        """Maximise g in the box [lo, hi] by cutting planes, shrinking the box as g converges.

        Returns:
            (best prices found, whether they lie on an edge of the box).
        """
        hs = highspy_module()
        n_y = y0.size
        h = new_highs()
        inf = hs.kHighsInf
        h.addVars(n_y + 1, np.r_[lo, -inf], np.r_[hi, inf])
        h.changeColsCost(n_y + 1, np.arange(n_y + 1, dtype=np.int32),
                         np.r_[np.zeros(n_y), -1.0])
        idx = np.arange(n_y + 1, dtype=np.int32)
        dual = _DualFunction(self, weights, y0)
        y, best_y, best_g = y0.copy(), y0.copy(), -np.inf
        box_lo, box_hi = lo.copy(), hi.copy()
        for stage, rtol in enumerate(KELLEY_STAGES):
            if stage:  # cuts stay valid in a smaller box, where fewer classes can change
                half = (box_hi - box_lo) / (2 * KELLEY_SHRINK)
                box_lo, box_hi = np.maximum(best_y - half, lo), np.minimum(best_y + half, hi)
                h.changeColsBounds(n_y, idx[:n_y], box_lo, box_hi)
                y = best_y.copy()
            dual.restrict(box_lo, box_hi)
            for _ in range(KELLEY_MAX_ITER):
                g, grad = dual.value(y)
                if g > best_g:
                    best_g, best_y = g, y.copy()
                h.addRow(-inf, g - grad @ y, n_y + 1, idx, np.r_[-grad, 1.0])  # t ≤ g + ∇·(y'−y)
                h.run()
                if h.getModelStatus() != hs.HighsModelStatus.kOptimal:
                    break
                sol = np.asarray(h.getSolution().col_value)
                y = np.clip(sol[:n_y], box_lo, box_hi)
                if sol[n_y] - best_g <= rtol * max(abs(best_g), 1.0):
                    break
        span = hi - lo
        edge = bool((((best_y - lo) < 1e-6 * span) & (lo > 0)).any()
                    or ((hi - best_y) < 1e-6 * span)[span > 0].any())
        return best_y, edge

    # -- sifting ---------------------------------------------------------------------------

    def _price(self, weights: np.ndarray, mu: np.ndarray, nu: np.ndarray) -> np.ndarray:
        a = self.runtime * mu
        a += weights
        a += nu
        return a

    def _sift(self, weights: np.ndarray, mu: np.ndarray, nu: np.ndarray, left) -> Relaxed:
        n_c, n_s = weights.shape
        rows = np.arange(n_c)
        a = self._price(weights, mu, nu)
        best = np.argmin(a, axis=1)
        u = a[rows, best]
        a[rows, best] = np.inf
        margin = a.min(axis=1) - u
        del a
        sens = self.runtime @ mu + np.abs(nu).sum() + 1e-12 * np.abs(u) + 1e-300
        score = margin / sens
        k = min(n_c, SIFT_MIN_FREE)
        free = score <= SIFT_SCORE
        if free.sum() < k:
            free = score <= np.partition(score, k - 1)[k - 1]
        order = None
        for _ in range(1, 60):
            fixed = ~free
            fb, fn = best[fixed], self.count[fixed]
            load = np.bincount(fb, weights=fn * self.runtime[fixed, fb], minlength=n_s)
            cnt = np.bincount(fb, weights=fn, minlength=n_s)
            idx = np.flatnonzero(free)
            lp = _LP(self.p.eligible[idx], self.runtime[idx], self.count[idx],
                     self.capacity - load, *self._share_bounds(cnt))
            status = lp.run(weights[idx], left())
            if status == Status.TIME_LIMIT:
                raise SolverError("the LP relaxation did not finish within the time limit")
            if status == Status.INFEASIBLE:
                if free.all():
                    raise InfeasibleError("the LP relaxation is infeasible")
                if order is None:
                    order = np.argsort(score, kind="stable")
                free[order[:min(n_c, 4 * idx.size)]] = True
                continue
            if status != Status.OPTIMAL:
                raise SolverError(f"HiGHS LP relaxation ended with status {status.value!r}")
            x, mu2, nu2 = lp.solution()
            a = self._price(weights, mu2, nu2)
            u2 = a.min(axis=1)
            viol = fixed & (a[rows, best] - u2 > DUAL_RTOL * np.maximum(np.abs(u2), 1e-12))
            if not viol.any():
                counts = np.zeros((n_c, n_s))
                counts[rows[fixed], fb] = fn
                counts[idx] = x
                reduced = np.where(self.p.eligible, a - u2[:, None], np.inf)
                nu_plus, nu_minus = np.maximum(nu2, 0.0), np.maximum(-nu2, 0.0)
                lower = float(self.count @ u2 - mu2 @ self.p.capacity_s
                              - (nu_plus @ self.hi - nu_minus @ self.lo if self.shares else 0.0))
                return Relaxed(counts, reduced, lower, mu2, nu2)
            if viol.sum() <= max(idx.size, SIFT_MIN_FREE):
                free |= viol
            else:  # the fixed classes were too far off: widen by the original score
                if order is None:
                    order = np.argsort(score, kind="stable")
                free[order[:min(n_c, 4 * idx.size)]] = True
        raise SolverError("the LP relaxation did not converge")  # pragma: no cover


def _argmin_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: index and value of the smallest entry (faster than ``min(axis=1)``)."""
    best = np.argmin(a, axis=1)
    return best, a[np.arange(a.shape[0]), best]


class _DualFunction:
    """The Lagrangian dual g(y) = Σ_c n_c·min_s a[c,s](y) − μ·cap − ν⁺·hi + ν⁻·lo in a box.

    y = (μ, ν⁺, ν⁻) ≥ 0. Classes whose best system is the same everywhere in the box add a
    linear term to g; it is summed once, so an evaluation only prices the other classes.
    """

    def __init__(self, relax: ClassRelaxation, weights: np.ndarray, y0: np.ndarray):
        self.r, self.n_s = relax, relax.p.n_systems
        self.weights = weights
        self.best0 = np.argmin(self._price(weights, relax.runtime, y0), axis=1)
        self.rows = np.arange(weights.shape[0])
        self.base = 0.0
        self.load = np.zeros(self.n_s)
        self.cnt = np.zeros(self.n_s)

    def _price(self, w: np.ndarray, rt: np.ndarray, y: np.ndarray) -> np.ndarray:
        n_s = self.n_s
        a = rt * y[:n_s]
        a += w
        a += y[n_s:2 * n_s] - y[2 * n_s:]
        return a

    def restrict(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Sum up the classes that are stable in the box [lo, hi] ⊆ the previous box."""
        n_s, r = self.n_s, self.rows
        w, rt, best = self.weights[r], self.r.runtime[r], self.best0[r]
        nu_lo = lo[n_s:2 * n_s] - hi[2 * n_s:]
        nu_hi = hi[n_s:2 * n_s] - lo[2 * n_s:]
        local = np.arange(r.size)
        worst_best = w[local, best] + rt[local, best] * hi[best] + nu_hi[best]
        a_lo = rt * lo[:n_s]
        a_lo += w
        a_lo += nu_lo
        a_lo[local, best] = np.inf
        stable = worst_best < _argmin_rows(a_lo)[1]
        del a_lo
        sb, sn = best[stable], self.r.count[r[stable]]
        self.base += float(sn @ w[stable, sb])
        self.load += np.bincount(sb, weights=sn * rt[stable, sb], minlength=n_s)
        self.cnt += np.bincount(sb, weights=sn, minlength=n_s)
        self.rows = r[~stable]
        self.uw, self.ur = w[~stable], rt[~stable]
        self.un = self.r.count[self.rows]

    def value(self, y: np.ndarray) -> tuple[float, np.ndarray]:
        """g(y) and a supergradient (∂/∂μ: load − cap, ∂/∂ν⁺: N − hi, ∂/∂ν⁻: lo − N)."""
        n_s, rel = self.n_s, self.r
        mu, nu = y[:n_s], y[n_s:2 * n_s] - y[2 * n_s:]
        b, a_min = _argmin_rows(self._price(self.uw, self.ur, y))
        load = self.load + np.bincount(b, weights=self.un * self.ur[np.arange(b.size), b],
                                       minlength=n_s)
        cnt = self.cnt + np.bincount(b, weights=self.un, minlength=n_s)
        g = (self.base + mu @ self.load + nu @ self.cnt + self.un @ a_min
             - mu @ rel.p.capacity_s - y[n_s:2 * n_s] @ rel.hi + y[2 * n_s:] @ rel.lo)
        grad = np.concatenate([load - rel.p.capacity_s, cnt - rel.hi, rel.lo - cnt])
        return float(g), grad
