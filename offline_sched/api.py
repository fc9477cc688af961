"""The Python API: ``solve``, ``compare``, ``fit``, ``load_workload``, ``load_systems``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeAlias

import pandas as pd

from .fleet import Fleet, System, load_systems
from .problem import AssignmentProblem, build_problem, check_lam, check_range
from .schedule import Schedule
from .studies.compare import compare_problem
from .workload import Workload, load_workload

WorkloadLike: TypeAlias = Workload | pd.DataFrame | str | os.PathLike[str]
SystemsLike: TypeAlias = Fleet | Sequence[System] | str | os.PathLike[str]


def problem_for(workload: WorkloadLike, systems: SystemsLike = "hybrid",
                strict_range: bool = False, *, fmt: str | None = None,
                columns: dict[str, str] | str | None = None) -> AssignmentProblem:
    """Load a workload and a fleet and build their class-level problem.

    Args:
        workload: the job list (see :func:`solve`; ``-`` reads standard input).
        systems: the fleet (see :func:`solve`).
        strict_range: refuse queries outside a cost model's measured token range.
        fmt: workload format (see :func:`~offline_sched.workload.load_workload`).
        columns: workload column mapping (see :func:`~offline_sched.workload.load_workload`).

    Raises:
        InputError: bad input, or out-of-range predictions with ``strict_range``.
    """
    problem = build_problem(load_workload(workload, fmt=fmt, columns=columns),
                            load_systems(systems))
    if strict_range:
        check_range(problem)
    return problem


def solve(workload: WorkloadLike, systems: SystemsLike = "hybrid", lam: float = 0.5, *,
          solver: str = "highs", time_limit: float | None = None,
          gap_tol: float | None = None, strict_range: bool = False) -> Schedule:
    """Assign every query to a system, minimising λ·energy + (1−λ)·runtime under capacity.

    Args:
        workload: a path (CSV, Parquet, JSON Lines), a DataFrame or a :class:`Workload`.
        systems: a bundled fleet name, a TOML path, a :class:`Fleet`, or a list of
            :class:`System` (a plain list uses the default objective: energy-runtime,
            normalised; wrap it in a :class:`Fleet` to choose another).
        lam: λ in [0, 1], the weight of (normalised) energy.
        solver: ``highs`` (fast, exact over query classes) or ``pulp`` (per-query reference,
            CBC), or ``pulp:<PuLP solver name>``.
        time_limit: seconds; on expiry the best schedule found is returned with its gap.
        gap_tol: certified relative gap to reach (default 1e-6).
        strict_range: refuse queries outside a cost model's measured token range.

    Returns:
        The optimal :class:`Schedule` (``summary["gap"]`` is the certified relative gap).

    Raises:
        InputError: bad workload, fleet or λ.
        InfeasibleError: capacities, shares or token limits cannot all be met (reason given).
    """
    from .policies import milp

    lam = check_lam(lam)
    return milp(problem_for(workload, systems, strict_range), lam, solver=solver,
                time_limit=time_limit, gap_tol=gap_tol)


def compare(workload: WorkloadLike, systems: SystemsLike = "hybrid", lam: float = 0.5, *,
            policies: list[str] | None = None, seed: int = 0, solver: str = "highs",
            time_limit: float | None = None, strict_range: bool = False) -> pd.DataFrame:
    """Compare the MILP with the seeds' heuristics and simple baselines.

    Args:
        workload: the job list (see :func:`solve`).
        systems: the fleet (see :func:`solve`).
        lam: λ in [0, 1].
        policies: policy names (default: all that apply to the fleet).
        seed: seed of the ``random`` policy.
        solver: solver of the ``milp`` policy.
        time_limit: time limit of the ``milp`` policy [s].
        strict_range: refuse queries outside a cost model's measured token range.

    Returns:
        One row per policy with ``policy, feasible, objective, energy_kwh, runtime_s,
        mean_runtime_s, makespan_s, energy_saving_vs_all_gpu_pct, solve_s``, ... and
        ``queries_<system>`` per system.
    """
    lam = check_lam(lam)
    return compare_problem(problem_for(workload, systems, strict_range), lam, policies, seed=seed,
                           solver=solver, time_limit=time_limit)
