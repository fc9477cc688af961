"""The λ sweep: every policy at every λ, as a table (plots: :mod:`offline_sched.plots.studies`).

:func:`sweep`
    Every policy at every λ of a list, one row per (λ, policy) with the report columns of
    :func:`offline_sched.studies.compare.report_frame` plus ``token_accuracy``. The MILP's model is
    built **once** (one :class:`~offline_sched.solver.highs_solver.HighsSolver`) and re-solved per λ
    from the previous basis. The MILP rows, ordered by λ, trace its Pareto frontier (energy
    against runtime, or against accuracy for ``energy-accuracy`` fleets): a larger λ never
    raises the MILP's energy and never lowers its runtime (or raises its accuracy).

Single-system policies ``only-<system>`` (everything on one system, the offline paper's
"single model" lines) are understood by :func:`offline_sched.policies.run_policy`, so
``compare`` accepts them too.

The library never prints; figures are drawn by :mod:`offline_sched.plots.studies`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..planner.schedules import default_plan_policies, plan_policies
from ..planner.settings import NO_PLANNING, PlanSettings
from ..policies import ONLY_PREFIX, run_policy
from ..problem import AssignmentProblem, check_lam
from ..schedule import Schedule
from ..solver import HighsSolver
from .compare import default_policies, report_frame


def default_sweep_policies(problem: AssignmentProblem) -> list[str]:
    """The policies of a sweep: :func:`default_policies` plus ``only-<system>`` for each system."""
    return default_policies(problem) + [f"{ONLY_PREFIX}{n}" for n in problem.fleet.names]


# --------------------------------------------------------------------------- λ sweep


MAX_LAMS = 10_001
"""Most λ values a ``start:stop:step`` range may expand to."""


def parse_lams(text: str) -> list[float]:
    """Parse a λ list: ``start:stop:step`` (stop included) or comma-separated values.

    Args:
        text: e.g. ``0:1:0.1`` or ``0,0.25,0.5,1``.

    Returns:
        The λ values, each in [0, 1], in the given order (a range ascending).

    Raises:
        InputError: malformed text, a value outside [0, 1], a non-positive step or
            start > stop, naming the bad value.
    """
    raw = str(text).strip()
    expect = "expected start:stop:step (e.g. 0:1:0.1) or a comma list (e.g. 0,0.5,1) in [0, 1]"
    try:
        if ":" in raw:
            parts = raw.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, step = (float(p) for p in parts)
            if not (np.isfinite([start, stop, step]).all() and step > 0 and start <= stop):
                raise ValueError
            count = np.floor((stop - start) / step + 1e-9) + 1  # float: may be inf
            if not count <= MAX_LAMS:
                raise InputError(f"--lam, value {text!r}: too many values ({count:,.0f}, at "
                                 f"most {MAX_LAMS:,}); use a larger step")
            n = int(count)
            values = np.round(start + step * np.arange(n), 12).tolist()
        else:
            values = [float(p) for p in raw.split(",")]
    except InputError:  # an InputError is a ValueError too: keep its own message
        raise
    except ValueError:
        raise InputError(f"--lam, value {text!r}: {expect}") from None
    if not values or not all(np.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
        raise InputError(f"--lam, value {text!r}: {expect}")
    return [float(v) for v in values]


def token_accuracy(schedule: Schedule) -> float:
    """Token-weighted accuracy Σ A_s·(τin+τout) / Σ (τin+τout) (the offline paper's metric).

    Returns NaN when the systems have no accuracies.
    """
    p = schedule.problem
    if p.accuracy_score is None:
        return float("nan")
    tokens = (p.classes.input_tokens + p.classes.output_tokens).astype(np.float64)
    acc = np.array([s.accuracy for s in p.fleet], dtype=np.float64)
    total = float(tokens @ p.classes.count)
    return float(tokens @ (schedule.counts @ acc)) / total if total else float("nan")


def sweep(problem: AssignmentProblem, lams: Sequence[float], policies: Sequence[str] | None = None,
          *, seed: int = 0, solver: str = "highs", time_limit: float | None = None,
          gap_tol: float | None = None,
          progress: Callable[[int, int, float], None] | None = None,
          settings: PlanSettings = NO_PLANNING) -> pd.DataFrame:
    """Run every policy at every λ: one row per (λ, policy).

    When the call plans in time (``settings``, or the fleet's slots, idle power, signals or
    the workload's windows; see :mod:`offline_sched.planner.settings`), every policy is a
    plan with provisioning at each λ, as in :func:`~offline_sched.studies.compare_problem`.

    The MILP's HiGHS model is built once and re-solved per λ (warm start from the previous
    basis); the other policies are vectorised and cheap.

    Args:
        problem: the problem (build it once with :func:`offline_sched.problem_for`).
        lams: λ values in [0, 1] (see :func:`parse_lams`).
        policies: names (default: :func:`default_sweep_policies`: the report's policies plus
            ``only-<system>`` for each system).
        seed: seed of the ``random`` policy.
        solver: solver of the ``milp`` policy (``highs`` reuses one model across λ).
        time_limit: time limit per MILP solve [s].
        gap_tol: certified relative gap of the MILP (default 1e-6).
        progress: called as ``progress(i, n, lam)`` before the i-th of n λ values.
        settings: planning settings (default: none).

    Returns:
        The report columns (``policy, lam, feasible, objective, energy_kwh, ...``),
        ``queries_<system>``, ``token_accuracy`` (NaN without accuracies) and solver
        details, rows ordered by λ then policy as given.

    Raises:
        InputError: bad λ, unknown policy, or a policy that does not apply to the fleet.
        InfeasibleError: the MILP has no feasible schedule.
    """
    lam_list = [check_lam(v) for v in lams]
    if not lam_list:
        raise InputError("sweep: no λ values given")
    names = list(policies) if policies else default_sweep_policies(problem)
    in_time = settings.active(problem)
    if in_time and not policies:
        names = default_plan_policies(names)
    highs = (HighsSolver(problem, gap_tol) if "milp" in names and solver == "highs"
             and not in_time else None)
    frames = []
    for i, lam in enumerate(lam_list):
        if progress is not None:
            progress(i, len(lam_list), lam)
        if in_time:
            scheds = plan_policies(problem, lam, names, settings, seed=seed, solver=solver,
                                   time_limit=time_limit, gap_tol=gap_tol)
        else:
            scheds = [run_policy(name, problem, lam, seed=seed, solver=solver,
                                 time_limit=time_limit, gap_tol=gap_tol, highs=highs)
                      for name in names]
        frame = report_frame(scheds)
        frame["token_accuracy"] = [token_accuracy(s) for s in scheds]
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out.attrs["objective"] = problem.fleet.objective
    return out


def second_metric(problem_or_frame: AssignmentProblem | pd.DataFrame) -> str:
    """The trade-off partner of energy: ``token_accuracy`` or ``mean_runtime_s``.

    For a problem: accuracy for ``energy-accuracy`` fleets, else runtime. For a sweep frame:
    its ``attrs["objective"]`` when set (as :func:`sweep` does), else accuracy when
    ``token_accuracy`` varies across rows (e.g. a sweep read back from CSV), else runtime.
    """
    if isinstance(problem_or_frame, AssignmentProblem):
        accuracy = problem_or_frame.fleet.objective == "energy-accuracy"
    elif "objective" in problem_or_frame.attrs:
        accuracy = problem_or_frame.attrs["objective"] == "energy-accuracy"
    else:
        col = problem_or_frame.get("token_accuracy")
        accuracy = col is not None and col.dropna().nunique() > 1
    return "token_accuracy" if accuracy else "mean_runtime_s"


def milp_frontier(frame: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """The MILP rows of a sweep, ordered by λ: its energy–runtime (or –accuracy) frontier.

    Args:
        frame: a :func:`sweep` result.
        metric: second metric column (default: :func:`second_metric`).

    Returns:
        Columns ``lam, energy_kwh, <metric>, objective, gap``, one row per λ.

    Raises:
        InputError: the frame has no ``milp`` rows.
    """
    metric = metric or second_metric(frame)
    rows = frame[frame["policy"] == "milp"]
    if rows.empty:
        raise InputError("sweep has no milp rows: include the milp policy")
    cols = ["lam", "energy_kwh", metric, "objective", "gap"]
    return rows[cols].sort_values("lam", kind="stable").reset_index(drop=True)


__all__ = ["default_sweep_policies", "milp_frontier", "parse_lams", "second_metric", "sweep",
           "token_accuracy"]
