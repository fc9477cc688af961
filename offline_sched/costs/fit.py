"""Fitting cost models to measurement tables, and the fitted-coefficients CSV format.

The fitted-coefficients CSV (written by ``offline-sched fit``) has one row per
(model, system, metric) with columns ``model, system, metric, form, coef_<feature>...,
intercept, r2, mape, cv_mape, n, input_min, input_max, output_min, output_max, floor``.
For the paper form the coefficient columns are ``coef_in, coef_out, coef_inout``.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..errors import FitError, InputError
from ..io.frames import read_frame, require_columns
from .forms import FORMS, Form, get_form
from .model import CostModel, FitStats, MetricModel
from .tables import validate_table

METRICS = {"energy": "energy_j", "runtime": "runtime_s"}
STAT_COLUMNS = ["r2", "mape", "cv_mape", "n"]
PAPER_COEF_COLUMNS = ["coef_in", "coef_out", "coef_inout"]
POSITIVE_FLOOR = 0.1
"""Floor of forms fitted with non-negative coefficients, as a fraction of the smallest
measured value: such models are positive and increasing by construction, so the floor only
guards degenerate fits; least-squares forms are floored at the smallest measured value."""
RANGE_COLUMNS = ["input_min", "input_max", "output_min", "output_max", "floor"]


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """Centred coefficient of determination 1 − SS_res / SS_tot."""
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - pred) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def mape(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute percentage error as a fraction (0.1 = 10 %)."""
    return float(np.mean(np.abs(pred - y) / np.abs(y)))


