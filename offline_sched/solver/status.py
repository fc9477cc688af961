"""The one result model of every solve: a status enum and a typed :class:`SolveResult`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

GAP_TOL = 1e-6
"""Default target certified relative gap: ``status=optimal`` at or below it."""


class Status(StrEnum):
    """How a solve ended.

    ``optimal``: certified gap ≤ the tolerance. ``gap``: a feasible schedule whose certified gap
    is above the tolerance (the work limits ran out). ``time-limit``: the time limit expired; the
    best schedule found is returned with its gap. ``infeasible``: no schedule exists.
    ``error``: the solver failed.
    """

    OPTIMAL = "optimal"
    GAP = "gap"
    TIME_LIMIT = "time-limit"
    INFEASIBLE = "infeasible"
    ERROR = "error"


def relative_gap(upper: float, lower: float) -> float:
    """Certified relative gap ``(upper − lower) / max(|upper|, 1e-12)``, floored at 0.

    Infinite without an upper bound (``upper`` = inf) or without a lower bound.
    """
    if not np.isfinite(upper) or lower == -np.inf:
        return float("inf")
    return max(0.0, (upper - lower) / max(abs(upper), 1e-12))


@dataclass(frozen=True)
class SolveResult:
    """Outcome of one solve of the assignment MILP.

    Attributes:
        counts: queries of class c sent to system s, (C, S) int64.
        status: how the solve ended.
        objective: objective value U of ``counts``.
        lower_bound: proven lower bound on the optimal U (−inf when none is known).
        gap: certified relative gap (U − bound) / |U| (inf when no bound is known).
        solve_s: wall time of the whole solve [s].
        lp_s: wall time of the LP relaxation [s] (NaN when none was solved).
        method: what produced the schedule (``lp+round``, ``lp+fill``, ``lp+core``,
            ``pulp:<solver>``, ``...+incumbent:<policy>``).
    """

    counts: np.ndarray
    status: Status
    objective: float
    lower_bound: float
    gap: float
    solve_s: float
    method: str
    lp_s: float = float("nan")

    def as_dict(self) -> dict[str, object]:
        """The scalar fields, as merged into a schedule's summary."""
        return {"gap": self.gap, "lower_bound": self.lower_bound, "status": str(self.status),
                "method": self.method, "solve_s": self.solve_s}
