"""The seed's formulation as the reference: one binary per (query, system), PuLP + CBC.

Slow; kept so the fast class-level path can be tested against it.

Statuses are mapped from PuLP's *solution* status, not its problem status: when CBC stops on
its time limit with a schedule, PuLP still reports the problem as "Optimal", but the solution
status says only "integer feasible". Such a result is ``time-limit`` with no proven bound
(PuLP does not pass CBC's best bound on), so its gap is infinite. The time limit covers the
whole call: building the model in Python and starting CBC are subtracted from what CBC gets.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from ..errors import InfeasibleError, InputError, SolverError
from ..problem import AssignmentProblem
from .class_model import objective
from .diagnosis import diagnose_infeasibility
from .status import SolveResult, Status

CBC_OVERHEAD_S = 0.5
"""Seconds kept back from CBC's own time limit for writing the model and reading the result."""


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


def _solve_pulp(pulp: Any, problem: AssignmentProblem, lam: float, solver: str,
                time_limit: float | None) -> tuple[np.ndarray, SolveResult]:
    start = time.perf_counter()
    w = problem.weights(lam)
    qc = problem.classes.query_class
    n, n_s = problem.n_queries, problem.n_systems
    m = pulp.LpProblem("assignment", pulp.LpMinimize)
    y = {}
    for q in range(n):
        for col in np.flatnonzero(problem.eligible[qc[q]]):
            y[q, int(col)] = pulp.LpVariable(f"y_{q}_{col}", cat="Binary")
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
    kwargs: dict[str, Any] = {"msg": False}
    if time_limit is not None:
        left = time_limit - (time.perf_counter() - start) - CBC_OVERHEAD_S
        kwargs["timeLimit"] = max(left, 0.1)
    m.solve(pulp.getSolver(solver, **kwargs))
    status = pulp.LpStatus[m.status]
    solution = getattr(m, "sol_status", None)
    if status == "Infeasible" or solution == pulp.LpSolutionInfeasible:
        raise InfeasibleError(diagnose_infeasibility(problem))
    proven = solution == pulp.LpSolutionOptimal if solution is not None else status == "Optimal"
    found = proven or solution == pulp.LpSolutionIntegerFeasible
    if not found:
        raise SolverError(f"PuLP/{solver} ended with status {status!r} and no schedule"
                          + (" within the time limit" if time_limit is not None else ""))
    sys_idx = np.full(n, -1, dtype=np.int64)
    for (q, s), v in y.items():
        if v.value() is not None and v.value() > 0.5:
            sys_idx[q] = s
    if (sys_idx < 0).any():
        raise SolverError(f"PuLP/{solver} returned an incomplete assignment")
    counts = np.zeros((problem.classes.n_classes, n_s), dtype=np.int64)
    np.add.at(counts, (qc, sys_idx), 1)
    obj = objective(w, counts)
    if proven:
        return sys_idx, SolveResult(counts, Status.OPTIMAL, obj, obj, 0.0,
                                    time.perf_counter() - start, f"pulp:{solver}")
    return sys_idx, SolveResult(counts, Status.TIME_LIMIT, obj, -np.inf, np.inf,
                                time.perf_counter() - start, f"pulp:{solver}")
