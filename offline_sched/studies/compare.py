"""Policy comparison: every policy's schedule scored the same way, one row per policy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InfeasibleError, InputError, OfflineSchedError
from ..planner.settings import NO_PLANNING, PlanSettings
from ..policies import PAPER_THRESHOLD, run_policy, small_and_gpu
from ..problem import AssignmentProblem
from ..schedule import Schedule

J_PER_KWH = 3.6e6

DEFAULT_POLICIES = ("milp", "threshold-input", "threshold-output", "threshold-product",
                    "all-gpu", "round-robin", "random", "greedy")
REPORT_COLUMNS = ["policy", "lam", "feasible", "objective", "energy_kwh", "energy_j",
                  "static_energy_kwh", "carbon_kg", "cost", "instances_on_max",
                  "runtime_s", "mean_runtime_s", "makespan_s",
                  "energy_saving_vs_all_gpu_pct", "reference_feasible", "solve_s", "gap",
                  "threshold", "queries", "clipped", "extrapolated"]


def default_policies(problem: AssignmentProblem) -> list[str]:
    """Policies that apply to this fleet.

    Thresholds (and their @32 variants) need one non-GPU and one GPU system; all-gpu needs a
    GPU system.
    """
    names = []
    hybrid = small_and_gpu(problem) is not None
    has_gpu = any(s.gpu for s in problem.fleet)
    for name in DEFAULT_POLICIES:
        if name.startswith("threshold-"):
            if hybrid:
                names += [name, f"{name}@{PAPER_THRESHOLD}"]
        elif name == "all-gpu":
            if has_gpu:
                names.append(name)
        else:
            names.append(name)
    return names


def run_policies(problem: AssignmentProblem, lam: float, policies: list[str] | None = None,
                 **options: object) -> list[Schedule]:
    """Run several policies on one problem.

    Args:
        problem: the problem.
        lam: energy weight.
        policies: names (default: every policy that applies, see :func:`default_policies`).
        **options: passed to :func:`~offline_sched.policies.run_policy` (``solver``,
            ``time_limit``, ``seed``, ``gap_tol``, ``highs``).

    Returns:
        One schedule per policy, in order.
    """
    names = list(policies) if policies else default_policies(problem)
    return [run_policy(name, problem, lam, **options) for name in names]  # type: ignore[arg-type]


def report_frame(schedules: list[Schedule]) -> pd.DataFrame:
    """Tabulate schedules: the report columns plus ``queries_<system>`` per system.

    ``energy_kwh`` includes the static (idle and start-up) energy, ``static_energy_kwh``;
    ``carbon_kg`` and ``cost`` are NaN without a carbon or price signal.

    ``energy_saving_vs_all_gpu_pct`` = 100·(E_all-gpu − E)/E_all-gpu when an ``all-gpu`` row
    is present (NaN otherwise); ``reference_feasible`` says whether that all-gpu schedule is
    itself feasible (same value on every row; missing without an all-gpu row): a saving
    against a reference that breaks a capacity is not one that could be had.
    """
    if not schedules:
        raise InputError("no policies to report")
    rows = []
    for s in schedules:
        row = dict(s.summary)
        row["static_energy_kwh"] = float(row.get("static_energy_j", 0.0)  # type: ignore[arg-type]
                                         ) / J_PER_KWH
        row["carbon_kg"] = float(row.get("carbon_g", float("nan"))) / 1000.0  # type: ignore[arg-type]
        for name, q in zip(s.problem.fleet.names, s.counts.sum(axis=0), strict=True):
            row[f"queries_{name}"] = int(q)
        rows.append(row)
    frame = pd.DataFrame(rows)
    ref = frame.loc[frame["policy"] == "all-gpu", "energy_j"]
    if len(ref) and ref.iloc[0] > 0:
        frame["energy_saving_vs_all_gpu_pct"] = 100.0 * (ref.iloc[0] - frame["energy_j"]
                                                         ) / ref.iloc[0]
    else:
        frame["energy_saving_vs_all_gpu_pct"] = np.nan
    ref_ok = frame.loc[frame["policy"] == "all-gpu", "feasible"]
    frame["reference_feasible"] = (pd.Series(bool(ref_ok.iloc[0]), index=frame.index,
                                             dtype="boolean") if len(ref_ok)
                                   else pd.Series(pd.NA, index=frame.index, dtype="boolean"))
    for col in REPORT_COLUMNS:
        if col not in frame.columns:
            frame[col] = np.nan
    first = REPORT_COLUMNS + (["mean_accuracy"] if "mean_accuracy" in frame.columns else [])
    per_sys = [c for c in frame.columns if c.startswith("queries_")]
    rest = [c for c in frame.columns if c not in first and c not in per_sys]
    return frame[first + per_sys + rest]


def compare_problem(problem: AssignmentProblem, lam: float, policies: list[str] | None = None,
                    *, infeasible: str = "raise", settings: PlanSettings = NO_PLANNING,
                    **options: object) -> pd.DataFrame:
    """Compare policies on a built problem (see :func:`offline_sched.compare`).

    A policy that cannot run on this fleet (e.g. an explicitly requested threshold on a fleet
    without a non-GPU system) raises. When the call plans in time (``settings``, see
    :mod:`offline_sched.planner.settings`), every policy is scored as a plan with
    provisioning, and the default policies gain ``always-on``, ``as-soon-as-possible`` and
    ``wait-awhile`` (:mod:`offline_sched.planner.schedules`).

    Args:
        problem: the problem.
        lam: energy weight.
        policies: names (default: :func:`default_policies`).
        infeasible: ``raise``: an infeasible MILP raises :class:`InfeasibleError`;
            ``report``: every other policy is still reported, and the MILP row has
            ``feasible = False``, ``status = infeasible`` and the reason in ``reason``.
        settings: planning settings (default: none; the fleet's may still plan in time).
        **options: passed to the policies (see :func:`run_policies`).

    Raises:
        InfeasibleError: the MILP is infeasible and ``infeasible == "raise"``.
    """
    if infeasible not in ("raise", "report"):
        raise InputError(f"infeasible, value {infeasible!r}: expected 'raise' or 'report'")
    names = list(policies) if policies else default_policies(problem)
    in_time = settings.active(problem)
    if in_time and not policies:
        from ..planner.schedules import default_plan_policies

        names = default_plan_policies(names)
    cache: dict = {}
    schedules: list[Schedule] = []
    failed: dict[str, str] = {}
    for name in names:
        try:
            if in_time:
                from ..planner.schedules import plan_policies

                schedules.extend(plan_policies(problem, lam, [name], settings, cache,
                                               **options))
                continue
            schedules.extend(run_policies(problem, lam, [name], **options))
        except InfeasibleError as exc:
            if infeasible == "raise":
                raise
            failed[name] = str(exc)
    if not schedules:
        frame = pd.DataFrame({"policy": list(failed)})
        for col in REPORT_COLUMNS:
            if col not in frame.columns:
                frame[col] = np.nan
    else:
        frame = report_frame(schedules)
    if failed:
        rows = pd.DataFrame([{"policy": n, "lam": lam, "feasible": False,
                              "status": "infeasible", "reason": why,
                              "queries": problem.n_queries} for n, why in failed.items()])
        frame = pd.concat([frame, rows], ignore_index=True) if schedules else rows.reindex(
            columns=list(dict.fromkeys([*frame.columns, *rows.columns])))
        if "reason" in frame.columns:
            frame["reason"] = frame["reason"].fillna("")
        if schedules:  # one all-gpu reference for every row, the failed ones included
            frame["reference_feasible"] = pd.Series(frame["reference_feasible"].iloc[0],
                                                    index=frame.index, dtype="boolean")
        order = {n: k for k, n in enumerate(names)}
        frame = frame.sort_values("policy", key=lambda col: col.map(order), kind="stable")
        frame = frame.reset_index(drop=True)
    return frame


__all__ = ["DEFAULT_POLICIES", "REPORT_COLUMNS", "OfflineSchedError", "compare_problem",
           "default_policies", "report_frame", "run_policies"]
