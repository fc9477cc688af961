"""Diagnostic plots of fitted cost models: predicted vs measured, and relative residuals.

:func:`plot_fit` writes one PNG per (model, system) of a measurement table. Each figure has one
row per fitted metric (energy, runtime) and three panels:

* predicted vs measured on log–log axes, with the identity line and ±10 % band;
* relative residual (predicted − measured) / measured in per cent against τin;
* the same against τout.

The left panel shows the guarded predictions the scheduler uses (clipped at the metric's
floor, see :mod:`offline_sched.costs.model`); points where the raw prediction fell below the
floor are drawn as red crosses and counted in the panel title, together with R², MAPE and the
cross-validated MAPE. Residuals use the raw (unclipped) predictions, on a symmetric-log axis
when some exceed ±100 %.

matplotlib is an optional extra (``pip install 'offline-sched[plot]'``), imported only when a
plot is drawn; figures are rendered off-screen through ``matplotlib.figure.Figure`` (no pyplot
state, no display needed).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..costs.model import CostModel, MetricModel
from ..costs.tables import validate_table
from ..errors import InputError
from ..io.frames import read_frame
from .common import figure_class

_METRIC_COLUMNS = {"energy": ("energy_j", "energy [J]"), "runtime": ("runtime_s", "runtime [s]")}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def _title(m: MetricModel, clipped: int) -> str:
    parts = [f"{m.metric} ({m.form})"]
    if m.stats is not None:
        parts.append(f"R²={m.stats.r2:.3f}  MAPE={100 * m.stats.mape:.1f}%")
        if np.isfinite(m.stats.cv_mape):
            parts.append(f"CV MAPE={100 * m.stats.cv_mape:.1f}%")
    if clipped:
        parts.append(f"{clipped} clipped")
    return "  ".join(parts)


def _draw_metric(axes, m: MetricModel, tin: np.ndarray, tout: np.ndarray,
                 y: np.ndarray, label: str) -> None:
    pred = m.predict(tin, tout)
    low = m.clipped(tin, tout)
    resid = 100.0 * (m.raw(tin, tout) - y) / y
    ok = ~low
    ax = axes[0]
    ax.scatter(y[ok], pred[ok], s=10, alpha=0.6, label="prediction")
    if low.any():
        ax.scatter(y[low], pred[low], s=18, marker="x", color="red", label="clipped at floor")
    lo = float(min(y.min(), pred.min()))
    hi = float(max(y.max(), pred.max()))
    line = np.geomspace(lo, hi, 50)
    ax.plot(line, line, color="black", lw=0.8)
    ax.fill_between(line, 0.9 * line, 1.1 * line, color="grey", alpha=0.2, label="±10 %")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"measured {label}")
    ax.set_ylabel(f"predicted {label}")
    ax.set_title(_title(m, int(low.sum())), fontsize=8)
    ax.legend(fontsize=7, loc="upper left")
    for ax, x, name in ((axes[1], tin, "input tokens τin"), (axes[2], tout, "output tokens τout")):
        ax.scatter(x, resid, s=10, alpha=0.6)
        ax.axhline(0.0, color="black", lw=0.8)
        ax.axhspan(-10.0, 10.0, color="grey", alpha=0.2)
        ax.set_xscale("log")
        if np.abs(resid).max() > 100.0:  # e.g. the paper form: keep ±10 % readable
            ax.set_yscale("symlog", linthresh=10.0)
        ax.set_xlabel(name)
        ax.set_ylabel("residual (pred − meas) / meas [%]")


def plot_fit(models: dict[tuple[str, str], CostModel],
             table: pd.DataFrame | str | os.PathLike[str],
             out_dir: str | os.PathLike[str]) -> list[Path]:
    """Draw predicted-vs-measured and residual plots of fitted models on their table.

    Args:
        models: ``{(model, system): CostModel}``, e.g. from :func:`offline_sched.costs.fit.fit`.
        table: the measurement table the models were fitted on (DataFrame or path).
        out_dir: folder for the PNG files (created if missing).

    Returns:
        The written files, one ``fit_<model>_<system>.png`` per (model, system) that has
        rows in the table, in sorted order.

    Raises:
        InputError: matplotlib is not installed, the table is invalid, or no (model, system)
            of ``models`` has rows in the table.
    """
    figure_cls = figure_class()
    if isinstance(table, pd.DataFrame):
        tab = validate_table(table, source="<table>")
    else:
        tab = validate_table(read_frame(table), source=table)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    groups = dict(tuple(tab.groupby(["model", "system"], sort=True)))
    for key in sorted(models):
        grp = groups.get(key)
        if grp is None:
            continue
        cm = models[key]
        tin = grp["input_tokens"].to_numpy(dtype=np.float64)
        tout = grp["output_tokens"].to_numpy(dtype=np.float64)
        metrics = []
        for m in (cm.energy, cm.runtime):
            if m is None:
                continue
            col, label = _METRIC_COLUMNS[m.metric]
            y = grp[col].to_numpy(dtype=np.float64)
            ok = np.isfinite(y) & (y > 0)
            if ok.any():
                metrics.append((m, ok, y, label))
        if not metrics:
            continue
        height = 4.2 * len(metrics)
        fig = figure_cls(figsize=(15, height))
        fig.subplots_adjust(left=0.06, right=0.99, bottom=0.55 / height, top=1 - 0.6 / height,
                            wspace=0.28, hspace=0.45)
        axes = fig.subplots(len(metrics), 3, squeeze=False)
        for row, (m, ok, y, label) in zip(axes, metrics, strict=True):
            _draw_metric(row, m, tin[ok], tout[ok], y[ok], label)
        fig.suptitle(f"{cm.model} on {cm.system}: {len(grp)} measured queries")
        path = out / f"fit_{_slug(cm.model)}_{_slug(cm.system)}.png"
        fig.savefig(path, dpi=110)
        written.append(path)
    if not written:
        raise InputError("plot_fit: none of the fitted (model, system) pairs has rows in the "
                         "table")
    return written
