"""The e-Energy paper's threshold study: energy and runtime as the single threshold τ moves.

Total energy and mean runtime of the single-threshold hybrid policy as the input, output or
product threshold τ moves, evaluated for every candidate τ at once by the cumulative sums of
:func:`offline_sched.policies.threshold_curve` (the same evaluation the ``threshold-*`` policies
choose from), plus the all-small and all-GPU reference lines and the MILP's result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..policies import FEATURES, milp, small_and_gpu, threshold_curve
from ..problem import AssignmentProblem, check_lam, over_capacity
from ..schedule import J_PER_KWH

THRESHOLD_COLUMNS = ["kind", "policy", "feature", "threshold", "best", "feasible", "objective",
                     "energy_j", "energy_kwh", "runtime_s", "mean_runtime_s", "makespan_s",
                     "energy_saving_vs_all_gpu_pct", "runtime_change_vs_all_gpu_pct"]


def _threshold_rows(problem: AssignmentProblem, lam: float, features: Sequence[str],
                    values: Sequence[float] | None) -> list[pd.DataFrame]:
    """Threshold-policy metrics for every candidate τ of every feature (vectorised)."""
    pair = small_and_gpu(problem)
    if pair is None:
        raise InputError(f"{problem.fleet.name}: the threshold study needs one GPU and one "
                         "non-GPU system")
    small, big = pair
    inst = np.array([s.instances for s in problem.fleet], dtype=np.float64)
    names = problem.fleet.names
    out = []
    curve = None
    for feature in features:
        if feature not in FEATURES:
            raise InputError(f"feature, value {feature!r}: expected one of {', '.join(FEATURES)}")
        cand = None if values is None else np.asarray(values, dtype=np.float64)
        curve = threshold_curve(problem, lam, feature, cand)
        out.append(_summarise(problem, curve.busy_s, curve.energy_j, curve.queries,
                              curve.objective, inst, names, kind="threshold",
                              policy=[f"threshold-{feature}"] * curve.thresholds.size,
                              feature=feature, threshold=curve.thresholds))
    # reference lines: τ = −∞ (all GPU side) and τ = +∞ (all small where eligible)
    ends = threshold_curve(problem, lam, features[0], np.array([-np.inf, np.inf]))
    out.append(_summarise(problem, ends.busy_s, ends.energy_j, ends.queries, ends.objective,
                          inst, names, kind="reference",
                          policy=[f"all-{names[big]}", f"all-{names[small]}"], feature="",
                          threshold=np.full(2, np.nan)))
    return out


def _summarise(problem: AssignmentProblem, busy: np.ndarray, energy: np.ndarray,
               count: np.ndarray, obj: np.ndarray, inst: np.ndarray, names: list[str],
               **cols: object) -> pd.DataFrame:
    cap_ok = (~over_capacity(busy, problem.capacity_s[None, :])).all(axis=1)
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
                    *, include_milp: bool = True, time_limit: float | None = None,
                    method: str = "model", pool_models: bool = True) -> pd.DataFrame:
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
        method: ``model`` (the fleet's per-query cost models, above) or ``paper-script``
            (the published threshold script's arithmetic, see
            :func:`offline_sched.studies.paper_script.paper_script_study`: input feature only,
            thresholds the powers of two 8…2048 unless ``values`` is given, no MILP row).
        pool_models: with ``paper-script``, pool every model measured on each system (the
            script) or use Llama-2 rows only.

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
    if method == "paper-script":
        if features != ["input"] and set(features) != set(FEATURES):
            raise InputError(f"method 'paper-script': feature, value {features!r}: the "
                             "script thresholds the input length only")
        from .paper_script import paper_script_study

        wl = problem.workload
        return paper_script_study(wl.input_tokens, wl.output_tokens, pool_models=pool_models,
                                  thresholds=values)
    if method != "model":
        raise InputError(f"method, value {method!r}: expected 'model' or 'paper-script'")
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


__all__ = ["FEATURES", "THRESHOLD_COLUMNS", "best_thresholds", "threshold_study"]
