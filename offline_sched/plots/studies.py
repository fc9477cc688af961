"""Figures of the studies in :mod:`offline_sched.studies.lam_sweep`.

* :func:`plot_sweep` — energy against mean runtime (or accuracy) for every (λ, policy) row of
  a sweep: the MILP's Pareto frontier as a line through its λ points, the other policies as
  points (hollow where the schedule breaks a capacity or share bound); the view is limited
  to the MILP and the feasible points, and the policies left outside are named.
* :func:`plot_sweep_lambda` — energy, mean runtime and (when present) accuracy against λ, one
  line per policy.
* :func:`plot_thresholds` — the e-Energy study: total energy and mean runtime as the input,
  output and product thresholds move, with the all-small and all-GPU lines, the MILP's
  result and the best threshold marked.

matplotlib is an optional extra (``pip install 'offline-sched[plot]'``), imported only when a
figure is drawn; figures are rendered off-screen through ``matplotlib.figure.Figure`` and
written atomically (temporary file, then rename).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.atomic import atomic_path
from ..studies import second_metric
from .common import figure_class

DPI = 100
_LABELS = {"energy_kwh": "total energy [kWh]", "mean_runtime_s": "mean runtime per query [s]",
           "token_accuracy": "accuracy (token-weighted) [%]",
           "mean_accuracy": "accuracy (per query) [%]"}
_MARKERS = "osD^v<>phP*X"


def _save(fig, path: str | os.PathLike[str], dpi: int) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


def _values(frame: pd.DataFrame, col: str) -> np.ndarray:
    v = frame[col].to_numpy(dtype=np.float64)
    return 100.0 * v if col in ("token_accuracy", "mean_accuracy") else v


def _require(frame: pd.DataFrame, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(f"{what}: frame lacks column(s) {', '.join(missing)}")
    if frame.empty:
        raise InputError(f"{what}: empty frame")


def _metric(frame: pd.DataFrame, metric: str | None) -> str:
    if metric in (None, "auto"):
        return second_metric(frame)
    aliases = {"runtime": "mean_runtime_s", "accuracy": "token_accuracy"}
    metric = aliases.get(metric, metric)
    if metric not in frame.columns or not frame[metric].notna().any():
        raise InputError(f"plot metric {metric!r}: not in the sweep (accuracy needs systems "
                         "with accuracies)")
    return metric


def _zoom(ax, frame: pd.DataFrame, metric: str) -> list[str]:
    """Limit the axes to the MILP and the feasible points; name the policies left outside."""
    keep = frame[(frame["policy"] == "milp") | frame["feasible"].astype(bool)]
    if keep.empty:
        return []
    x, y = _values(keep, "energy_kwh"), _values(keep, metric)
    box = []
    for v in (x, y):
        lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
        pad = max(0.08 * (hi - lo), 0.02 * max(abs(lo), abs(hi), 1e-12))
        box.append((lo - pad, hi + pad))
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])
    fx, fy = _values(frame, "energy_kwh"), _values(frame, metric)
    out = ~((fx >= box[0][0]) & (fx <= box[0][1]) & (fy >= box[1][0]) & (fy <= box[1][1]))
    return list(dict.fromkeys(frame.loc[out, "policy"]))


def plot_sweep(frame: pd.DataFrame, path: str | os.PathLike[str], metric: str | None = None,
               title: str | None = None, dpi: int = DPI, zoom: bool = True) -> Path:
    """Energy vs runtime (or accuracy) of every (λ, policy) of a sweep.

    Args:
        frame: a :func:`offline_sched.studies.lam_sweep.sweep` result.
        path: PNG to write.
        metric: ``runtime``, ``accuracy`` or a column name (default: see
            :func:`offline_sched.studies.lam_sweep.second_metric`).
        title: figure title.
        dpi: resolution.
        zoom: limit the axes to the MILP and the feasible points (the policies left outside
            are named under the plot).

    Returns:
        The written path.

    Raises:
        InputError: matplotlib missing, or a frame without the needed columns.
    """
    figure_cls = figure_class()
    _require(frame, ["policy", "lam", "energy_kwh", "feasible"], "plot_sweep")
    metric = _metric(frame, metric)
    fig = figure_cls(figsize=(8.5, 5.0))
    ax = fig.subplots()
    others = [p for p in dict.fromkeys(frame["policy"]) if p != "milp"]
    for i, policy in enumerate(others):
        rows = frame[frame["policy"] == policy]
        ok = rows["feasible"].to_numpy(dtype=bool)
        x, y = _values(rows, "energy_kwh"), _values(rows, metric)
        marker = _MARKERS[i % len(_MARKERS)]
        color = f"C{(i + 1) % 10}"
        if ok.any():
            ax.scatter(x[ok], y[ok], s=28, marker=marker, color=color, alpha=0.8, label=policy)
        if (~ok).any():
            ax.scatter(x[~ok], y[~ok], s=28, marker=marker, facecolors="none",
                       edgecolors=color, alpha=0.8, label="_" if ok.any() else policy)
    milp = frame[frame["policy"] == "milp"].sort_values("lam", kind="stable")
    if not milp.empty:
        x, y = _values(milp, "energy_kwh"), _values(milp, metric)
        ax.plot(x, y, "-o", color="black", lw=2, ms=4, label="milp (Pareto frontier)", zorder=5)
        lam = milp["lam"].to_numpy(dtype=np.float64)
        view = frame[(frame["policy"] == "milp") | frame["feasible"].astype(bool)]
        span = (max(np.ptp(_values(view, "energy_kwh")), 1e-12),
                max(np.ptp(_values(view, metric)), 1e-12))
        labelled: list[tuple[float, float]] = []
        for idx in (0, len(milp) // 2, len(milp) - 1):
            near = [j for j in range(len(milp)) if abs(x[j] - x[idx]) <= 0.02 * span[0]
                    and abs(y[j] - y[idx]) <= 0.02 * span[1]]
            if any(abs(px - x[idx]) <= 0.02 * span[0] and abs(py - y[idx]) <= 0.02 * span[1]
                   for px, py in labelled):
                continue
            lo, hi = lam[near].min(), lam[near].max()
            text = f"λ={lo:g}" if lo == hi else f"λ={lo:g}…{hi:g}"
            ax.annotate(text, (x[idx], y[idx]), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
            labelled.append((x[idx], y[idx]))
    ax.set_xlabel(_LABELS["energy_kwh"])
    ax.set_ylabel(_LABELS.get(metric, metric))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
              title="hollow: infeasible", title_fontsize=7)
    outside = _zoom(ax, frame, metric) if zoom else []
    if outside:
        fig.text(0.01, 0.01, "outside the view: " + ", ".join(outside), fontsize=7,
                 color="dimgrey")
    lams = frame["lam"].to_numpy(dtype=np.float64)
    what = "accuracy" if "accuracy" in metric else "runtime"
    ax.set_title(title or f"energy vs {what}, λ = {lams.min():g} … {lams.max():g}",
                 fontsize=10)
    fig.subplots_adjust(left=0.1, right=0.74, bottom=0.14, top=0.92)
    return _save(fig, path, dpi)


def plot_sweep_lambda(frame: pd.DataFrame, path: str | os.PathLike[str],
                      policies: list[str] | None = None, title: str | None = None,
                      dpi: int = DPI) -> Path:
    """Energy, mean runtime and (for accuracy studies) accuracy against λ, one line per policy.

    Args:
        frame: a :func:`offline_sched.studies.lam_sweep.sweep` result.
        path: PNG to write.
        policies: policies to draw (default: all in the frame).
        title: figure title.
        dpi: resolution.

    Returns:
        The written path.

    Raises:
        InputError: matplotlib missing, or a frame without the needed columns.
    """
    figure_cls = figure_class()
    _require(frame, ["policy", "lam", "energy_kwh", "mean_runtime_s"], "plot_sweep_lambda")
    metrics = ["energy_kwh", "mean_runtime_s"]
    if second_metric(frame) == "token_accuracy":
        metrics.append("token_accuracy")
    names = policies or list(dict.fromkeys(frame["policy"]))
    fig = figure_cls(figsize=(4.0 * len(metrics) + 1.8, 3.8))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        for i, policy in enumerate(names):
            rows = frame[frame["policy"] == policy].sort_values("lam", kind="stable")
            if rows.empty:
                continue
            milp = policy == "milp"
            ax.plot(rows["lam"], _values(rows, metric), "-" if milp else "--",
                    marker="o" if milp else _MARKERS[i % len(_MARKERS)], ms=3,
                    lw=2.2 if milp else 1.2, color="black" if milp else f"C{i % 10}",
                    label=policy)
        ax.set_xlabel("λ (weight of energy)")
        ax.set_ylabel(_LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.84, bottom=0.14, top=0.88, wspace=0.35)
    return _save(fig, path, dpi)


def plot_thresholds(frame: pd.DataFrame, path: str | os.PathLike[str],
                    title: str | None = None, dpi: int = DPI) -> Path:
    """The e-Energy threshold study: energy and mean runtime against each threshold.

    One column per feature; rows: total energy, mean runtime. Dashed lines: the reference
    schedules (all on the GPU system, all on the small system); dotted black line: the MILP;
    star: the threshold the ``threshold-*`` policy picks; grey: thresholds whose schedule
    breaks a capacity or share bound.

    Args:
        frame: a :func:`offline_sched.studies.thresholds.threshold_study` result (rows of kind
            ``threshold``; ``reference`` and ``milp`` rows are optional).
        path: PNG to write.
        title: figure title.
        dpi: resolution.

    Returns:
        The written path.

    Raises:
        InputError: matplotlib missing, or a frame without threshold rows.
    """
    figure_cls = figure_class()
    _require(frame, ["kind", "feature", "threshold", "energy_kwh", "mean_runtime_s",
                     "feasible"], "plot_thresholds")
    thr = frame[frame["kind"] == "threshold"]
    if thr.empty:
        raise InputError("plot_thresholds: no threshold rows")
    features = list(dict.fromkeys(thr["feature"]))
    refs = frame[frame["kind"] == "reference"]
    milp = frame[frame["kind"] == "milp"]
    fig = figure_cls(figsize=(max(4.2 * len(features) + 0.4, 6.4), 6.4), layout="constrained")
    axes = fig.subplots(2, len(features), squeeze=False)
    for col, feature in enumerate(features):
        rows = thr[thr["feature"] == feature].sort_values("threshold", kind="stable")
        ok = rows["feasible"].to_numpy(dtype=bool)
        x = rows["threshold"].to_numpy(dtype=np.float64)
        best = rows[rows["best"]] if "best" in rows.columns else rows.iloc[:0]
        for row, metric in enumerate(["energy_kwh", "mean_runtime_s"]):
            ax = axes[row, col]
            y = _values(rows, metric)
            marker = "." if len(x) <= 60 else None
            ax.plot(x, np.where(ok, y, np.nan), "-", color="C0", lw=1.8, marker=marker,
                    label="hybrid (threshold)")
            if (~ok).any():
                ax.plot(x, np.where(ok, np.nan, y), "-", color="grey", lw=1.2, marker=marker,
                        alpha=0.8, label="hybrid, breaks capacity")
            for j, (_, ref) in enumerate(refs.iterrows()):
                ax.axhline(_values(ref.to_frame().T, metric)[0], ls="--", lw=1.2,
                           color=("C2", "C3")[j % 2], label=ref["policy"])
            if not milp.empty:
                ax.axhline(_values(milp, metric)[0], ls=":", lw=1.8, color="black",
                           label="milp")
            if not best.empty:
                ax.plot(best["threshold"], _values(best, metric), "*", ms=13, color="C1",
                        zorder=6, label="best τ")
            ax.set_xscale("symlog", linthresh=1.0)
            ax.grid(alpha=0.3)
            ax.set_ylabel(_LABELS[metric])
            if row == 1:
                unit = "tokens²" if feature == "product" else "tokens"
                ax.set_xlabel(f"{feature} threshold τ [{unit}]")
            if row == 0:
                star = f": best τ = {best['threshold'].iloc[0]:g}" if not best.empty else ""
                ax.set_title(f"{feature} threshold{star}", fontsize=10)
            if row == 0 and col == 0:
                ax.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path, dpi)


__all__ = ["plot_sweep", "plot_sweep_lambda", "plot_thresholds"]
