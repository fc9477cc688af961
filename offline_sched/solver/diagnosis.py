"""Why no schedule exists: which capacities or share bounds are short, and by how much."""

from __future__ import annotations

import numpy as np

from ..problem import AssignmentProblem, over_capacity
from .class_model import ClassModel
from .highs_model import highspy_module
from .status import Status


def capacities_text(p: AssignmentProblem) -> str:
    """``name=capacity s`` for every system, for messages."""
    return ", ".join(f"{s.name}={c:.6g} s" for s, c in zip(p.fleet, p.capacity_s, strict=True))


def quick_infeasibility(p: AssignmentProblem) -> str | None:
    """Cheap necessary conditions of feasibility, checked before any solve.

    (1) Load that only one system can take must fit its capacity; (2) all queries, each on
    its fastest eligible system, must fit the fleet's total capacity.

    Returns:
        The reason the problem is infeasible, or None if these checks pass.
    """
    cnt = p.classes.count.astype(np.float64)
    only = p.eligible.sum(axis=1) == 1
    forced = np.einsum("c,cs->s", cnt * only, np.where(p.eligible, p.runtime_s, 0.0))
    reasons = [f"capacity of {p.fleet[s].name!r} is short by {forced[s] - p.capacity_s[s]:.6g} s "
               f"for the queries only it can take (has {p.capacity_s[s]:.6g} s)"
               for s in np.flatnonzero(over_capacity(forced, p.capacity_s))]
    if reasons:
        return "infeasible: " + "; ".join(reasons)
    takers = np.einsum("c,cs->s", cnt, p.eligible.astype(np.float64))
    short = [f"{p.fleet[s].name!r} must take at least {p.min_count[s]} queries (min_share) but "
             f"only {int(takers[s])} fit its token limits"
             for s in np.flatnonzero(p.min_count > takers)]
    if short:
        return "infeasible: " + "; ".join(short)
    fastest = np.where(p.eligible, p.runtime_s, np.inf).min(axis=1) @ cnt
    total = float(p.capacity_s.sum())
    if over_capacity(np.array([fastest]), np.array([total]))[0]:
        return (f"infeasible: the queries need at least {fastest:.6g} device-s even each on its "
                f"fastest eligible system, but the fleet has {total:.6g} s; short by "
                f"{fastest - total:.6g} s ({capacities_text(p)})")
    return None


def diagnose_infeasibility(p: AssignmentProblem) -> str:
    """Explain why no schedule exists: which capacities or share bounds are short, by how much.

    Runs :func:`quick_infeasibility`, then an elastic LP (capacity rows may overflow at a cost)
    that gives the least overflow per system. The LP runs under an iteration limit, not a
    wall-clock one, so the message is the same however loaded the machine is.
    """
    quick = quick_infeasibility(p)
    if quick:
        return quick
    reasons: list[str] = []
    hs = highspy_module()
    n_c, n_s = p.eligible.shape
    model = ClassModel(p, p.classes.count, p.capacity_s, np.zeros(n_s, dtype=np.int64),
                   np.full(n_s, p.n_queries), integer=False)
    h = model.h
    scale = max(float(p.capacity_s.max()), 1.0)
    for s in range(n_s):  # one slack per capacity row: Σ r x − slack ≤ cap
        h.addCol(1.0 / scale, 0.0, hs.kHighsInf, 1, np.array([n_c + s], dtype=np.int32),
                 np.array([-1.0]))
    h.setOptionValue("simplex_iteration_limit", 20 * (n_c + n_s) + 100_000)
    if model.run() == Status.OPTIMAL:
        slack = np.asarray(h.getSolution().col_value)[len(model.cls):]
        for short in np.flatnonzero(slack > 1e-6 * scale):
            s = int(short)
            sys = p.fleet[s]
            reasons.append(f"capacity of {sys.name!r} is short by {slack[s]:.6g} s "
                           f"(has {p.capacity_s[s]:.6g} s = {sys.instances} x "
                           f"{sys.window_s:g} s)")
    if not reasons and p.has_shares:
        reasons.append(f"share bounds cannot be met together with the capacities: min shares "
                       f"ask for {p.min_count.sum()} of {p.n_queries} queries, max shares allow "
                       f"{p.max_count.sum()}")
    if not reasons:
        reasons.append(f"capacity and share limits cannot all be met ({capacities_text(p)})")
    return "infeasible: " + "; ".join(reasons)
