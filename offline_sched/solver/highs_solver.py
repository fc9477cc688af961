"""Exact solvers of the assignment MILP.

``highs`` (default, fast path)
    Class-level model in matrix form passed to HiGHS (highspy) in one call:

    1. LP relaxation over counts x[c, s] ≥ 0 — one equality per class, one capacity row per
       system (and share rows). Its optimum is a proven lower bound. A basic optimal solution
       has at most (#capacity rows + #share rows) fractional classes.
    2. Round down, then place the few left-over queries with a tiny exact MIP over the
       residual capacities. The result is integral and feasible; its gap to the LP bound is
       certified.
    3. If that gap exceeds the tolerance (small instances, where one query matters), solve the
       class-level MIP with HiGHS from that start, within the time limit, and report HiGHS's
       proven bound.

    The built LP is kept, so re-solving for another λ only changes the costs and warm-starts
    from the previous basis.

``pulp``
    The seed's formulation: one binary per (query, system), built with PuLP and solved by CBC
    (or any PuLP solver by name). Slow; kept as the reference the fast path is tested against.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import InfeasibleError, InputError, SolverError
from .highs_model import build_highs, highspy_module
from ..problem import AssignmentProblem
from .relaxation import ClassRelaxation

GAP_TOL = 1e-6
FULL_MIP_MAX_VARS = 3_000
FULL_MIP_IMPROVE_S = 5.0
FULL_MIP_SEARCH_S = 60.0
POLISH_MAX_CLASSES = 300
POLISH_TIME_S = 5.0
POLISH_PARTIAL_CLASSES = 60
POLISH_RADIUS = 4
POLISH_ROUNDS = 3
CAP_MARGIN_REL = 1e-10
CAP_MARGIN_ABS = 1e-7


@dataclass(frozen=True)
class SolveResult:
    """Outcome of one solve.

    Attributes:
        counts: queries of class c sent to system s, (C, S) int64.
        status: ``optimal`` (gap within tolerance) or ``time-limit`` (best found so far).
        objective: objective value U of ``counts``.
        lower_bound: proven lower bound on the optimal U.
        gap: certified relative gap (U − bound) / |U|.
        solve_s: wall time of the solve [s].
        method: what produced the solution (``lp+round``, ``mip``, ``pulp:<solver>``).
    """

    counts: np.ndarray
    status: str
    objective: float
    lower_bound: float
    gap: float
    solve_s: float
    method: str


def relative_gap(upper: float, lower: float) -> float:
    """(upper − lower) / max(|upper|, 1e-12), floored at 0."""
    return max(0.0, (upper - lower) / max(abs(upper), 1e-12))


class _Model:
    """A class-level LP/MIP over the eligible (class, system) pairs in one HiGHS instance."""

    def __init__(self, problem: AssignmentProblem, class_count: np.ndarray,
                 capacity: np.ndarray, min_count: np.ndarray, max_count: np.ndarray,
                 rows: np.ndarray | None = None, integer: bool = False):
        self.rows = np.arange(problem.classes.n_classes) if rows is None else rows
        shares = bool((min_count > 0).any() or (max_count < class_count.sum()).any())
        # a hair below capacity, so float error in the solver can never overfill a system
        cap = capacity.astype(np.float64)
        built = build_highs(problem.eligible[self.rows], problem.runtime_s[self.rows],
                            class_count, cap - (CAP_MARGIN_REL * cap + CAP_MARGIN_ABS),
                            min_count if shares else None, max_count if shares else None,
                            integer=integer)
        self.hs, self.h, self.cls, self.sys, self.shape = (built.hs, built.h, built.cls,
                                                           built.sys, built.shape)

    def set_costs(self, weights: np.ndarray) -> None:
        w = weights[self.rows][self.cls, self.sys]
        self.h.changeColsCost(w.size, np.arange(w.size, dtype=np.int32), w)

    def run(self, time_limit: float | None = None, mip_gap: float | None = None,
            abs_gap: float = 1e-12) -> str:
        if time_limit is not None:
            self.h.setOptionValue("time_limit", max(float(time_limit), 0.01))
        if mip_gap is not None:
            self.h.setOptionValue("mip_rel_gap", mip_gap)
            self.h.setOptionValue("mip_abs_gap", abs_gap)
        self.h.run()
        ms = self.h.getModelStatus()
        st = self.hs.HighsModelStatus
        if ms == st.kOptimal:
            return "optimal"
        if ms in (st.kInfeasible,):
            return "infeasible"
        if ms in (st.kTimeLimit, st.kIterationLimit, st.kInterrupt):
            return "time-limit"
        return self.h.modelStatusToString(ms)

    def values(self) -> np.ndarray:
        return np.asarray(self.h.getSolution().col_value, dtype=np.float64)

    def to_counts(self, values: np.ndarray) -> np.ndarray:
        counts = np.zeros(self.shape)
        counts[self.cls, self.sys] = values
        return counts

    def set_start(self, counts: np.ndarray) -> None:
        sol = self.hs.HighsSolution()
        sol.col_value = counts[self.cls, self.sys].astype(np.float64)
        sol.value_valid = True
        self.h.setSolution(sol)


def _objective(weights: np.ndarray, counts: np.ndarray) -> float:
    used = counts > 0
    return float(np.sum(weights[used] * counts[used]))


class HighsSolver:
    """Fast exact solver over query classes; build once, solve for many λ.

    Args:
        problem: the class-level problem.
        gap_tol: target certified relative gap.
    """

    def __init__(self, problem: AssignmentProblem, gap_tol: float = GAP_TOL):
        self.problem = problem
        self.gap_tol = gap_tol
        cap = problem.capacity_s.astype(np.float64)
        self._lp = ClassRelaxation(problem, cap - (CAP_MARGIN_REL * cap + CAP_MARGIN_ABS))

    def solve(self, lam: float, time_limit: float | None = None) -> SolveResult:
        """Solve for one λ.

        Args:
            lam: energy weight in [0, 1].
            time_limit: seconds; on expiry the best schedule found is returned with its gap.

        Returns:
            The result.

        Raises:
            InfeasibleError: capacity or share bounds cannot be met (reason given).
            SolverError: HiGHS failed.
        """
        start = time.perf_counter()
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
            return _unbounded_fallback(p, w, start)
        lower, lp_counts, reduced = relaxed.lower_bound, relaxed.counts, relaxed.reduced
        tol_abs = 0.1 * self.gap_tol * max(abs(lower), 1e-12)  # MIP steps stop within this
        counts = _round(p, w, lp_counts, tol_abs)
        method = "lp+round"
        upper = _objective(w, counts) if counts is not None else np.inf

        def left() -> float | None:
            return None if time_limit is None else time_limit - (time.perf_counter() - start)

        for _ in range(POLISH_ROUNDS):
            if counts is None or relative_gap(upper, lower) <= self.gap_tol:
                break
            # Reduced-cost fixing: a query can only leave its LP system for one whose reduced
            # cost is below the current gap; if few classes have such an option, re-decide
            # exactly those; otherwise the most promising ones, or fill left-over capacity
            # greedily. A better schedule shrinks the gap, and so the next round's set.
            better, exact = _polish(p, w, counts, lp_counts, reduced, upper - lower, left(),
                                    tol_abs)
            if better is None:
                better = _fill(p, w, counts)
            value = _objective(w, better)
            improved = value < upper - 1e-15 * abs(upper)
            if value <= upper:
                counts, upper = better, value
                method = "lp+polish" if exact else "lp+round+fill"
            if exact:
                lower = max(lower, upper - self.gap_tol * abs(upper))
            if exact or not improved:
                break
        small = p.eligible.sum() <= FULL_MIP_MAX_VARS
        if counts is None or (relative_gap(upper, lower) > self.gap_tol and small):
            if counts is None or (left() is None or left() > 0):
                budget = left() if left() is not None else FULL_MIP_IMPROVE_S
                mip_counts, mip_lower, mip_status = _full_mip(p, w, counts, budget,
                                                              self.gap_tol)
                if mip_counts is None and counts is None and mip_status == "time-limit" \
                        and time_limit is None:  # no schedule yet: search longer
                    mip_counts, mip_lower, mip_status = _full_mip(
                        p, w, None, FULL_MIP_SEARCH_S, self.gap_tol)
                if mip_counts is not None and (counts is None
                                               or _objective(w, mip_counts) <= upper):
                    counts, method = mip_counts, "mip"
                    upper = _objective(w, counts)
                lower = max(lower, mip_lower)
                if counts is None and mip_status == "infeasible":
                    raise InfeasibleError(
                        "infeasible: the capacities fit the queries only fractionally; no "
                        "assignment of whole queries meets every capacity and share bound "
                        f"(capacities: {_capacities(p)})")
                if counts is None:
                    raise SolverError(f"no integral schedule found (MIP status {mip_status}); "
                                      "try a longer --time-limit")
        gap = relative_gap(upper, lower)
        status = "optimal" if gap <= self.gap_tol else "gap"
        return SolveResult(counts, status, upper, lower, gap, time.perf_counter() - start,
                           method)


def _polish(p: AssignmentProblem, w: np.ndarray, counts: np.ndarray, lp_counts: np.ndarray,
            reduced: np.ndarray, abs_gap: float, time_limit: float | None,
            abs_tol: float = 1e-12) -> tuple[np.ndarray | None, bool]:
    """Re-solve exactly the classes that reduced-cost fixing cannot pin down.

    Any schedule better than ``counts`` puts a query of class c on system s only if
    ``reduced[c, s] < abs_gap`` (s not used by the LP for c). Classes with such an option,
    and the fractional ones, are re-decided by a MIP over the capacity they leave; the rest
    are fixed. If all such classes fit under ``POLISH_MAX_CLASSES`` the result is optimal;
    otherwise the ``POLISH_PARTIAL_CLASSES`` classes with the cheapest options are re-decided.

    Returns:
        ``(counts or None, proven_optimal)``.
    """
    unused = p.eligible & (lp_counts < 0.5)
    candidate = np.where(unused & (reduced < abs_gap), reduced, np.inf).min(axis=1)
    frac = (np.abs(lp_counts - np.rint(lp_counts)) > 1e-7).any(axis=1)
    candidate[frac] = -np.inf
    free = np.flatnonzero(np.isfinite(candidate) | frac)
    if free.size == 0:
        return None, False
    complete = free.size <= POLISH_MAX_CLASSES
    rt = np.where(p.eligible, p.runtime_s, 0.0)
    if not complete:  # re-decide the most promising classes only: better, but not proven
        # half by cheapest option, half among options that fit the capacity left over
        half = POLISH_PARTIAL_CLASSES // 2
        left = p.capacity_s - np.einsum("cs,cs->s", counts, rt)
        fitting = np.where(unused & (rt <= left[None, :]) & (reduced < abs_gap), reduced,
                           np.inf).min(axis=1)
        fitting[frac] = -np.inf
        pick = np.union1d(np.argsort(candidate, kind="stable")[:half],
                          np.argsort(fitting, kind="stable")[:half])
        free = pick[np.isfinite(candidate[pick]) | frac[pick]]
    fixed = counts.copy()
    fixed[free] = 0
    cap_left = np.maximum(p.capacity_s - np.einsum("cs,cs->s", fixed, rt), 0.0)
    placed = fixed.sum(axis=0)
    sub = _Model(p, p.classes.count[free], cap_left, np.maximum(p.min_count - placed, 0),
                 p.max_count - placed, rows=free, integer=True)
    sub.set_costs(w)
    sub.set_start(counts[free])
    if not complete:  # local moves only: a few queries per (class, system), an easy MIP
        now = counts[free][sub.cls, sub.sys].astype(np.float64)
        sub.h.changeColsBounds(now.size, np.arange(now.size, dtype=np.int32),
                               np.maximum(now - POLISH_RADIUS, 0.0),
                               np.minimum(now + POLISH_RADIUS,
                                          p.classes.count[free][sub.cls].astype(np.float64)))
    status = sub.run(time_limit=min(time_limit, POLISH_TIME_S) if time_limit else POLISH_TIME_S,
                     mip_gap=1e-9, abs_gap=1e-12 if complete else abs_tol)
    if sub.h.getInfo().primal_solution_status == 0 or (not complete and status != "optimal"):
        return None, False  # a partial re-decision counts only if finished: reproducible
    fixed[free] = np.rint(sub.to_counts(sub.values())).astype(np.int64)
    return fixed, complete and status == "optimal"


def _fill(p: AssignmentProblem, w: np.ndarray, counts: np.ndarray,
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
            c, dst = np.unravel_index(np.argmax(gain), gain.shape)
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


def _unbounded_fallback(p: AssignmentProblem, w: np.ndarray, start: float) -> SolveResult:
    """The time limit expired before the LP bound: return the greedy schedule if feasible.

    No lower bound is known, so the gap is reported as infinite.

    Raises:
        SolverError: the greedy schedule breaks a capacity or share bound.
    """
    counts = np.zeros(p.eligible.shape, dtype=np.int64)
    counts[np.arange(p.classes.n_classes), np.argmin(w, axis=1)] = p.classes.count
    busy = np.einsum("cs,cs->s", counts, np.where(p.eligible, p.runtime_s, 0.0))
    per_sys = counts.sum(axis=0)
    if (busy > p.capacity_s).any() or (per_sys < p.min_count).any() \
            or (per_sys > p.max_count).any():
        raise SolverError("the time limit expired before the LP relaxation was solved and no "
                          "feasible schedule was found; try a longer --time-limit")
    return SolveResult(counts, "time-limit", _objective(w, counts), -np.inf, np.inf,
                       time.perf_counter() - start, "greedy (time limit)")


def _round(p: AssignmentProblem, w: np.ndarray, lp_counts: np.ndarray,
           abs_tol: float = 1e-12) -> np.ndarray | None:
    """Round an LP solution: floor, then an exact MIP for the left-over queries.

    If the left-over queries fit nowhere (every system they may use is full to the brim),
    they are placed greedily, moving the queries that make room most cheaply
    (:func:`_make_room`).
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
    sub = _Model(p, residual[rows], np.maximum(cap_left, 0.0),
                 np.maximum(p.min_count - placed, 0), p.max_count - placed, rows=rows,
                 integer=True)
    sub.set_costs(w)
    status = sub.run(time_limit=10.0, mip_gap=0.0, abs_gap=abs_tol)
    if status == "optimal":
        base[rows] += np.rint(sub.to_counts(sub.values())).astype(np.int64)
        return base
    if status != "infeasible":
        return None
    return _make_room(p, w, base, rows, residual[rows])


