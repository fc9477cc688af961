"""The assignment problem in matrix form, over classes of interchangeable queries.

Queries with equal (τin, τout) have equal costs and equal eligibility on every system, so the
per-query MILP (binary y[q, s]) is exactly equivalent to one over integer counts x[c, s] per
class c. This module builds that class-level data once — cost matrices (C × S), eligibility,
capacities, share bounds and the objective's normalisation — so every policy and solver, and
every λ of a sweep, reuse it.

Objective per query q on system s (the offline paper's U(m, n, s)):

* ``energy-runtime``:  λ·e_s(q)/E + (1−λ)·r_s(q)/R
* ``energy-accuracy``: λ·e_s(q)/E − (1−λ)·A_s·(τin + τout)/A

where E, R, A are the maxima of each metric over all eligible (query, system) pairs when the
fleet normalises (default), else 1 (absolute joules and seconds).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .errors import CostModelWarning, InfeasibleError, InputError
from .fleet import Fleet
from .workload import QueryClasses, Workload


@dataclass(frozen=True)
class AssignmentProblem:
    """Class-level data of one (workload, fleet) pair.

    Attributes:
        workload: the queries.
        fleet: the systems.
        classes: queries grouped by (τin, τout).
        energy_j: energy per query of class c on system s [J], (C, S); NaN if unmodelled.
        runtime_s: runtime per query on one replica [s], (C, S).
        accuracy_score: A_s·(τin + τout) per query, (C, S), or None without accuracies.
        eligible: whether system s can take class c, (C, S).
        capacity_s: device-seconds per system, (S,).
        min_count: smallest number of queries system s must take (see
            :func:`share_counts`), (S,).
        max_count: largest number of queries system s may take, (S,).
        energy_scale: normaliser E [J] (1 for absolute weights).
        runtime_scale: normaliser R [s].
        accuracy_scale: normaliser A.
        clipped: eligible (query, system) predictions clipped at a cost-model floor.
        extrapolated: eligible (query, system) predictions outside the measured range.
        outside_range: per (class, system), whether the class lies outside the measured
            token range of that system's cost model, (C, S).
    """

    workload: Workload
    fleet: Fleet
    classes: QueryClasses
    energy_j: np.ndarray
    runtime_s: np.ndarray
    accuracy_score: np.ndarray | None
    eligible: np.ndarray
    capacity_s: np.ndarray
    min_count: np.ndarray
    max_count: np.ndarray
    energy_scale: float
    runtime_scale: float
    accuracy_scale: float
    clipped: int
    extrapolated: int
    outside_range: np.ndarray

    @property
    def n_queries(self) -> int:
        """Number of queries N."""
        return len(self.workload)

    @property
    def n_systems(self) -> int:
        """Number of systems S."""
        return len(self.fleet)

    @property
    def has_shares(self) -> bool:
        """Whether any share bound is active."""
        return bool((self.min_count > 0).any() or (self.max_count < self.n_queries).any())

    def weights(self, lam: float) -> np.ndarray:
        """Per-query objective coefficient of each (class, system), (C, S); +inf if ineligible.

        Args:
            lam: λ in [0, 1], the weight of energy.

        Raises:
            InputError: λ outside [0, 1], or λ > 0 with a system lacking an energy model.
        """
        lam = check_lam(lam)
        if self.fleet.objective == "energy-accuracy":
            if self.accuracy_score is None:
                raise InputError("objective 'energy-accuracy' needs 'accuracy' on every system")
            second = -self.accuracy_score / self.accuracy_scale
        else:
            second = self.runtime_s / self.runtime_scale
        if lam > 0:
            missing = [s.name for s in self.fleet if s.cost.energy is None]
            if missing:
                raise InputError(f"{self.fleet.name}: system(s) {', '.join(missing)} have no "
                                 "energy model "
                                 "(runtime-only table): use lam=0 or measure energy")
            w = lam * (self.energy_j / self.energy_scale) + (1.0 - lam) * second
        else:
            w = second.copy()
        return np.where(self.eligible, w, np.inf)


CAPACITY_RTOL = 1e-9
"""Relative tolerance of every capacity check (schedules, incumbents, quick diagnosis)."""
CAPACITY_ATOL = 1e-6
"""Absolute tolerance of every capacity check [s]."""


def over_capacity(busy_s: np.ndarray, capacity_s: np.ndarray) -> np.ndarray:
    """Which systems' busy time exceeds capacity beyond the one feasibility tolerance."""
    return busy_s > capacity_s * (1 + CAPACITY_RTOL) + CAPACITY_ATOL


