"""Passing the class-level assignment model to HiGHS in one call (numpy → highspy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SolverError


def highspy_module():
    """Import highspy, or raise :class:`SolverError` saying how to install it."""
    try:
        import highspy
    except ImportError:  # pragma: no cover - core dependency
        raise SolverError("the HiGHS solver is missing: pip install highspy") from None
    return highspy


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

    hs: object
    h: object
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
    h = hs.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    if h.passModel(lp) == hs.HighsStatus.kError:
        raise SolverError("HiGHS rejected the model")
    return HighsModel(hs=hs, h=h, cls=cls, sys=sys, shape=(n_c, n_s))