def _make_room(p: AssignmentProblem, w: np.ndarray, counts: np.ndarray, rows: np.ndarray,
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
                for s in np.flatnonzero(p.eligible[c] & (per_sys < p.max_count)):
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
                    d, t = np.unravel_index(np.argmin(extra), extra.shape)
                    if extra[d, t] + w[c, s] < best[0]:
                        best = (extra[d, t] + w[c, s], s, int(d), int(t), int(m[d]))
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


def _full_mip(p: AssignmentProblem, w: np.ndarray, start: np.ndarray | None,
              time_limit: float | None, gap_tol: float):
    model = _Model(p, p.classes.count, p.capacity_s, p.min_count, p.max_count, integer=True)
    model.set_costs(w)
    if start is not None:
        model.set_start(start)
    status = model.run(time_limit=time_limit if time_limit is not None else 60.0,
                       mip_gap=gap_tol)
    info = model.h.getInfo()
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else -np.inf
    if info.primal_solution_status == 0 or status == "infeasible":
        return None, bound, status
    return np.rint(model.to_counts(model.values())).astype(np.int64), bound, status


def _capacities(p: AssignmentProblem) -> str:
    return ", ".join(f"{s.name}={c:.6g} s" for s, c in zip(p.fleet, p.capacity_s, strict=True))


def quick_infeasibility(p: AssignmentProblem) -> str | None:
    """Cheap necessary conditions of feasibility, checked before any solve.

    (1) Load that only one system can take must fit its capacity; (2) all queries, each on
    its fastest eligible system, must fit the fleet's total capacity.

    Returns:
        The reason the problem is infeasible, or None if these checks pass.
    """
    cnt = p.classes.count.astype(np.float64)
    only = p.eligible.sum(axis=1) == 1
    forced = np.einsum("c,cs->s", cnt * only, np.where(p.eligible, p.runtime_s, 0.0))
    reasons = [f"capacity of {p.fleet[s].name!r} is short by {forced[s] - p.capacity_s[s]:.6g} s "
               f"for the queries only it can take (has {p.capacity_s[s]:.6g} s)"
               for s in np.flatnonzero(forced > p.capacity_s * (1 + 1e-9))]
    if reasons:
        return "infeasible: " + "; ".join(reasons)
    fastest = np.where(p.eligible, p.runtime_s, np.inf).min(axis=1) @ cnt
    total = float(p.capacity_s.sum())
    if fastest > total * (1 + 1e-9):
        return (f"infeasible: the queries need at least {fastest:.6g} device-s even each on its "
                f"fastest eligible system, but the fleet has {total:.6g} s; short by "
                f"{fastest - total:.6g} s ({_capacities(p)})")
    return None


def diagnose_infeasibility(p: AssignmentProblem, time_limit: float = 10.0) -> str:
    """Explain why no schedule exists: which capacities or share bounds are short, by how much.

    Runs :func:`quick_infeasibility`, then an elastic LP (capacity rows may overflow at a cost)
    that gives the least overflow per system.
    """
    quick = quick_infeasibility(p)
    if quick:
        return quick
    reasons: list[str] = []
    hs = highspy_module()
    n_c, n_s = p.eligible.shape
    model = _Model(p, p.classes.count, p.capacity_s, np.zeros(n_s, dtype=np.int64),
                   np.full(n_s, p.n_queries), integer=False)
    h = model.h
    scale = max(float(p.capacity_s.max()), 1.0)
    for s in range(n_s):  # one slack per capacity row: Σ r x − slack ≤ cap
        h.addCol(1.0 / scale, 0.0, hs.kHighsInf, 1, np.array([n_c + s], dtype=np.int32),
                 np.array([-1.0]))
    if model.run(time_limit=time_limit) == "optimal":
        slack = np.asarray(h.getSolution().col_value)[len(model.cls):]
        for s in np.flatnonzero(slack > 1e-6 * scale):
            sys = p.fleet[s]
            reasons.append(f"capacity of {sys.name!r} is short by {slack[s]:.6g} s "
                           f"(has {p.capacity_s[s]:.6g} s = {sys.instances} x "
                           f"{sys.window_s:g} s)")
    if not reasons and p.has_shares:
        reasons.append(f"share bounds cannot be met together with the capacities: min shares "
                       f"ask for {p.min_count.sum()} of {p.n_queries} queries, max shares allow "
                       f"{p.max_count.sum()}")
    if not reasons:
        reasons.append(f"capacity and share limits cannot all be met ({_capacities(p)})")
    return "infeasible: " + "; ".join(reasons)


def solve_pulp(problem: AssignmentProblem, lam: float, solver: str = "PULP_CBC_CMD",
               time_limit: float | None = None) -> tuple[np.ndarray, SolveResult]:
    """Solve the per-query MILP (one binary per eligible (query, system)) with PuLP.

    Args:
        problem: the problem.
        lam: energy weight.
        solver: a PuLP solver name (see ``pulp.listSolvers(onlyAvailable=True)``).
        time_limit: seconds, or None.

    Returns:
        ``(system index per query, SolveResult)``.

    Raises:
        SolverError: PuLP or the solver is missing, or the solve failed.
        InfeasibleError: no feasible schedule.
    """
    try:
        import pulp
    except ImportError:  # pragma: no cover - core dependency
        raise SolverError("PuLP is missing: pip install pulp") from None
    if solver not in pulp.listSolvers(onlyAvailable=True):
        raise InputError(f"PuLP solver {solver!r} is not available; installed: "
                         f"{', '.join(pulp.listSolvers(onlyAvailable=True))}")
    with warnings.catch_warnings():  # PuLP 3.x deprecates the 2.x API we keep for portability
        warnings.simplefilter("ignore", DeprecationWarning)
        return _solve_pulp(pulp, problem, lam, solver, time_limit)


def _solve_pulp(pulp, problem: AssignmentProblem, lam: float, solver: str,
                time_limit: float | None) -> tuple[np.ndarray, SolveResult]:
    start = time.perf_counter()
    w = problem.weights(lam)
    qc = problem.classes.query_class
    n, n_s = problem.n_queries, problem.n_systems
    m = pulp.LpProblem("assignment", pulp.LpMinimize)
    y = {}
    for q in range(n):
        for s in np.flatnonzero(problem.eligible[qc[q]]):
            y[q, int(s)] = pulp.LpVariable(f"y_{q}_{s}", cat="Binary")
    m += pulp.lpSum(float(w[qc[q], s]) * v for (q, s), v in y.items())
    by_q: dict[int, list] = {}
    by_s: dict[int, list] = {s: [] for s in range(n_s)}
    for (q, s), v in y.items():
        by_q.setdefault(q, []).append(v)
        by_s[s].append((q, v))
    for q in range(n):
        m += pulp.lpSum(by_q[q]) == 1
    for s in range(n_s):
        m += pulp.lpSum(float(problem.runtime_s[qc[q], s]) * v
                        for q, v in by_s[s]) <= float(problem.capacity_s[s])
        if problem.has_shares:
            m += pulp.lpSum(v for _, v in by_s[s]) >= int(problem.min_count[s])
            m += pulp.lpSum(v for _, v in by_s[s]) <= int(problem.max_count[s])
    kwargs = {"msg": False}
    if time_limit is not None:
        kwargs["timeLimit"] = time_limit
    m.solve(pulp.getSolver(solver, **kwargs))
    status = pulp.LpStatus[m.status]
    if status == "Infeasible":
        raise InfeasibleError(diagnose_infeasibility(problem))
    if status != "Optimal":
        raise SolverError(f"PuLP/{solver} ended with status {status!r}")
    sys_idx = np.full(n, -1, dtype=np.int64)
    for (q, s), v in y.items():
        if v.value() is not None and v.value() > 0.5:
            sys_idx[q] = s
    if (sys_idx < 0).any():
        raise SolverError(f"PuLP/{solver} returned an incomplete assignment")
    counts = np.zeros((problem.classes.n_classes, n_s), dtype=np.int64)
    np.add.at(counts, (qc, sys_idx), 1)
    obj = _objective(w, counts)
    return sys_idx, SolveResult(counts, "optimal", obj, obj, 0.0, time.perf_counter() - start,
                                f"pulp:{solver}")