def busy_seconds(problem: AssignmentProblem, counts: np.ndarray) -> np.ndarray:
    """Device-seconds each system spends on per-class ``counts``, (S,)."""
    rt = np.where(counts > 0, problem.runtime_s, 0.0)
    return np.einsum("cs,cs->s", counts, rt)


def violations(problem: AssignmentProblem, counts: np.ndarray) -> list[str]:
    """Human-readable list of the constraints per-class ``counts`` break (empty: feasible)."""
    p = problem
    out = []
    placed = counts.sum(axis=1)
    if (placed != p.classes.count).any():
        out.append("not every query is assigned exactly once")
    if (counts[~p.eligible] > 0).any():
        out.append("a query is on a system whose token limits it exceeds")
    busy = busy_seconds(p, counts)
    for s in np.flatnonzero(over_capacity(busy, p.capacity_s)):
        out.append(f"{p.fleet[s].name}: busy {busy[s]:.6g} s > capacity "
                   f"{p.capacity_s[s]:.6g} s")
    per_sys = counts.sum(axis=0)
    for s in np.flatnonzero((per_sys < p.min_count) | (per_sys > p.max_count)):
        out.append(f"{p.fleet[s].name}: {per_sys[s]} queries outside share bounds "
                   f"[{p.min_count[s]}, {p.max_count[s]}]")
    return out

def check_lam(lam: float) -> float:
    """Return λ as float, raising :class:`InputError` unless 0 ≤ λ ≤ 1."""
    try:
        value = float(lam)
    except (TypeError, ValueError):
        raise InputError(f"lam, value {lam!r}: expected a number in [0, 1]") from None
    if not 0.0 <= value <= 1.0:
        raise InputError(f"lam, value {lam!r}: expected a number in [0, 1]")
    return value


