"""The seed's formulation as the reference: one binary per (query, system), PuLP + CBC.

Slow; kept so the fast class-level path can be tested against it.
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
        for s_np in np.flatnonzero(problem.eligible[qc[q]]):
            y[q, int(s_np)] = pulp.LpVariable(f"y_{q}_{int(s_np)}", cat="Binary")
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
    kwargs: dict[str, object] = {"msg": False}
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
    obj = objective(w, counts)
    if getattr(m, "sol_status", pulp.LpSolutionOptimal) == pulp.LpSolutionOptimal:
        return sys_idx, SolveResult(counts, Status.OPTIMAL, obj, obj, 0.0,
                                    time.perf_counter() - start, f"pulp:{solver}")
    # "Optimal" is also PuLP's status when CBC stopped on its time limit with an incumbent:
    # the solution status tells, and no proven bound comes back, so the gap is unknown
    return sys_idx, SolveResult(counts, Status.TIME_LIMIT, obj, -np.inf, np.inf,
                                time.perf_counter() - start, f"pulp:{solver}")
