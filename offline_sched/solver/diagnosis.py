"""Why no schedule exists: which capacities or share bounds are short, and by how much."""

from __future__ import annotations

import math

import numpy as np

from ..problem import AssignmentProblem
from .hall import describe, hall_violations
from .highs_model import build_highs, highspy_module, model_status
from .relaxation import coarse_groups, group_min
from .status import Status

COARSE_MIN_CLASSES = 1_000
"""From this many classes on, the elastic LP is first solved over coarse groups of classes."""

ELASTIC_ITERATIONS_PER_ROW = 20
"""Simplex iterations per row the elastic LP may take (a work limit, not a time limit, so the
diagnosis is the same on a loaded machine)."""


def capacities_text(p: AssignmentProblem) -> str:
    """``name=capacity s`` for every system, for messages."""
    return ", ".join(f"{s.name}={c:.6g} s" for s, c in zip(p.fleet, p.capacity_s, strict=True))


def quick_infeasibility(p: AssignmentProblem) -> str | None:
    """Cheap necessary conditions of feasibility, checked before any solve.

    Hall-type bounds per group of systems (:mod:`.hall`): the queries only a group can take
    must fit its capacity (each on its fastest system there) and its share bounds; a group's
    min shares cannot ask for more queries than it can take. Single systems and the whole
    fleet are among the groups. One pass over the classes.

    Returns:
        The reason the problem is infeasible (the smallest short group, with the shortfall in
        seconds and replicas), or None if these checks pass.
    """
    found = hall_violations(p.eligible, p.runtime_s, p.classes.count, p.capacity_s,
                            p.min_count, p.max_count)
    if not found:
        return None
    names = [s.name for s in p.fleet]
    windows = [float(s.window_s) for s in p.fleet]
    return "infeasible: " + describe(found[0], names, windows)


def _elastic(eligible: np.ndarray, runtime: np.ndarray, count: np.ndarray,
             capacity: np.ndarray, window_s: np.ndarray) -> np.ndarray | None:
    """Least overflow per system (in replicas, then seconds) that makes the LP feasible.

    Capacity rows may overflow by a slack column each, priced 1 / window (one replica's
    seconds), so the answer reads "this many replicas short". Work-limited (simplex
    iterations proportional to the rows), never time-limited.

    Returns:
        Overflow per system [s], or None if the LP did not finish within the work limit.
    """
    hs = highspy_module()
    n_c, n_s = eligible.shape
    built = build_highs(eligible, runtime, count, capacity)
    h = built.h
    for s in range(n_s):  # one slack per capacity row: Σ r x − slack ≤ cap
        h.addCol(1.0 / max(float(window_s[s]), 1e-9), 0.0, hs.kHighsInf, 1,
                 np.array([n_c + s], dtype=np.int32), np.array([-1.0]))
    h.setOptionValue("simplex_iteration_limit",
                     int(ELASTIC_ITERATIONS_PER_ROW * (n_c + n_s) + 1000))
    h.run()
    if model_status(h) != Status.OPTIMAL:
        return None
    return np.asarray(h.getSolution().col_value)[len(built.cls):]


def _short_text(p: AssignmentProblem, slack: np.ndarray, at_least: bool) -> list[str]:
    out = []
    for s in np.flatnonzero(slack > 1e-9 * np.maximum(p.capacity_s, 1.0) + 1e-9):
        sys = p.fleet[s]
        more = math.ceil(slack[s] / sys.window_s - 1e-9)
        out.append(f"capacity of {sys.name!r} is short by {'at least ' if at_least else ''}"
                   f"{slack[s]:.6g} s (has {p.capacity_s[s]:.6g} s = {sys.instances} x "
                   f"{sys.window_s:g} s; ≈ {more} more replicas)")
    return out


def diagnose_infeasibility(p: AssignmentProblem) -> str:
    """Explain why no schedule exists: which capacities or share bounds are short, by how much.

    1. :func:`quick_infeasibility` (Hall-type bounds per group of systems);
    2. an elastic LP over coarse groups of classes, each at the *least* runtime of its
       classes: a relaxation, so its overflow is a lower bound on the real one, in one small LP;
    3. the elastic LP over all classes (work-limited), when the coarse one fits.

    Deterministic: no step depends on wall-clock time.
    """
    quick = quick_infeasibility(p)
    if quick:
        return quick
    windows = np.array([s.window_s for s in p.fleet], dtype=np.float64)
    count = p.classes.count.astype(np.float64)
    runtime = np.where(p.eligible, p.runtime_s, 0.0)
    reasons: list[str] = []
    if p.classes.n_classes > COARSE_MIN_CLASSES:
        groups, n_g = coarse_groups(p)
        elig = np.zeros((n_g, p.n_systems), dtype=bool)
        elig[groups] = p.eligible
        fastest = group_min(groups, n_g, np.where(p.eligible, p.runtime_s, np.inf))
        slack = _elastic(elig, np.where(elig, fastest, 0.0),
                         np.bincount(groups, weights=count, minlength=n_g), p.capacity_s,
                         windows)
        if slack is not None:
            reasons = _short_text(p, slack, at_least=True)
    if not reasons:
        slack = _elastic(p.eligible, runtime, count, p.capacity_s, windows)
        if slack is not None:
            reasons = _short_text(p, slack, at_least=False)
    if not reasons and p.has_shares:
        reasons.append(f"share bounds cannot be met together with the capacities: min shares "
                       f"ask for {p.min_count.sum()} of {p.n_queries} queries, max shares allow "
                       f"{p.max_count.sum()}")
    if not reasons:
        reasons.append(f"capacity and share limits cannot all be met ({capacities_text(p)})")
    return "infeasible: " + "; ".join(reasons)
