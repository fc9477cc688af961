"""Whole replicas: a Benders loop over the replica-slots on, N_j, with Lagrangian cuts.

The LP relaxation lets ``N_j = busy/L`` be fractional, so its bound ignores the idle time of
a partly used replica — at most one per (system, slot), but that can matter. For fixed
integral N the rest is the assignment LP, whose value V(N) is bounded below, for **any**
prices (μ ≥ 0, ν), by the Lagrangian

    V(N) ≥ D(μ, ν) − Σ_j L_j·μ_j·N_j .

The master problem, a small MIP over N (and switch-ons) alone,

    min  Σ c_j·N_j + Σ c_up·up + θ    s.t.  θ ≥ D(μ_i, ν_i) − Σ_j L_j·μ_ij·N_j   (cuts i)

is therefore a relaxation of the whole MILP: its proven bound is a lower bound. Each round
solves the master, re-solves the restricted LP with N fixed at the master's choice (warm, with
the same sifting checks), and adds the cut at that LP's prices. It stops when the master's
bound meets the best LP value seen, or after a round or time limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import SolverError, SolverTimeLimit
from .data import PlanData
from .highs import highspy_module, model_status, new_highs, set_time_limit
from .lp import LPSolution, RestrictedLP
from .pricing import Pricer
from .switchons import add_switch_on_rows

MAX_ROUNDS = 40
MASTER_GAP = 1e-9
PROGRESS_RTOL = 1e-9
"""A round makes progress when it lowers the best LP value by more than this share of it, or
raises the bound by more than this share of the bound (:func:`bound_moved`)."""


def bound_moved(bound: float, lower: float) -> bool:
    """Whether the master's new ``bound`` raises the best bound ``lower`` (a round's progress).

    A first finite bound counts; otherwise it must rise by :data:`PROGRESS_RTOL` of itself
    (not of the best point's value, which is inf while every point so far overflowed).
    """
    if not np.isfinite(bound):
        return False
    if not np.isfinite(lower):
        return True
    return bool(bound > lower + PROGRESS_RTOL * max(abs(bound), abs(lower), 1e-12))


@dataclass(frozen=True)
class BendersResult:
    """Outcome of the loop.

    Attributes:
        n_on: the best integral replica-slots found, (J,).
        lower_bound: proven lower bound on the MILP.
        upper_lp: the LP value (relaxing only the query counts) at ``n_on``.
        rounds: master problems solved.
    """

    n_on: np.ndarray
    lower_bound: float
    upper_lp: float
    rounds: int


def cut_constant(data: PlanData, sol: LPSolution, pricer: Pricer | None = None) -> float:
    """D(μ, ν) at a solution's prices over every time class (share constants included).

    Args:
        data: the model data (its rows are the time classes).
        sol: an LP solution; its ``priced`` is used when it prices the time classes.
        pricer: prices the time classes when ``sol`` comes from an LP over groups of them.
    """
    priced = sol.priced if pricer is None else pricer.price(sol.mu, sol.nu)
    d = float(data.rows.count @ priced.value)
    if data.share_lo is not None:
        d -= float(np.maximum(sol.nu, 0.0) @ data.share_hi
                   - np.maximum(-sol.nu, 0.0) @ data.share_lo)
    return d


class Master:
    """The master MIP over N (integer), switch-ons and θ."""

    def __init__(self, data: PlanData):
        hs = highspy_module()
        self.hs, self.data = hs, data
        opt = data.options
        n_j = opt.n
        self.n_j = n_j
        self.h = new_highs()
        inf = hs.kHighsInf
        h = self.h
        h.addVars(n_j, opt.n_lo, opt.n_hi)
        h.changeColsCost(n_j, np.arange(n_j, dtype=np.int32), opt.cost_n)
        h.changeColsIntegrality(n_j, np.arange(n_j, dtype=np.int32),
                                np.array([hs.HighsVarType.kInteger] * n_j))
        self.theta = n_j
        n_up = 0
        if data.cost_up is not None:
            n_up = n_j
            up_hi = opt.n_hi / opt.group_size[opt.group]
            h.addVars(n_up, np.zeros(n_up), up_hi)
            h.changeColsCost(n_up, np.arange(n_j, 2 * n_j, dtype=np.int32),
                             data.cost_up.ravel())
            add_switch_on_rows(h, 0, n_j, opt.n_groups, opt.n_hi, data.cost_up)
            self.theta = 2 * n_j
        h.addVar(-inf, inf)
        h.changeColCost(self.theta, 1.0)
        h.setOptionValue("mip_rel_gap", MASTER_GAP)
        h.setOptionValue("mip_abs_gap", 1e-12)
        self.cuts = 0

    def add_cut(self, constant: float, mu: np.ndarray) -> None:
        """θ + Σ L_j·μ_j·N_j ≥ D."""
        coef = self.data.options.replica_s * mu
        nz = np.flatnonzero(coef)
        idx = np.r_[nz, self.theta].astype(np.int32)
        self.h.addRow(constant, self.hs.kHighsInf, idx.size, idx, np.r_[coef[nz], 1.0])
        self.cuts += 1

    def solve(self, time_limit: float | None) -> tuple[np.ndarray, float, float]:
        """Return (N, objective, proven bound)."""
        set_time_limit(self.h, time_limit, floor=0.05, mip=True)
        self.h.run()
        info = self.h.getInfo()
        vals = np.asarray(self.h.getSolution().col_value)
        n_on = np.rint(vals[:self.n_j]).astype(np.int64)
        bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else -np.inf
        obj = float(info.objective_function_value)
        if model_status(self.h) == "optimal":
            bound = max(bound, obj - MASTER_GAP * abs(obj) - 1e-12)
        return n_on, obj, bound


def lp_value_fixed(data: PlanData, sol: LPSolution, penalty: float) -> float:
    """The LP's value without its overflow penalty (+inf if it overflows)."""
    if (sol.overflow > 1e-6 * np.maximum(data.options.replica_s, 1.0)).any():
        return np.inf
    return sol.objective - penalty * float(sol.overflow.sum())


def benders(data: PlanData, lp: RestrictedLP, first: LPSolution, gap_tol: float,
            deadline: float | None = None, pricer: Pricer | None = None,
            max_free: int | None = None, known_bound: float = -np.inf,
            stall_rounds: int | None = None, stall_s: float | None = None) -> BendersResult:
    """Run the loop from the LP relaxation's solution ``first`` (see the module docstring).

    Args:
        data: the model data.
        lp: the restricted LP the inner problems are solved in (over time classes, or over
            groups of them with ``pricer`` set).
        first: its LP-relaxation solution.
        gap_tol: stop when the bound is within a tenth of this of the best LP value.
        deadline: ``time.perf_counter()`` value to stop at.
        pricer: prices every time class, for cuts from an LP over groups.
        max_free: row cap of the inner sifting.
        known_bound: a proven lower bound found elsewhere (the LP's): the loop also stops
            when the best point's LP value is within the tolerance of it.
        stall_rounds: stop after this many rounds in a row that moved neither the best LP
            value nor the bound; and a repeated point priced from a stopped (overflowing) LP
            is then re-solved for at most as long as the loop has run so far, else the loop
            ends (None: no such stops).
        stall_s: stop once the rounds in a row that moved neither have taken this many
            seconds (counted from the last round that moved one, or the start); a repeated
            point is then capped as with ``stall_rounds`` (see
            :data:`~offline_sched.planner.solve.LARGE_BENDERS_STALL_SHARE`).

    The restricted LP ``lp`` is left with N fixed at the best integral choice found.
    """
    master = Master(data)
    master.add_cut(cut_constant(data, first, pricer), first.mu)
    seen: dict[bytes, bool] = {}  # evaluated points: whether exactly
    best_n, best_val = None, np.inf
    lower = -np.inf
    rounds = 0
    opt = data.options
    # first point: the LP's replicas rounded up (feasible: capacity only grows)
    n_on = np.minimum(np.ceil(first.n_on - 1e-9), opt.n_hi).astype(np.int64)
    stalled = 0
    began = since = time.perf_counter()
    for rounds in range(1, MAX_ROUNDS + 1):  # noqa: B007 - rounds is reported
        key = n_on.tobytes()
        if seen.get(key, False):
            break  # the master repeats a point: its cut is tight there, the bound is exact
        lp.fix_on(n_on.astype(np.float64))
        # a point seen before was priced from a stopped LP: now solve it to the end; each
        # HiGHS run gets the time left (an inner LP of a large model took 13 s past the
        # loop's deadline when only the rounds were checked)
        limit = None if deadline is None else max(deadline - time.perf_counter(), 0.05)
        until = deadline
        repeat_capped = key in seen and (stall_rounds is not None or stall_s is not None)
        if repeat_capped:  # at most as long as the loop so far
            spent = max(time.perf_counter() - began, 0.05)
            limit = spent if limit is None else min(limit, spent)
            until = time.perf_counter() + limit
        try:
            sol = lp.sift(limit, stop_on_overflow=key not in seen, deadline=until,
                          max_free=max_free)
        except SolverTimeLimit:  # out of time in its first solve: the best point so far stands
            break
        except SolverError:
            if deadline is None or time.perf_counter() < deadline:
                raise  # a failure, not the time limit
            break
        val = lp_value_fixed(data, sol, lp.penalty)
        seen[key] = sol.exact
        moved = val < best_val - PROGRESS_RTOL * abs(min(val, best_val))
        if val < best_val:
            best_n, best_val = n_on, val
        master.add_cut(cut_constant(data, sol, pricer), sol.mu)
        if repeat_capped and not sol.exact:  # not done within its cap: the loop ends here
            break
        left = None if deadline is None else deadline - time.perf_counter()
        if left is not None and left <= 0:
            break
        if best_val - max(lower, known_bound) <= gap_tol * 0.1 * max(abs(best_val), 1e-12):
            break
        n_on, _, bound = master.solve(left)
        moved = moved or bound_moved(bound, lower)
        lower = max(lower, bound)
        if best_val - lower <= gap_tol * 0.1 * max(abs(best_val), 1e-12):
            break
        stalled = 0 if moved else stalled + 1
        if moved:
            since = time.perf_counter()
        if stall_rounds is not None and stalled >= stall_rounds:
            break
        if stall_s is not None and stalled and time.perf_counter() - since >= stall_s:
            break
    if best_n is None:  # no integral point evaluated: round the LP's up
        best_n = np.minimum(np.ceil(first.n_on - 1e-9), opt.n_hi).astype(np.int64)
    lp.fix_on(best_n.astype(np.float64))
    return BendersResult(n_on=best_n, lower_bound=lower, upper_lp=best_val, rounds=rounds)
