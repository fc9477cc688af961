"""Reduced-cost fixing: re-decide exactly the classes that could still move."""

from __future__ import annotations

import numpy as np

from ..problem import AssignmentProblem
from .class_model import ClassModel
from .status import Status

POLISH_MAX_CLASSES = 300
POLISH_TIME_S = 5.0
POLISH_PARTIAL_CLASSES = 60
POLISH_RADIUS = 4


def polish(p: AssignmentProblem, w: np.ndarray, counts: np.ndarray, lp_counts: np.ndarray,
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
    sub = ClassModel(p, p.classes.count[free], cap_left, np.maximum(p.min_count - placed, 0),
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
    if sub.h.getInfo().primal_solution_status == 0 or (not complete and status != Status.OPTIMAL):
        return None, False  # a partial re-decision counts only if finished: reproducible
    fixed[free] = np.rint(sub.to_counts(sub.values())).astype(np.int64)
    return fixed, complete and status == Status.OPTIMAL
