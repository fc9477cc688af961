"""The fast exact solver over query classes (``solver="highs"``, the default).

1. LP relaxation over counts x[c, s] ≥ 0 (:mod:`.relaxation`) — one equality per class, one
   capacity row per system (and share rows). Its optimum is a proven lower bound; a basic
   optimal solution has at most (#capacity rows + #share rows) fractional classes.
2. Round down, then place the few left-over queries with a tiny exact MIP over the residual
   capacities (:mod:`.rounding`). The result is integral and feasible; its gap to the LP bound
   is certified. Where classes hold many queries this is already optimal (10^6 queries).
3. Where it is not (classes of one or a few queries, 10^3–10^5 queries), the exact finish
   (:mod:`.exact`): reduced-cost fixing against the rounded incumbent shrinks the problem to
   the small core that holds every better schedule, and HiGHS decides that core from the
   incumbent; its proven bound bounds the whole problem. Which step runs is decided by the
   certified gap the rounding leaves, not by the problem's size.
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
from .class_model import margin_capacity, objective
from .diagnosis import capacities_text, diagnose_infeasibility, quick_infeasibility
from .exact import FINISH_BUDGET_S, ClassArrays, LPCertificate, exact_finish
from .relaxation import ClassRelaxation, Relaxed
from .rounding import round_lp
from .status import GAP_TOL, SolveResult, Status, relative_gap


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
        finish_s: seconds the exact finish may spend when :meth:`solve` gets no time limit
            (None: until the gap is proven). With a time limit it may use all that is left.
        node_limit: branch-and-bound nodes the exact finish may spend (a deterministic
            effort limit, for reproducible results on any machine), or None.
    """

    def __init__(self, problem: AssignmentProblem, gap_tol: float | None = None,
                 finish_s: float | None = FINISH_BUDGET_S, node_limit: int | None = None):
        self.problem = problem
        self.gap_tol = GAP_TOL if gap_tol is None else float(gap_tol)
        self.finish_s = finish_s
        self.node_limit = node_limit
        self._lp: ClassRelaxation | None = None  # built on the first solve, then reused

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
            if self._lp is None:  # after the quick checks: an infeasible list costs no LP
                self._lp = ClassRelaxation(p, margin_capacity(p.capacity_s))
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
        upper = objective(w, counts) if counts is not None else np.inf
        if counts is None or relative_gap(upper, lower) > self.gap_tol:
            counts, lower, method = self._finish(w, counts, relaxed, clock)
        upper = objective(w, counts)
        gap = relative_gap(upper, lower)
        status = Status.OPTIMAL if gap <= self.gap_tol else (
            Status.TIME_LIMIT if time_limit is not None and (clock.left() or 0.0) <= 0
            else Status.GAP)
        result = SolveResult(counts, status, upper, lower, gap, clock.elapsed(), method, lp_s)
        return adopt_incumbent(result, p, w, incumbents, self.gap_tol)

    def _finish(self, w: np.ndarray, counts: np.ndarray | None, relaxed: Relaxed,
                clock: _Deadline) -> tuple[np.ndarray, float, str]:
        """The exact finish from the rounded schedule (or none); raises if none is found."""
        p = self.problem
        arrays = ClassArrays(p.eligible, p.runtime_s, w, p.classes.count, p.capacity_s,
                             p.min_count, p.max_count)
        cert = LPCertificate(relaxed.counts, relaxed.reduced, relaxed.lower_bound,
                             relaxed.capacity_price)
        left = clock.left()
        budget = self.finish_s if left is None else max(left, 0.0)
        res = exact_finish(arrays, cert, counts, self.gap_tol, time_limit=budget,
                           node_limit=self.node_limit)
        lower = max(relaxed.lower_bound, res.lower_bound)
        if res.counts is not None:
            return res.counts, lower, f"lp+{res.method}"
        if counts is not None:
            return counts, lower, "lp+round"
        if res.status == Status.INFEASIBLE:
            raise InfeasibleError(
                "infeasible: the capacities fit the queries only fractionally; no "
                "assignment of whole queries meets every capacity and share bound "
                f"(capacities: {capacities_text(p)})")
        raise SolverError("no integral schedule found within the work limit; allow a time "
                          "limit (--time-limit) to search longer")


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
