"""Passing the class-level assignment model to HiGHS in one call (numpy → highspy)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SolverError
from .status import Status


def highspy_module() -> Any:
    """Import highspy, or raise :class:`SolverError` saying how to install it."""
    try:
        import highspy
    except ImportError:  # pragma: no cover - core dependency
        raise SolverError("the HiGHS solver is missing: pip install highspy") from None
    return highspy


@contextlib.contextmanager
def _stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null (highspy ≥ 1.16 prints a banner from C++)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no real stdout (e.g. captured)
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def new_highs() -> Any:
    """A silent ``highspy.Highs`` instance: no banner, no log, deterministic seed.

    Every HiGHS instance of the package is made here, so nothing reaches stdout.
    """
    hs = highspy_module()
    with _stdout_silenced():
        h = hs.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("random_seed", 0)
    return h


def set_time_limit(h: Any, seconds: float | None, floor: float = 0.01, mip: bool = False
                   ) -> None:
    """Give the next ``h.run()`` at most ``seconds`` (None: no limit).

    For an LP, HiGHS compares its ``time_limit`` option with the run clock of the instance,
    which adds up over every ``run()`` of that instance (highspy 1.16: an LP stopped at a
    0.3 s limit returns "Time limit reached" at once on every later run with the same
    limit), so a limit for *this* run is the clock so far plus ``seconds``. A MIP checks its
    own timer, which starts at zero in every run: there the limit is ``seconds`` as it is
    (the clock's sum would give it all the instance's earlier time on top; measured: 3 s on
    a "1 s" limit after two earlier 1 s runs). Every time limit of the package is set here.

    Args:
        h: a HiGHS instance.
        seconds: seconds for the next run, at least ``floor``; None: unlimited.
        floor: the least limit given.
        mip: whether the model has integer columns (the per-run timer).
    """
    if seconds is None:
        h.setOptionValue("time_limit", highspy_module().kHighsInf)
        return
    offset = 0.0 if mip else float(h.getRunTime())
    h.setOptionValue("time_limit", offset + max(float(seconds), floor))


def model_status(h: Any) -> Status:
    """Map the model status of a solved HiGHS instance to :class:`Status` (the one map).

    ``kOptimal`` → optimal; ``kInfeasible`` and ``kUnboundedOrInfeasible`` → infeasible (the
    assignment model has bounded columns, so it is never unbounded); time, iteration,
    solution-count limits and interrupts → time-limit; anything else → error.
    """
    st = highspy_module().HighsModelStatus
    ms = h.getModelStatus()
    if ms == st.kOptimal:
        return Status.OPTIMAL
    if ms in (st.kInfeasible, st.kUnboundedOrInfeasible):
        return Status.INFEASIBLE
    limits = [getattr(st, n) for n in ("kTimeLimit", "kIterationLimit", "kInterrupt",
                                       "kSolutionLimit", "kObjectiveBound", "kObjectiveTarget")
              if hasattr(st, n)]
    if ms in limits:
        return Status.TIME_LIMIT
    return Status.ERROR


@dataclass
class HighsModel:
    """A built HiGHS instance and the (class, system) pair of each of its columns.

    Attributes:
        hs: the highspy module.
        h: the ``highspy.Highs`` instance holding the model.
        cls: row (class) index of each column.
        sys: system index of each column.
        shape: (classes, systems) of the eligibility matrix it was built from.
    """

    hs: Any
    h: Any
    cls: np.ndarray
    sys: np.ndarray
    shape: tuple[int, int]


def build_highs(eligible: np.ndarray, runtime: np.ndarray, count: np.ndarray,
                capacity: np.ndarray, lo: np.ndarray | None = None,
                hi: np.ndarray | None = None, integer: bool = False) -> HighsModel:
    """Build the assignment model over eligible (class, system) pairs, column-wise.

    Columns x[c, s] ≥ 0 (≤ count[c]); rows: Σ_s x[c, s] = count[c] per class, Σ_c r[c, s]·x[c, s]
    ≤ capacity[s] per system, and lo[s] ≤ Σ_c x[c, s] ≤ hi[s] when share bounds are given.
    Costs start at zero (set them with ``changeColsCost``).

    Args:
        eligible: (C, S) bool.
        runtime: (C, S) runtime per query [s].
        count: (C,) queries per class.
        capacity: (S,) device-seconds per system.
        lo: (S,) least queries per system, or None for no share rows.
        hi: (S,) most queries per system (with ``lo``).
        integer: make the columns integer (a MIP).

    Returns:
        The built model.

    Raises:
        SolverError: HiGHS rejected the model.
    """
    hs = highspy_module()
    n_c, n_s = eligible.shape
    flat = np.flatnonzero(eligible.ravel())
    cls, sys = flat // n_s, flat % n_s
    k = flat.size
    count = np.asarray(count, dtype=np.float64)
    blocks_i = [cls, n_c + sys]
    blocks_v = [np.ones(k), runtime[cls, sys]]
    row_lo = [count, np.full(n_s, -hs.kHighsInf)]
    row_hi = [count, np.asarray(capacity, dtype=np.float64)]
    if lo is not None:
        blocks_i.append(n_c + n_s + sys)
        blocks_v.append(np.ones(k))
        row_lo.append(np.asarray(lo, dtype=np.float64))
        row_hi.append(np.asarray(hi, dtype=np.float64))
    per = len(blocks_i)
    lp = hs.HighsLp()
    lp.num_col_ = k
    lp.num_row_ = n_c + n_s * (per - 1)
    lp.col_cost_ = np.zeros(k)
    lp.col_lower_ = np.zeros(k)
    lp.col_upper_ = count[cls]
    lp.row_lower_ = np.concatenate(row_lo)
    lp.row_upper_ = np.concatenate(row_hi)
    lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(0, per * k + 1, per, dtype=np.int32)
    lp.a_matrix_.index_ = np.column_stack(blocks_i).ravel().astype(np.int32)
    lp.a_matrix_.value_ = np.column_stack(blocks_v).ravel()
    if integer:
        lp.integrality_ = [hs.HighsVarType.kInteger] * k
    h = new_highs()
    if h.passModel(lp) == hs.HighsStatus.kError:
        raise SolverError("HiGHS rejected the model")
    return HighsModel(hs=hs, h=h, cls=cls, sys=sys, shape=(n_c, n_s))