def solve_coefficients(form: Form, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fit the coefficients of ``form`` on design matrix ``x`` and targets ``y``.

    Args:
        form: the model form (its ``method`` picks the estimator).
        x: design matrix (N, K).
        y: targets (N,).

    Returns:
        Coefficients (K,).

    Raises:
        FitError: unknown method or too few rows.
    """
    if x.shape[0] < x.shape[1]:
        raise FitError(f"form {form.name!r} needs at least {x.shape[1]} rows, got {x.shape[0]}")
    if form.method == "ols":
        beta, *_ = np.linalg.lstsq(x, y, rcond=None)
        return beta
    from .relfit import relative_l1_nonneg

    return relative_l1_nonneg(x, y)


def fit_metric(metric: str, input_tokens: np.ndarray, output_tokens: np.ndarray,
               y: np.ndarray, form: str = "paper", cv_folds: int = 0,
               seed: int = 0) -> MetricModel:
    """Fit one metric of one (model, system) pair.

    Args:
        metric: ``energy`` or ``runtime``.
        input_tokens: τin per row.
        output_tokens: τout per row.
        y: measured metric per row (J or s, > 0).
        form: model form name.
        cv_folds: if ≥ 2, also compute k-fold cross-validated MAPE (seeded shuffle).
        seed: seed of the fold shuffle.

    Returns:
        The fitted metric model with its statistics, measured range and floor.
    """
    f = get_form(form)
    x = f.design(input_tokens, output_tokens)
    beta = solve_coefficients(f, x, y)
    pred = x @ beta
    cv = float("nan")
    if cv_folds >= 2 and len(y) >= cv_folds:
        cv = cross_validated_mape(f, x, y, cv_folds, seed)
    return MetricModel(
        metric=metric, form=form, coef=dict(zip(f.features, map(float, beta), strict=True)),
        intercept=0.0, floor=float(np.min(y)) * (1.0 if f.method == "ols" else POSITIVE_FLOOR),
        input_range=(int(np.min(input_tokens)), int(np.max(input_tokens))),
        output_range=(int(np.min(output_tokens)), int(np.max(output_tokens))),
        stats=FitStats(r2=r2_score(y, pred), mape=mape(y, pred), n=int(len(y)), cv_mape=cv),
    )


def cross_validated_mape(form: Form, x: np.ndarray, y: np.ndarray, folds: int,
                         seed: int = 0) -> float:
    """k-fold cross-validated MAPE (fraction) of ``form`` on (x, y), folds shuffled by seed."""
    order = np.random.default_rng(seed).permutation(len(y))
    errors = np.empty(len(y))
    for part in np.array_split(order, folds):
        train = np.setdiff1d(order, part, assume_unique=True)
        beta = solve_coefficients(form, x[train], y[train])
        errors[part] = np.abs(x[part] @ beta - y[part]) / np.abs(y[part])
    return float(errors.mean())


def fit(table: pd.DataFrame | str | os.PathLike[str], form: str = "paper",
        cv_folds: int = 0, source: str | None = None) -> dict[tuple[str, str], CostModel]:
    """Fit a cost model per (model, system) of a measurement table.

    Args:
        table: a measurement table (DataFrame or path; see :mod:`offline_sched.costs.tables`).
        form: model form, ``paper`` or ``default``.
        cv_folds: if ≥ 2, compute k-fold cross-validated MAPE as well.
        source: name for messages and provenance (defaults to the path).

    Returns:
        ``{(model, system): CostModel}``. Energy is fitted only where ``energy_j`` is present.

    Raises:
        InputError: bad table or unknown form.
        FitError: too few rows for the form.
    """
    if form not in FORMS:
        raise InputError(f"unknown model form {form!r}; choose from {', '.join(FORMS)}")
    if isinstance(table, pd.DataFrame):
        source = source or "<table>"
        tab = validate_table(table, source=source)
    else:
        source = source or str(table)
        tab = validate_table(read_frame(table), source=source)
    models: dict[tuple[str, str], CostModel] = {}
    for (model, system), grp in tab.groupby(["model", "system"], sort=True):
        tin = grp["input_tokens"].to_numpy()
        tout = grp["output_tokens"].to_numpy()
        fitted = {}
        for metric, col in METRICS.items():
            y = grp[col].to_numpy(dtype=np.float64)
            ok = np.isfinite(y)
            if metric == "energy" and not ok.any():
                fitted[metric] = None
                continue
            try:
                fitted[metric] = fit_metric(metric, tin[ok], tout[ok], y[ok], form, cv_folds)
            except FitError as exc:
                raise FitError(f"{source}: {model}/{system} {metric}: {exc}") from None
        models[(str(model), str(system))] = CostModel(
            model=str(model), system=str(system), runtime=fitted["runtime"],
            energy=fitted["energy"], source=source)
    return models


def coefficients_frame(models: dict[tuple[str, str], CostModel]) -> pd.DataFrame:
    """Tabulate fitted models in the fitted-coefficients CSV format (one row per metric)."""
    rows = []
    for cm in models.values():
        for m in (cm.energy, cm.runtime):
            if m is None:
                continue
            row = {"model": cm.model, "system": cm.system, "metric": m.metric, "form": m.form}
            for feat in get_form(m.form).features:
                row[f"coef_{feat}"] = m.coef.get(feat, 0.0)
            row["intercept"] = m.intercept
            st = m.stats
            row.update(r2=st.r2 if st else np.nan, mape=st.mape if st else np.nan,
                       cv_mape=st.cv_mape if st else np.nan, n=st.n if st else 0)
            row.update(input_min=m.input_range[0] if m.input_range else np.nan,
                       input_max=m.input_range[1] if m.input_range else np.nan,
                       output_min=m.output_range[0] if m.output_range else np.nan,
                       output_max=m.output_range[1] if m.output_range else np.nan,
                       floor=m.floor if m.floor is not None else np.nan)
            rows.append(row)
    frame = pd.DataFrame(rows)
    for col in PAPER_COEF_COLUMNS:  # always present; NaN where a form has no such feature
        if col not in frame.columns:
            frame[col] = np.nan
    coef_cols = PAPER_COEF_COLUMNS + [c for c in frame.columns
                                      if c.startswith("coef_") and c not in PAPER_COEF_COLUMNS]
    order = ["model", "system", "metric", "form", *coef_cols, "intercept", *STAT_COLUMNS,
             *RANGE_COLUMNS]
    return frame[order]


def _opt(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def models_from_coefficients(frame: pd.DataFrame, source: str = "<coefficients>"
                             ) -> dict[tuple[str, str], CostModel]:
    """Rebuild cost models from a fitted-coefficients table.

    Args:
        frame: rows as written by :func:`coefficients_frame`.
        source: file name for error messages and provenance.

    Returns:
        ``{(model, system): CostModel}``.

    Raises:
        InputError: missing columns, unknown metric or form, or no runtime row for a pair.
    """
    require_columns(frame, ["model", "system", "metric", "form"], source)
    metrics: dict[tuple[str, str], dict[str, MetricModel]] = {}
    for idx, row in enumerate(frame.to_dict("records"), start=1):
        metric, form = str(row["metric"]), str(row["form"])
        if metric not in METRICS:
            raise InputError(f"{source}: row {idx}, column 'metric', value {metric!r}: "
                             "expected 'energy' or 'runtime'")
        if form not in FORMS:
            raise InputError(f"{source}: row {idx}, column 'form', value {form!r}: "
                             f"expected one of {', '.join(FORMS)}")
        coef = {}
        for feat in get_form(form).features:
            val = row.get(f"coef_{feat}")
            if val is None or pd.isna(val):
                raise InputError(f"{source}: row {idx}, column 'coef_{feat}': missing value")
            coef[feat] = float(val)
        lo_i, hi_i = _opt(row.get("input_min")), _opt(row.get("input_max"))
        lo_o, hi_o = _opt(row.get("output_min")), _opt(row.get("output_max"))
        n = row.get("n")
        stats = None
        if n is not None and not pd.isna(n) and int(n) > 0:
            stats = FitStats(r2=float(row.get("r2", np.nan)), mape=float(row.get("mape", np.nan)),
                             n=int(n), cv_mape=float(row.get("cv_mape", np.nan)))
        key = (str(row["model"]), str(row["system"]))
        metrics.setdefault(key, {})[metric] = MetricModel(
            metric=metric, form=form, coef=coef, intercept=_opt(row.get("intercept")) or 0.0,
            floor=_opt(row.get("floor")),
            input_range=(int(lo_i), int(hi_i)) if lo_i is not None and hi_i is not None else None,
            output_range=(int(lo_o), int(hi_o)) if lo_o is not None and hi_o is not None else None,
            stats=stats)
    out = {}
    for key, ms in metrics.items():
        if "runtime" not in ms:
            raise InputError(f"{source}: {key[0]}/{key[1]} has no runtime row")
        out[key] = CostModel(model=key[0], system=key[1], runtime=ms["runtime"],
                             energy=ms.get("energy"), source=source)
    return out


def load_cost_models(path: str | os.PathLike[str], form: str = "paper"
                     ) -> dict[tuple[str, str], CostModel]:
    """Load cost models from a fitted-coefficients CSV or fit them from a measurement table.

    The file kind is told by its columns: a ``metric`` column means fitted coefficients.
    A coefficients file holding several forms is filtered to ``form``.
    """
    frame = read_frame(path)
    if "metric" in frame.columns:
        if "form" in frame.columns:
            frame = frame[frame["form"] == form]
            if frame.empty:
                raise InputError(f"{path}: no coefficients of form {form!r}")
        return models_from_coefficients(frame, source=str(path))
    return fit(frame, form=form, source=str(path))
