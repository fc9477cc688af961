"""The fast exact solver over query classes (``solver="highs"``, the default).

1. LP relaxation over counts x[c, s] ≥ 0 (:mod:`.relaxation`) — one equality per class, one
   capacity row per system (and share rows). Its optimum is a proven lower bound; a basic
   optimal solution has at most (#capacity rows + #share rows) fractional classes.
2. Round down, then place the few left-over queries with a tiny exact MIP over the residual
   capacities (:mod:`.rounding`). The result is integral and feasible; its gap to the LP bound
   is certified.
3. Reduced-cost fixing (:mod:`.polish`) re-decides exactly the classes that could still move;
   small instances whose gap is still open get the class-level MIP from that start.
4. Incumbents given by the caller (feasible schedules of other policies) are adopted when
   better, with the gap recomputed against the same bound, so every caller gets the same answer.

The built LP is kept, so re-solving for another λ only changes the costs and warm-starts from
the previous basis.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..errors import InfeasibleError, SolverError
from ..problem import AssignmentProblem, violations
from .class_model import ClassModel, margin_capacity, objective
from .diagnosis import capacities_text, diagnose_infeasibility, quick_infeasibility
from .polish import polish
from .relaxation import ClassRelaxation, Relaxed
from .rounding import fill, round_lp
from .status import GAP_TOL, SolveResult, Status, relative_gap

FULL_MIP_MAX_VARS = 3_000
FULL_MIP_IMPROVE_S = 5.0
FULL_MIP_SEARCH_S = 60.0
POLISH_ROUNDS = 3


class _Deadline:
    """Seconds left of an optional time limit, measured from construction."""

    def __init__(self, time_limit: float | None):
        self.start = time.perf_counter()
        self.limit = time_limit

    def left(self) -> float | None:
        """Seconds left, or None without a limit."""
        if self.limit is None:
            return None
        return self.limit - (time.perf_counter() - self.start)

    def elapsed(self) -> float:
        """Seconds since construction."""
        return time.perf_counter() - self.start


class HighsSolver:
    """Fast exact solver over query classes; build once, solve for many λ.

    Args:
        problem: the class-level problem.
        gap_tol: target certified relative gap; None means the default :data:`GAP_TOL`.
    """

    def __init__(self, problem: AssignmentProblem, gap_tol: float | None = None):
        self.problem = problem
        self.gap_tol = GAP_TOL if gap_tol is None else float(gap_tol)
        self._lp = ClassRelaxation(problem, margin_capacity(problem.capacity_s))

    def solve(self, lam: float, time_limit: float | None = None,
              incumbents: Sequence[tuple[str, np.ndarray]] = ()) -> SolveResult:
        """Solve for one λ.

        Args:
            lam: energy weight in [0, 1].
            time_limit: seconds; on expiry the best schedule found is returned with its gap.
            incumbents: ``(name, counts)`` of schedules found elsewhere (other policies); a
                feasible one better than the solver's own is adopted.

        Returns:
            The result; ``status`` is optimal when the certified gap is within tolerance.

        Raises:
            InfeasibleError: capacity or share bounds cannot be met (reason given).
            SolverError: HiGHS failed, or no schedule was found in the time limit.
        """
        clock = _Deadline(time_limit)
        p = self.problem
        w = p.weights(lam)
        quick = quick_infeasibility(p)
        if quick:
            raise InfeasibleError(quick)
        try:
            relaxed = self._lp.solve(w, time_limit)
        except InfeasibleError:
            raise InfeasibleError(diagnose_infeasibility(p)) from None
        except SolverError:
            if time_limit is None:
                raise
            return adopt_incumbent(_unbounded_fallback(p, w, clock.start), p, w, incumbents)
        lp_s = clock.elapsed()
        lower = relaxed.lower_bound
        tol_abs = 0.1 * self.gap_tol * max(abs(lower), 1e-12)  # MIP steps stop within this
        counts = round_lp(p, w, relaxed.counts, tol_abs, clock.left())
        method = "lp+round"
        if counts is not None:
            counts, lower, method = self._polish(w, counts, relaxed, lower, clock, tol_abs)
        small = p.eligible.sum() <= FULL_MIP_MAX_VARS
        upper = objective(w, counts) if counts is not None else np.inf
        if counts is None or (small and relative_gap(upper, lower) > self.gap_tol):
            counts, lower, method = self._finish_mip(w, counts, lower, method, clock)
        upper = objective(w, counts)
        gap = relative_gap(upper, lower)
        status = Status.OPTIMAL if gap <= self.gap_tol else (
            Status.TIME_LIMIT if time_limit is not None and (clock.left() or 0.0) <= 0
            else Status.GAP)
        result = SolveResult(counts, status, upper, lower, gap, clock.elapsed(), method, lp_s)
        return adopt_incumbent(result, p, w, incumbents, self.gap_tol)

    def _polish(self, w: np.ndarray, counts: np.ndarray, relaxed: Relaxed, lower: float,
                clock: _Deadline, tol_abs: float) -> tuple[np.ndarray, float, str]:
        """Reduced-cost fixing rounds: re-decide the classes that could still move.

        A query can only leave its LP system for one whose reduced cost is below the current
        gap; if few classes have such an option, exactly those are re-decided; otherwise the
        most promising ones, or left-over capacity is filled greedily. A better schedule
        shrinks the gap, and so the next round's set.
        """
        p = self.problem
        upper = objective(w, counts)
        method = "lp+round"
        for _ in range(POLISH_ROUNDS):
            if relative_gap(upper, lower) <= self.gap_tol:
                break
            better, exact = polish(p, w, counts, relaxed.counts, relaxed.reduced,
                                   upper - lower, clock.left(), tol_abs)
            if better is None:
                better = fill(p, w, counts)
            value = objective(w, better)
            improved = value < upper - 1e-15 * abs(upper)
            if value <= upper:
                counts, upper = better, value
                method = "lp+polish" if exact else "lp+round+fill"
            if exact:
                lower = max(lower, upper - self.gap_tol * abs(upper))
            if exact or not improved:
                break
        return counts, lower, method

    def _finish_mip(self, w: np.ndarray, counts: np.ndarray | None, lower: float,
                    method: str, clock: _Deadline) -> tuple[np.ndarray, float, str]:
        """The class-level MIP from the current schedule (small instances, or no schedule)."""
        p = self.problem
        left = clock.left()
        if counts is not None and left is not None and left <= 0:
            return counts, lower, method
        budget = left if left is not None else FULL_MIP_IMPROVE_S
        mip_counts, mip_lower, mip_status = _full_mip(p, w, counts, budget, self.gap_tol)
        if mip_counts is None and counts is None and mip_status == Status.TIME_LIMIT \
                and left is None:  # no schedule yet: search longer
            mip_counts, mip_lower, mip_status = _full_mip(p, w, None, FULL_MIP_SEARCH_S,
                                                          self.gap_tol)
        if mip_counts is not None and (counts is None
                                       or objective(w, mip_counts) <= objective(w, counts)):
            counts, method = mip_counts, "mip"
        lower = max(lower, mip_lower)
        if counts is None and mip_status == Status.INFEASIBLE:
            raise InfeasibleError(
                "infeasible: the capacities fit the queries only fractionally; no "
                "assignment of whole queries meets every capacity and share bound "
                f"(capacities: {capacities_text(p)})")
        if counts is None:
            raise SolverError(f"no integral schedule found (MIP status {mip_status}); "
                              "allow a longer time limit")
        return counts, lower, method


def adopt_incumbent(result: SolveResult, problem: AssignmentProblem, weights: np.ndarray,
                    incumbents: Sequence[tuple[str, np.ndarray]],
                    gap_tol: float = GAP_TOL) -> SolveResult:
    """Adopt the best feasible incumbent that beats ``result``, with the gap recomputed.

    Any feasible schedule is a valid upper bound; the lower bound stays the solver's own.

    Args:
        result: the solver's result.
        problem: the problem.
        weights: objective weights (C, S) at the solve's λ.
        incumbents: ``(name, counts)`` candidates.
        gap_tol: tolerance deciding ``optimal``.

    Returns:
        ``result``, or a copy holding the better incumbent's counts.
    """
    best_name, best_counts, best_value = "", None, result.objective
    for name, counts in incumbents:
        if not is_feasible(problem, counts):
            continue
        value = objective(weights, counts)
        if value < best_value - 1e-12 * abs(best_value):
            best_name, best_counts, best_value = name, counts, value
    if best_counts is None:
        return result
    gap = relative_gap(best_value, result.lower_bound)
    status = Status.OPTIMAL if gap <= gap_tol else result.status
    return SolveResult(np.asarray(best_counts, dtype=np.int64).copy(), status, best_value,
                       result.lower_bound, gap, result.solve_s,
                       f"{result.method}+incumbent:{best_name}", result.lp_s)


def is_feasible(problem: AssignmentProblem, counts: np.ndarray) -> bool:
    """Whether per-class counts meet every constraint (the one feasibility tolerance)."""
    return not violations(problem, counts)


def _unbounded_fallback(p: AssignmentProblem, w: np.ndarray, start: float) -> SolveResult:
    """The time limit expired before the LP bound: return the greedy schedule if feasible.

    No lower bound is known, so the gap is reported as infinite.

    Raises:
        SolverError: the greedy schedule breaks a capacity or share bound.
    """
    counts = np.zeros(p.eligible.shape, dtype=np.int64)
    counts[np.arange(p.classes.n_classes), np.argmin(w, axis=1)] = p.classes.count
    if violations(p, counts):
        raise SolverError("the time limit expired before the LP relaxation was solved and no "
                          "feasible schedule was found; allow a longer time limit")
    return SolveResult(counts, Status.TIME_LIMIT, objective(w, counts), -np.inf, np.inf,
                       time.perf_counter() - start, "greedy (time limit)")


def _full_mip(p: AssignmentProblem, w: np.ndarray, start: np.ndarray | None,
              time_limit: float | None, gap_tol: float
              ) -> tuple[np.ndarray | None, float, Status]:
    """The class-level MIP with HiGHS: ``(counts or None, proven bound, status)``."""
    model = ClassModel(p, p.classes.count, p.capacity_s, p.min_count, p.max_count, integer=True)
    model.set_costs(w)
    if start is not None:
        model.set_start(start)
    status = model.run(time_limit=time_limit if time_limit is not None else 60.0,
                       mip_gap=gap_tol)
    info = model.h.getInfo()
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else -np.inf
    if info.primal_solution_status == 0 or status == Status.INFEASIBLE:
        return None, bound, status
    return np.rint(model.to_counts(model.values())).astype(np.int64), bound, status
