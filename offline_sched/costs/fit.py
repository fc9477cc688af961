"""Fitting cost models to measurement tables, and the fitted-coefficients CSV format.

The fitted-coefficients CSV (written by ``offline-sched fit``) has one row per
(model, system, metric) with columns ``model, system, metric, form, coef_<feature>...,
intercept, r2, mape, cv_mape, n, input_min, input_max, output_min, output_max, floor``.
For the paper form the coefficient columns are ``coef_in, coef_out, coef_inout``.
"""

from __future__ import annotations

import os
import warnings

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
DEFAULT_FORM = "default"
"""Form fitted when none is named (the same as ``offline-sched fit``'s default)."""
FALLBACK_FORMS = ("default", "paper")
"""Forms from richest to simplest: a table too small for the requested form is fitted with
the richest simpler one it supports (see :func:`fit`)."""


def form_supported(form: Form, input_tokens: np.ndarray, output_tokens: np.ndarray) -> bool:
    """Whether a table has at least as many distinct (τin, τout) cells as ``form`` has features.

    Repeats of one cell do not help to tell features apart, so they are counted once.
    """
    cells = np.unique(np.stack([np.asarray(input_tokens), np.asarray(output_tokens)]), axis=1)
    return cells.shape[1] >= len(form.features)


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


def fit(table: pd.DataFrame | str | os.PathLike[str], form: str = DEFAULT_FORM,
        cv_folds: int = 0, source: str | None = None) -> dict[tuple[str, str], CostModel]:
    """Fit a cost model per (model, system) of a measurement table.

    A (model, system) whose table is too small for ``form`` (fewer distinct (τin, τout)
    cells than the form has coefficients, or a fit that fails for lack of rows) is fitted
    with the richest simpler form it supports (``default`` → ``paper``), with a
    :class:`UserWarning` naming the pair and both forms.

    Args:
        table: a measurement table (DataFrame or path; see :mod:`offline_sched.costs.tables`).
        form: model form, ``default`` (as ``offline-sched fit``) or ``paper``.
        cv_folds: if ≥ 2, compute k-fold cross-validated MAPE as well.
        source: name for messages and provenance (defaults to the path).

    Returns:
        ``{(model, system): CostModel}``. Energy is fitted only where ``energy_j`` is present.

    Raises:
        InputError: bad table or unknown form.
        FitError: too few rows even for the simplest form.
    """
    if form not in FORMS:
        raise InputError(f"unknown model form {form!r}; choose from {', '.join(FORMS)}")
    if isinstance(table, pd.DataFrame):
        source = source or "<table>"
        tab = validate_table(table, source=source)
    else:
        source = source or str(table)
        tab = validate_table(read_frame(table), source=source)
    candidates = [form, *FALLBACK_FORMS[FALLBACK_FORMS.index(form) + 1:]]
    models: dict[tuple[str, str], CostModel] = {}
    for (model, system), grp in tab.groupby(["model", "system"], sort=True):
        first_error: FitError | None = None
        for used in candidates:
            try:
                fitted = _fit_group(grp, used, cv_folds)
                break
            except FitError as exc:
                first_error = first_error or exc
        else:
            raise FitError(f"{source}: {model}/{system} {first_error}") from None
        if used != form:
            n_cells = len(grp[["input_tokens", "output_tokens"]].drop_duplicates())
            warnings.warn(f"{source}: {model}/{system}: {n_cells} distinct (input_tokens, "
                          f"output_tokens) cells are too few for form {form!r} "
                          f"({len(get_form(form).features)} coefficients); fitted form "
                          f"{used!r} instead", UserWarning, stacklevel=2)
        runtime = fitted["runtime"]
        assert runtime is not None  # only energy may be missing from a group
        models[(str(model), str(system))] = CostModel(
            model=str(model), system=str(system), runtime=runtime,
            energy=fitted["energy"], source=source)
    return models


def _fit_group(grp: pd.DataFrame, form: str, cv_folds: int) -> dict[str, MetricModel | None]:
    """Fit every metric of one (model, system) group in ``form``.

    Raises:
        FitError: the group has too few distinct cells or rows for the form.
    """
    tin = grp["input_tokens"].to_numpy()
    tout = grp["output_tokens"].to_numpy()
    f = get_form(form)
    fitted: dict[str, MetricModel | None] = {}
    for metric, col in METRICS.items():
        y = grp[col].to_numpy(dtype=np.float64)
        ok = np.isfinite(y)
        if metric == "energy" and not ok.any():
            fitted[metric] = None
            continue
        if not form_supported(f, tin[ok], tout[ok]):
            n_cells = len(np.unique(np.stack([tin[ok], tout[ok]]), axis=1).T)
            raise FitError(f"{metric}: form {form!r} needs at least {len(f.features)} distinct "
                           f"(input_tokens, output_tokens) cells, got {n_cells}")
        try:
            fitted[metric] = fit_metric(metric, tin[ok], tout[ok], y[ok], form, cv_folds)
        except FitError as exc:
            raise FitError(f"{metric}: {exc}") from None
    return fitted


def coefficients_frame(models: dict[tuple[str, str], CostModel]) -> pd.DataFrame:
    """Tabulate fitted models in the fitted-coefficients CSV format (one row per metric)."""
    rows = []
    for cm in models.values():
        for m in (cm.energy, cm.runtime):
            if m is None:
                continue
            row: dict[str, object] = {"model": cm.model, "system": cm.system,
                                      "metric": m.metric, "form": m.form}
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


def _stat(value) -> float:
    """A fit statistic read back from a coefficients table: NaN where the cell is empty."""
    opt = _opt(value)
    return float("nan") if opt is None else opt


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
            stats = FitStats(r2=_stat(row.get("r2")), mape=_stat(row.get("mape")), n=int(n),
                             cv_mape=_stat(row.get("cv_mape")))  # empty: not computed (--cv 0)
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


def load_cost_models(path: str | os.PathLike[str], form: str | None = None
                     ) -> dict[tuple[str, str], CostModel]:
    """Load cost models from a fitted-coefficients CSV or fit them from a measurement table.

    The file kind is told by its columns: a ``metric`` column means fitted coefficients
    (as written by ``offline-sched fit``). A coefficients file is filtered to ``form``; with
    ``form=None`` each (model, system) keeps the rows of its ``default`` form where it has
    them, else of the one form it has. A measurement table is fitted in ``form`` (``None``:
    the default form, see :func:`fit`).
    """
    frame = read_frame(path)
    if "metric" in frame.columns:
        if "form" in frame.columns and form is not None:
            frame = frame[frame["form"] == form]
            if frame.empty:
                raise InputError(f"{path}: no coefficients of form {form!r}")
        elif {"form", "model", "system"} <= set(frame.columns) and not frame.empty:
            pair = frame["model"].astype(str) + "\0" + frame["system"].astype(str)
            has_default = (frame["form"] == DEFAULT_FORM).groupby(pair).transform("any")
            first = frame.groupby(pair)["form"].transform("first")
            frame = frame[frame["form"] == first.where(~has_default, DEFAULT_FORM)]
        return models_from_coefficients(frame, source=str(path))
    return fit(frame, form=form or DEFAULT_FORM, source=str(path))
