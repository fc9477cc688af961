"""Least-relative-absolute-error fitting with non-negative coefficients, as one HiGHS LP.

:func:`relative_l1_nonneg` solves

    min_β   (1/N) Σ_i |x_i·β − y_i| / y_i   +   μ Σ_j s_j β_j      subject to β ≥ 0

which minimises the mean absolute percentage error (MAPE) of a model that is linear in its
features, the very number reported as ``mape``/``cv_mape``. Fitting relative rather than
absolute error matters for cost tables: measured energies and runtimes span four to five
orders of magnitude (a 0.2 s query and a 1,300 s one in the same table), so least squares is
dominated by the few largest queries and may be wrong by several hundred per cent on the
small ones. The L1 loss is also robust to the occasional outlier repetition (warm-up
stragglers, throttling).

Linear-programming form. Dividing row i by y_i > 0 and column j by its scale s_j gives
z_ij = x_ij / (y_i s_j) and b_j = s_j β_j; the primal LP

    min  Σ_i |Σ_j z_ij b_j − 1| + N μ Σ_j b_j      over b ≥ 0

has N rows. We solve its LP dual instead, which has only K rows (one per feature) and N
box-bounded columns:

    max  Σ_i λ_i    s.t.   Σ_i z_ij λ_i ≤ N μ   (j = 1..K),    −1 ≤ λ_i ≤ 1.

By strong duality the optimal b is the vector of (sign-flipped) row duals of that LP. The dual
is always feasible (λ = 0) and bounded, so HiGHS always finds an optimum; with K ≈ 15 rows the
dual simplex needs a few milliseconds for hundreds of rows and about 0.3 s for 8,000 (the
primal form takes 20 times longer).

Column scaling: s_j = max_i |x_ij| / y_i, so every scaled column has largest entry 1 and
b_j is the largest share of any measured value that feature j explains. This keeps the LP
well conditioned although the raw features range from 1 (a constant) to about 10^10 (a sum
of squared context lengths). All-zero columns (e.g. a hinge feature whose knot lies above
every measured context) get s_j = 1 and a zero coefficient.

Regularisation: μ = :data:`TIE_BREAK` = 1e-4 per unit of scaled coefficient. It changes the
optimal MAPE by at most about 1e-4 per active feature, so it does not bias a well-posed fit,
but when the data can hardly tell features apart (nearly collinear columns, few distinct
cells, e.g. one-factor sweeps with an input sweep at a fixed output and an output sweep at a
fixed input) it makes the LP prefer, among fits of (almost) equal error, the one that uses
the fewest and smallest features, instead of an arbitrary vertex. No ridge term is needed:
the non-negativity constraints already bound the coefficients.

The LP is built with numpy and passed to highspy in one call (no Python loop over rows).
"""

from __future__ import annotations

import numpy as np

from ..errors import FitError
from ..solver.highs_model import highspy_module, new_highs

TIE_BREAK = 1e-4
"""Default μ: L1 penalty per unit of scaled (relative-share) coefficient."""


def relative_l1_nonneg(x: np.ndarray, y: np.ndarray, tie_break: float = TIE_BREAK
                       ) -> np.ndarray:
    """Fit β ≥ 0 minimising the mean absolute relative error of ``x @ β`` against ``y``.

    Args:
        x: design matrix (N, K) of finite features (non-negative for physical forms).
        y: measured targets (N,), finite and > 0.
        tie_break: μ, the L1 penalty per unit of scaled coefficient (see module docstring);
            0 disables it.

    Returns:
        Coefficients β (K,), all ≥ 0, in the units of ``x`` and ``y``.

    Raises:
        FitError: bad shapes, non-finite values, a target ≤ 0, or the LP not solved to
            optimality.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise FitError(f"relative fit needs x of shape (N, K) and y of shape (N,), got "
                       f"{x.shape} and {y.shape}")
    n, k = x.shape
    if n == 0 or k == 0:
        raise FitError(f"relative fit needs at least one row and one feature, got {x.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise FitError("relative fit: non-finite feature or target value")
    if (y <= 0).any():
        bad = float(y[np.argmax(y <= 0)])
        raise FitError(f"relative fit needs targets > 0, got {bad!r}")
    if tie_break < 0:
        raise FitError(f"tie_break must be ≥ 0, got {tie_break!r}")

    z = x / y[:, None]
    scale = np.abs(z).max(axis=0)
    scale[scale == 0] = 1.0
    z /= scale

    highspy = highspy_module()
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = k
    lp.col_cost_ = -np.ones(n)          # maximise Σ λ
    lp.col_lower_ = -np.ones(n)
    lp.col_upper_ = np.ones(n)
    lp.row_lower_ = np.full(k, -highspy.kHighsInf)
    lp.row_upper_ = np.full(k, tie_break * n)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = (np.arange(k + 1, dtype=np.int64) * n).astype(np.int32)
    lp.a_matrix_.index_ = np.tile(np.arange(n, dtype=np.int32), k)
    lp.a_matrix_.value_ = np.ascontiguousarray(z.T).ravel()

    h = new_highs()
    if h.passModel(lp) == highspy.HighsStatus.kError:
        raise FitError("relative fit: HiGHS rejected the LP")
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise FitError(f"relative fit: HiGHS ended with status {h.modelStatusToString(status)}")
    b = -np.asarray(h.getSolution().row_dual, dtype=np.float64)
    return np.maximum(b, 0.0) / scale
