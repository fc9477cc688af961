"""The Python API: ``solve``, ``compare``, ``fit``, ``load_workload``, ``load_systems``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeAlias

import pandas as pd

from .fleet import Fleet, System, load_systems
from .planner.settings import NO_PLANNING, PlanSettings
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
          gap_tol: float | None = None, strict_range: bool = False,
          minimise: str | None = None, carbon: object = None, price: object = None,
          slot_s: float | None = None, start: object = None,
          time_format: str | None = None) -> Schedule:
    """Assign every query to a system, minimising λ·energy + (1−λ)·runtime under capacity.

    With planning in time (slots, idle power, carbon or price; see
    :mod:`offline_sched.planner`) it also decides how many replicas of each system are on in
    each slot and the slot of every query; the first term is then the chosen metric of the
    day's energy including idle and start-up energy.

    Args:
        workload: a path (CSV, Parquet, JSON Lines), a DataFrame or a :class:`Workload`
            (optional ``release_s``/``deadline_s`` columns bound each query's slots).
        systems: a bundled fleet name, a TOML path, a :class:`Fleet`, or a list of
            :class:`System` (a plain list uses the default objective: energy-runtime,
            normalised; wrap it in a :class:`Fleet` to choose another).
        lam: λ in [0, 1], the weight of (normalised) energy (or carbon, or cost).
        solver: ``highs`` (fast, exact over query classes) or ``pulp`` (per-query reference,
            CBC), or ``pulp:<PuLP solver name>`` (today's one-slot model only).
        time_limit: seconds; on expiry the best schedule found is returned with its gap.
        gap_tol: certified relative gap to reach (default 1e-6).
        strict_range: refuse queries outside a cost model's measured token range.
        minimise: ``energy`` (J, default), ``carbon`` (gCO2) or ``cost`` (currency).
        carbon: carbon intensity [gCO2/kWh]: a CSV (timestamp, value) or one value per slot.
        price: electricity price [currency/kWh], likewise; negative prices are kept.
        slot_s: slot length [s], dividing the window (default: the fleet's, else one slot).
        start: the window's first timestamp (ISO 8601), aligning signal files.
        time_format: ``strftime`` format of the signal files' timestamps (default ISO).
            The planning arguments override the fleet file's ``slot_s`` and ``[grid]``.

    Returns:
        The optimal :class:`Schedule` (``summary["gap"]`` is the certified relative gap;
        ``by_slot`` the replicas on and figures per slot and system).

    Raises:
        InputError: bad workload, fleet, λ, signal or planning setting.
        InfeasibleError: capacities, shares, token limits or windows cannot all be met
            (reason given: which slots and systems are short, by how much).
    """
    lam = check_lam(lam)
    settings = PlanSettings(minimise=minimise, carbon=carbon, price=price, slot_s=slot_s,
                            start=start, time_format=time_format)
    return solve_problem(problem_for(workload, systems, strict_range), lam, settings=settings,
                         solver=solver, time_limit=time_limit, gap_tol=gap_tol)


def solve_problem(problem: AssignmentProblem, lam: float, *,
                  settings: PlanSettings = NO_PLANNING, solver: str = "highs",
                  time_limit: float | None = None, gap_tol: float | None = None) -> Schedule:
    """:func:`solve` on a built problem: today's MILP, or the plan in time when asked for.

    Raises:
        InputError: bad λ or settings. InfeasibleError: no schedule exists.
    """
    from .policies import milp

    lam = check_lam(lam)
    if settings.active(problem):
        from .planner.schedules import plan_schedule

        return plan_schedule(problem, lam, settings, solver=solver, time_limit=time_limit,
                             gap_tol=gap_tol)
    return milp(problem, lam, solver=solver, time_limit=time_limit, gap_tol=gap_tol)


def compare(workload: WorkloadLike, systems: SystemsLike = "hybrid", lam: float = 0.5, *,
            policies: list[str] | None = None, seed: int = 0, solver: str = "highs",
            time_limit: float | None = None, strict_range: bool = False,
            minimise: str | None = None, carbon: object = None, price: object = None,
            slot_s: float | None = None, start: object = None,
            time_format: str | None = None) -> pd.DataFrame:
    """Compare the MILP with the seeds' heuristics and simple baselines.

    Args:
        workload: the job list (see :func:`solve`).
        systems: the fleet (see :func:`solve`).
        lam: λ in [0, 1].
        policies: policy names (default: all that apply to the fleet; planning in time adds
            ``always-on``, ``as-soon-as-possible`` and ``wait-awhile``).
        seed: seed of the ``random`` policy.
        solver: solver of the ``milp`` policy.
        time_limit: time limit of the ``milp`` policy [s].
        strict_range: refuse queries outside a cost model's measured token range.
        minimise: the plan's metric (see :func:`solve`); likewise ``carbon``, ``price``,
            ``slot_s``, ``start`` and ``time_format``.
        carbon: see :func:`solve`.
        price: see :func:`solve`.
        slot_s: see :func:`solve`.
        start: see :func:`solve`.
        time_format: see :func:`solve`.

    Returns:
        One row per policy with ``policy, feasible, objective, energy_kwh,
        static_energy_kwh, carbon_kg, cost, runtime_s, mean_runtime_s, makespan_s,
        energy_saving_vs_all_gpu_pct, solve_s``, ... and ``queries_<system>`` per system.
    """
    lam = check_lam(lam)
    settings = PlanSettings(minimise=minimise, carbon=carbon, price=price, slot_s=slot_s,
                            start=start, time_format=time_format)
    return compare_problem(problem_for(workload, systems, strict_range), lam, policies, seed=seed,
                           solver=solver, time_limit=time_limit, settings=settings)