def share_counts(min_share: np.ndarray, max_share: np.ndarray, n: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Turn share bounds into whole query counts.

    Bounds are rounded strictly (at least ⌈min·N⌉, at most ⌊max·N⌋), unless that makes them
    contradict each other (shares that sum to exactly 1, say): then they are rounded outward
    (⌊min·N⌋, ⌈max·N⌉), so the shares are met to within one query.

    Returns:
        ``(min_count, max_count)`` as int64 arrays.
    """
    lo = np.ceil(min_share * n - 1e-9).astype(np.int64)
    hi = np.floor(max_share * n + 1e-9).astype(np.int64)
    if lo.sum() > n:
        lo = np.floor(min_share * n + 1e-9).astype(np.int64)
    if hi.sum() < n:
        hi = np.ceil(max_share * n - 1e-9).astype(np.int64)
    return lo, hi


def _scale(values: np.ndarray, eligible: np.ndarray, normalize: bool) -> float:
    if not normalize:
        return 1.0
    vals = values[eligible & np.isfinite(values)]
    top = float(np.abs(vals).max()) if vals.size else 1.0
    return top if top > 0 else 1.0


def _warn_guards(clipped: int, extrapolated: int, fleet: str) -> None:
    """Warn (:class:`CostModelWarning`) about clipped and extrapolated predictions."""
    if clipped:
        warnings.warn(f"{clipped} (query, system) predictions were clipped at a cost-model "
                      f"floor ({fleet})", CostModelWarning, stacklevel=3)
    if extrapolated:
        warnings.warn(f"{extrapolated} (query, system) predictions lie outside the measured "
                      f"token range ({fleet}); their costs are extrapolated",
                      CostModelWarning, stacklevel=3)


def build_problem(workload: Workload, fleet: Fleet) -> AssignmentProblem:
    """Build the class-level problem: group queries, predict costs, check eligibility.

    Args:
        workload: validated queries.
        fleet: validated systems.

    Returns:
        The problem.

    Raises:
        InfeasibleError: some queries fit no system's token limits (count and examples given).
    """
    cls = workload.classes()
    tin, tout = cls.input_tokens, cls.output_tokens
    n_c, n_s = cls.n_classes, len(fleet)
    energy = np.full((n_c, n_s), np.nan)
    runtime = np.empty((n_c, n_s))
    eligible = np.empty((n_c, n_s), dtype=bool)
    outside = np.zeros((n_c, n_s), dtype=bool)
    clipped = extrapolated = 0
    fin, fout = tin.astype(np.float64), tout.astype(np.float64)
    for s, system in enumerate(fleet):
        cost = system.cost  # as cost.predict(tin, tout), evaluating each metric once
        runtime[:, s], was_clipped = cost.runtime.guarded(fin, fout)
        beyond = cost.runtime.extrapolated(tin, tout)
        if cost.energy is not None:
            energy[:, s], energy_clipped = cost.energy.guarded(fin, fout)
            was_clipped |= energy_clipped
            beyond |= cost.energy.extrapolated(tin, tout)
        eligible[:, s] = system.eligible(tin, tout) & (system.instances > 0)
        clipped += int(cls.count[was_clipped & eligible[:, s]].sum())
        extrapolated += int(cls.count[beyond & eligible[:, s]].sum())
        outside[:, s] = beyond & eligible[:, s]
    _warn_guards(clipped, extrapolated, fleet.name)
    orphan = ~eligible.any(axis=1)
    if orphan.any():
        n_orphan = int(cls.count[orphan].sum())
        first = np.flatnonzero(orphan)[0]
        qidx = int(np.flatnonzero(cls.query_class == first)[0])
        idle = [s.name for s in fleet if s.instances == 0]
        why = "fit no system's token limits" + (
            f" (systems with instances = 0 take nothing: {', '.join(idle)})" if idle else "")
        raise InfeasibleError(
            f"{n_orphan} queries {why}, e.g. query "
            f"{workload.ids[qidx]!s} (input_tokens={tin[first]}, output_tokens={tout[first]}, "
            f"row {qidx + 1})")
    accuracy = None
    if all(s.accuracy is not None for s in fleet):
        acc = np.array([s.accuracy for s in fleet], dtype=np.float64)
        accuracy = (tin + tout)[:, None].astype(np.float64) * acc[None, :]
    n = len(workload)
    capacity = np.array([s.capacity_s for s in fleet], dtype=np.float64)
    min_count, max_count = share_counts(np.array([s.min_share for s in fleet]),
                                        np.array([s.max_share for s in fleet]), n)
    norm = fleet.normalize
    return AssignmentProblem(
        workload=workload, fleet=fleet, classes=cls, energy_j=energy, runtime_s=runtime,
        accuracy_score=accuracy, eligible=eligible, capacity_s=capacity, min_count=min_count,
        max_count=max_count, energy_scale=_scale(energy, eligible, norm),
        runtime_scale=_scale(runtime, eligible, norm),
        accuracy_scale=_scale(accuracy, eligible, norm) if accuracy is not None else 1.0,
        clipped=clipped, extrapolated=extrapolated, outside_range=outside)


def check_range(problem: AssignmentProblem) -> None:
    """Refuse predictions outside the measured token range (``--strict-range``).

    Raises:
        InputError: naming how many (query, system) pairs are outside and one example.
    """
    if not problem.outside_range.any():
        return
    c, s = (int(v[0]) for v in np.nonzero(problem.outside_range))
    q = int(np.flatnonzero(problem.classes.query_class == c)[0])
    m = problem.fleet[s].cost.runtime
    raise InputError(
        f"{problem.workload.source}: {problem.extrapolated} (query, system) predictions lie "
        f"outside the measured token range, e.g. row {q + 1}, query "
        f"{problem.workload.ids[q]} (input_tokens={problem.classes.input_tokens[c]}, "
        f"output_tokens={problem.classes.output_tokens[c]}) on {problem.fleet[s].name!r} "
        f"(measured input {m.input_range}, output {m.output_range}); drop --strict-range "
        "to extrapolate")
