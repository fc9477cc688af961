"""A class-level LP/MIP over eligible (class, system) pairs in one HiGHS instance."""

from __future__ import annotations

import numpy as np

from ..problem import AssignmentProblem
from .highs_model import build_highs, model_status, set_time_limit
from .status import Status

CAP_MARGIN_REL = 1e-10
CAP_MARGIN_ABS = 1e-7


def margin_capacity(capacity: np.ndarray) -> np.ndarray:
    """Capacities a hair below the real ones, as every solver model uses them."""
    cap = np.asarray(capacity, dtype=np.float64)
    return cap - (CAP_MARGIN_REL * cap + CAP_MARGIN_ABS)


class ClassModel:
    """A class-level LP/MIP over the eligible (class, system) pairs in one HiGHS instance.

    Capacities are lowered by a hair (:data:`CAP_MARGIN_REL`, :data:`CAP_MARGIN_ABS`) so float
    error in the solver can never overfill a system.

    Args:
        problem: the class-level problem.
        class_count: queries per modelled row, (rows,).
        capacity: device-seconds per system, (S,).
        min_count: least queries per system, (S,).
        max_count: most queries per system, (S,).
        rows: which classes of the problem the model holds (default: all).
        integer: integer columns (a MIP) instead of continuous ones.
    """

    def __init__(self, problem: AssignmentProblem, class_count: np.ndarray,
                 capacity: np.ndarray, min_count: np.ndarray, max_count: np.ndarray,
                 rows: np.ndarray | None = None, integer: bool = False):
        self.integer = integer
        self.rows = np.arange(problem.classes.n_classes) if rows is None else rows
        shares = bool((min_count > 0).any() or (max_count < class_count.sum()).any())
        # a hair below capacity, so float error in the solver can never overfill a system
        cap = capacity.astype(np.float64)
        built = build_highs(problem.eligible[self.rows], problem.runtime_s[self.rows],
                            class_count, cap - (CAP_MARGIN_REL * cap + CAP_MARGIN_ABS),
                            min_count if shares else None, max_count if shares else None,
                            integer=integer)
        self.hs, self.h, self.cls, self.sys, self.shape = (built.hs, built.h, built.cls,
                                                           built.sys, built.shape)

    def set_costs(self, weights: np.ndarray) -> None:
        """Set column costs from a (C, S) weight matrix of the whole problem."""
        w = weights[self.rows][self.cls, self.sys]
        self.h.changeColsCost(w.size, np.arange(w.size, dtype=np.int32), w)

    def run(self, time_limit: float | None = None, mip_gap: float | None = None,
            abs_gap: float = 1e-12) -> Status:
        """Solve within an optional time limit and MIP gap; return the status."""
        set_time_limit(self.h, time_limit, mip=self.integer)  # clears an earlier limit too
        if mip_gap is not None:
            self.h.setOptionValue("mip_rel_gap", mip_gap)
            self.h.setOptionValue("mip_abs_gap", abs_gap)
        self.h.run()
        return model_status(self.h)

    def values(self) -> np.ndarray:
        """Column values of the last solve."""
        return np.asarray(self.h.getSolution().col_value, dtype=np.float64)

    def to_counts(self, values: np.ndarray) -> np.ndarray:
        """Column values as a (rows, S) matrix."""
        counts = np.zeros(self.shape)
        counts[self.cls, self.sys] = values
        return counts

    def set_start(self, counts: np.ndarray) -> None:
        """Give HiGHS a starting solution, (rows, S) counts."""
        sol = self.hs.HighsSolution()
        sol.col_value = counts[self.cls, self.sys].astype(np.float64)
        sol.value_valid = True
        self.h.setSolution(sol)


def objective(weights: np.ndarray, counts: np.ndarray) -> float:
    """Objective U = Σ w[c, s]·counts[c, s] over the used (class, system) pairs."""
    used = counts > 0
    return float(np.sum(weights[used] * counts[used]))
