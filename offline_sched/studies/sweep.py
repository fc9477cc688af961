"""Studies: λ sweeps and the e-Energy threshold study, as tables (plots: :mod:`study_plots`).

:func:`sweep`
    Every policy at every λ of a list, one row per (λ, policy) with the report columns of
    :func:`offline_sched.studies.compare.report_frame` plus ``token_accuracy``. The MILP's model is
    built **once** (one :class:`~offline_sched.solver.highs_solver.HighsSolver`) and re-solved per λ
    from the previous basis. The MILP rows, ordered by λ, trace its Pareto frontier (energy
    against runtime, or against accuracy for ``energy-accuracy`` fleets): a larger λ never
    raises the MILP's energy and never lowers its runtime (or raises its accuracy).

:func:`threshold_study`
    The e-Energy paper's study: total energy and mean runtime of the single-threshold hybrid
    policy as the input, output or product threshold τ moves, evaluated for every candidate τ
    at once by cumulative sums over the query classes sorted by the feature (no policy run
    per τ), plus the all-small and all-GPU reference lines and the MILP's result.

Single-system policies ``only-<system>`` (everything on one system, the offline paper's
"single model" lines) are provided here: :func:`run_study_policy` understands them, and
:func:`register_single_system_policies` adds them to :data:`offline_sched.policies.POLICIES`
so that ``compare`` accepts them too.

The library never prints; figures are drawn by :mod:`offline_sched.plots.studies`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..policies import (
    POLICIES,
    cheapest_among,
    milp,
    run_policy,
    small_and_gpu,
    threshold_feature,
)
from ..problem import AssignmentProblem, check_lam
from .compare import default_policies, report_frame
from ..schedule import J_PER_KWH, Schedule
from ..solver.highs_solver import HighsSolver

FEATURES = ("input", "output", "product")
ONLY_PREFIX = "only-"
THRESHOLD_COLUMNS = ["kind", "policy", "feature", "threshold", "best", "feasible", "objective",
                     "energy_j", "energy_kwh", "runtime_s", "mean_runtime_s", "makespan_s",
                     "energy_saving_vs_all_gpu_pct", "runtime_change_vs_all_gpu_pct"]


# --------------------------------------------------------------------------- policies


def _system_index(problem: AssignmentProblem, system: str | int) -> int:
    names = problem.fleet.names
    if isinstance(system, int | np.integer):
        if not 0 <= int(system) < len(names):
            raise InputError(f"system index {system!r} out of range 0..{len(names) - 1}")
        return int(system)
    if system not in names:
        raise InputError(f"policy {ONLY_PREFIX}{system}: no system {system!r} in fleet "
                         f"{problem.fleet.name} (has: {', '.join(names)})")
    return names.index(system)


def only_system(problem: AssignmentProblem, lam: float, system: str | int, **_: object
                ) -> Schedule:
    """Every query on one system (the offline paper's single-model baselines).

    Queries the system cannot take (token limits) go to their cheapest eligible system by U,
    as in every other baseline; their number is recorded as ``fallback`` in the summary.
    Capacity and share bounds are not enforced: a schedule that breaks them is reported
    ``feasible = False``.

    Args:
        problem: the problem.
        lam: energy weight (used only to pick the fallback system).
        system: system name or index.

    Returns:
        The schedule, named ``only-<system>``.

    Raises:
        InputError: unknown system.
    """
    t0 = time.perf_counter()
    idx = _system_index(problem, system)
    w = problem.weights(lam)
    choice = cheapest_among(problem, w, np.arange(problem.n_systems) == idx)
    counts = np.zeros(problem.eligible.shape, dtype=np.int64)
    counts[np.arange(choice.size), choice] = problem.classes.count
    fallback = int(problem.classes.count[~problem.eligible[:, idx]].sum())
    return Schedule(problem, f"{ONLY_PREFIX}{problem.fleet[idx].name}", lam, counts=counts,
                    info={"solve_s": time.perf_counter() - t0, "fallback": fallback})


def run_study_policy(name: str, problem: AssignmentProblem, lam: float, **options: object
                     ) -> Schedule:
    """Run a policy by name: ``only-<system>`` here, anything else by :func:`run_policy`.

    Raises:
        InputError: unknown policy or system name.
    """
    if name.startswith(ONLY_PREFIX) and name not in POLICIES:
        return only_system(problem, lam, name[len(ONLY_PREFIX):])
    return run_policy(name, problem, lam, **options)


def register_single_system_policies(system_names: Iterable[str]) -> list[str]:
    """Add ``only-<system>`` policies to :data:`offline_sched.policies.POLICIES`.

    After this, ``compare`` (and ``offline-sched compare --policy only-<system>``) accepts
    them. Idempotent; existing names are left alone.

    Args:
        system_names: the systems (e.g. ``fleet.names``).

    Returns:
        The policy names now registered for these systems.
    """
    names = []
    for sys_name in system_names:
        key = f"{ONLY_PREFIX}{sys_name}"
        if key not in POLICIES:
            def policy(problem, lam, _system=sys_name, **_kw):
                return only_system(problem, lam, _system)
            POLICIES[key] = policy
        names.append(key)
    return names


def default_sweep_policies(problem: AssignmentProblem) -> list[str]:
    """The policies of a sweep: :func:`default_policies` plus ``only-<system>`` for each system."""
    return default_policies(problem) + [f"{ONLY_PREFIX}{n}" for n in problem.fleet.names]


# --------------------------------------------------------------------------- λ sweep


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
            if not (step > 0 and start <= stop):
                raise ValueError
            n = int(np.floor((stop - start) / step + 1e-9)) + 1
            if n > 10_001:
                raise InputError(f"--lam, value {text!r}: {n} values; use a larger step")
            values = np.round(start + step * np.arange(n), 12).tolist()
        else:
            values = [float(p) for p in raw.split(",")]
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
          gap_tol: float | None = None) -> pd.DataFrame:
    """Run every policy at every λ: one row per (λ, policy).

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
    options: dict[str, object] = {"seed": seed, "solver": solver, "time_limit": time_limit}
    if gap_tol is not None:
        options["gap_tol"] = gap_tol
    if "milp" in names and solver == "highs":
        options["highs"] = HighsSolver(problem, **({"gap_tol": gap_tol} if gap_tol else {}))
    frames = []
    for lam in lam_list:
        scheds = [run_study_policy(name, problem, lam, **options) for name in names]
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


# --------------------------------------------------------------------------- thresholds


def _threshold_rows(problem: AssignmentProblem, lam: float, features: Sequence[str],
                    values: Sequence[float] | None) -> list[pd.DataFrame]:
    """Threshold-policy metrics for every candidate τ of every feature (vectorised)."""
    pair = small_and_gpu(problem)
    if pair is None:
        raise InputError(f"{problem.fleet.name}: the threshold study needs one GPU and one "
                         "non-GPU system")
    small, big = pair
    n_c, n_s = problem.eligible.shape
    rows = np.arange(n_c)
    w = problem.weights(lam)
    big_choice = cheapest_among(problem, w, np.arange(n_s) == big)
    can_small = problem.eligible[:, small]
    cnt = problem.classes.count.astype(np.float64)
    metrics = {"busy": problem.runtime_s, "energy": problem.energy_j,
               "count": np.ones_like(problem.runtime_s)}
    base, delta = {}, {}
    for key, m in metrics.items():  # per system: GPU-side load, and each class's move
        b = np.zeros(n_s)
        np.add.at(b, big_choice, m[rows, big_choice] * cnt)
        base[key] = b
        d = np.zeros((n_c, n_s))
        d[rows, small] += np.where(can_small, m[:, small] * cnt, 0.0)
        d[rows, big_choice] -= np.where(can_small, m[rows, big_choice] * cnt, 0.0)
        delta[key] = d
    # objective exactly as policies._sweep computes it (same sums in the same order)
    base_w = w[rows, big_choice] * cnt
    delta_w = np.where(can_small, (w[:, small] - w[rows, big_choice]) * cnt, 0.0)
    inst = np.array([s.instances for s in problem.fleet], dtype=np.float64)
    names = problem.fleet.names
    out = []
    for feature in features:
        if feature not in FEATURES:
            raise InputError(f"feature, value {feature!r}: expected one of {', '.join(FEATURES)}")
        f = threshold_feature(problem, feature)
        order = np.argsort(f, kind="stable")
        fs = f[order]
        if values is None:
            cand = np.r_[0, np.unique(fs)].astype(np.float64)
        else:
            cand = np.unique(np.asarray(values, dtype=np.float64))
        k = np.searchsorted(fs, cand, side="right")  # classes with f ≤ τ
        obj = base_w.sum() + np.r_[0.0, np.cumsum(delta_w[order])][k]
        tab = {}
        for key, d in delta.items():
            cum = np.vstack([np.zeros((1, n_s)), np.cumsum(d[order], axis=0)])
            tab[key] = base[key][None, :] + cum[k]
        out.append(_summarise(problem, tab, obj, inst, names, kind="threshold",
                              policy=[f"threshold-{feature}"] * cand.size,
                              feature=feature, threshold=cand))
    # reference lines: τ = −∞ (all GPU side) and τ = +∞ (all small where eligible)
    tab = {key: np.vstack([base[key], base[key] + delta[key].sum(axis=0)]) for key in base}
    obj = base_w.sum() + np.array([0.0, delta_w.sum()])
    out.append(_summarise(problem, tab, obj, inst, names, kind="reference",
                          policy=[f"all-{names[big]}", f"all-{names[small]}"], feature="",
                          threshold=np.full(2, np.nan)))
    return out


def _summarise(problem: AssignmentProblem, tab: dict, obj: np.ndarray, inst: np.ndarray,
               names: list[str], **cols: object) -> pd.DataFrame:
    busy, energy, count = tab["busy"], tab["energy"], np.rint(tab["count"]).astype(np.int64)
    cap_ok = (busy <= problem.capacity_s * (1 + 1e-9) + 1e-6).all(axis=1)
    share_ok = ((count >= problem.min_count) & (count <= problem.max_count)).all(axis=1)
    n = problem.n_queries
    energy_j = energy.sum(axis=1)
    runtime = busy.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        makespan = np.where(inst > 0, busy / np.maximum(inst, 1), 0.0).max(axis=1)
    frame = pd.DataFrame({**cols, "feasible": cap_ok & share_ok, "objective": obj,
                          "energy_j": energy_j, "energy_kwh": energy_j / J_PER_KWH,
                          "runtime_s": runtime, "mean_runtime_s": runtime / n if n else 0.0,
                          "makespan_s": makespan})
    for s, name in enumerate(names):
        frame[f"queries_{name}"] = count[:, s]
    return frame


def _mark_best(frame: pd.DataFrame) -> pd.Series:
    """Per feature, the τ the ``threshold-*`` policy picks (least U, feasible τ first)."""
    best = pd.Series(False, index=frame.index)
    for _, grp in frame[frame["kind"] == "threshold"].groupby("feature", sort=False):
        pool = grp[grp["feasible"]] if grp["feasible"].any() else grp
        best[pool.index[int(np.argmin(pool["objective"].to_numpy()))]] = True
    return best


def threshold_study(problem: AssignmentProblem, lam: float = 1.0,
                    features: Sequence[str] = FEATURES, values: Sequence[float] | None = None,
                    *, include_milp: bool = True, time_limit: float | None = None
                    ) -> pd.DataFrame:
    """The e-Energy study: the single-threshold hybrid policy as τ moves.

    For each feature (τin, τout or τin·τout) and each candidate τ, queries with feature ≤ τ
    go to the small (non-GPU) system where its token limits allow, the rest to the GPU
    system — exactly the ``threshold-<feature>@τ`` policy — and the schedule is scored:
    total energy, mean runtime, makespan, feasibility, objective U at ``lam``. All τ are
    evaluated at once from cumulative sums over the classes sorted by the feature.

    Args:
        problem: a problem whose fleet has one non-GPU and one GPU system (see
            :func:`offline_sched.policies.small_and_gpu`).
        lam: λ of the objective column and of the ``best`` choice (1: energy only, the
            paper's setting).
        features: any of ``input``, ``output``, ``product``.
        values: candidate thresholds (default: 0 and every value of the feature in the
            workload — the candidates the ``threshold-*`` policies choose from).
        include_milp: add the MILP's schedule at ``lam`` as a row (``kind = milp``).
        time_limit: time limit of that MILP solve [s].

    Returns:
        One row per (feature, τ) with ``kind = threshold``, plus two ``kind = reference``
        rows (``all-<gpu system>``, ``all-<small system>``: τ = −∞ and +∞) and the MILP row.
        Columns: ``kind, policy, feature, threshold, best, feasible, objective, energy_j,
        energy_kwh, runtime_s, mean_runtime_s, makespan_s,
        energy_saving_vs_all_gpu_pct, runtime_change_vs_all_gpu_pct`` (both against the
        ``all-<gpu system>`` row) and ``queries_<system>``. ``best`` marks, per feature, the
        τ the ``threshold-<feature>`` policy picks (least U among capacity- and
        share-feasible τ, else overall; the smallest τ on ties).

    Raises:
        InputError: bad λ or feature, or a fleet without a (non-GPU, GPU) pair.
        InfeasibleError: ``include_milp`` and the MILP has no feasible schedule.
    """
    lam = check_lam(lam)
    features = list(features)
    if not features:
        raise InputError("threshold_study: no features given")
    parts = _threshold_rows(problem, lam, features, values)
    if include_milp:
        sched = milp(problem, lam, time_limit=time_limit)
        s = sched.summary
        row = {"kind": "milp", "policy": "milp", "feature": "", "threshold": np.nan,
               **{k: s[k] for k in ("feasible", "objective", "energy_j", "energy_kwh",
                                    "runtime_s", "mean_runtime_s", "makespan_s")}}
        for name, q in zip(problem.fleet.names, sched.counts.sum(axis=0), strict=True):
            row[f"queries_{name}"] = int(q)
        parts.append(pd.DataFrame([row]))
    frame = pd.concat(parts, ignore_index=True)
    frame["best"] = _mark_best(frame)
    ref = frame.loc[frame["kind"] == "reference"].iloc[0]  # all-<gpu system>
    frame["energy_saving_vs_all_gpu_pct"] = 100.0 * (ref["energy_j"] - frame["energy_j"]
                                                     ) / ref["energy_j"]
    frame["runtime_change_vs_all_gpu_pct"] = 100.0 * (frame["runtime_s"] - ref["runtime_s"]
                                                      ) / ref["runtime_s"]
    per_sys = [c for c in frame.columns if c.startswith("queries_")]
    return frame[THRESHOLD_COLUMNS + per_sys]


def best_thresholds(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``best`` rows of a :func:`threshold_study`, plus its reference and MILP rows."""
    keep = frame["best"] | frame["kind"].isin(["reference", "milp"])
    return frame[keep].reset_index(drop=True)


__all__ = ["FEATURES", "THRESHOLD_COLUMNS", "best_thresholds", "default_sweep_policies",
           "milp_frontier", "only_system", "parse_lams", "register_single_system_policies",
           "run_study_policy", "second_metric", "sweep", "threshold_study", "token_accuracy"]
