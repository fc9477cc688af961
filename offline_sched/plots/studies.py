"""Figures of the studies in :mod:`offline_sched.studies.lam_sweep`.

* :func:`plot_sweep` — energy against mean runtime (or accuracy) for every (λ, policy) row of
  a sweep: the MILP's Pareto frontier as a line through its λ points (λ labels placed where
  they cover no point), the other policies as points (hollow where the schedule breaks a
  capacity or share bound). Every policy is drawn in a full view; when the MILP and the
  feasible points sit in a small corner of it, a second panel zooms on them.
* :func:`plot_sweep_lambda` — energy, mean runtime and (when present) accuracy against λ, one
  line per policy; lines that coincide stay distinguishable (dash pattern, markers at
  alternating λ) and are named as such in the legend.
* :func:`plot_thresholds` — the e-Energy study: total energy and mean runtime as the input,
  output and product thresholds move, with the all-small and all-GPU lines (marked
  infeasible where they break a bound), the MILP's result (drawn above the references) and
  the best threshold marked; the feasible thresholds are shaded.

The ``*_figure`` functions build the :class:`matplotlib.figure.Figure` without writing it.
matplotlib is an optional extra (``pip install 'offline-sched[plot]'``), imported only when a
figure is drawn; figures are rendered off-screen through ``matplotlib.figure.Figure`` and
written atomically (temporary file, then rename). Legends sit inside the figure.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.atomic import atomic_path
from ..studies import second_metric
from .common import figure_class, freeze_layout, token_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100
_LABELS = {"energy_kwh": "total energy [kWh]", "mean_runtime_s": "mean runtime per query [s]",
           "token_accuracy": "accuracy (token-weighted) [%]",
           "mean_accuracy": "accuracy (per query) [%]"}
_MARKERS = "osD^v<>phP*X"
_COLORS = ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C0", "teal",
           "darkgoldenrod", "navy", "magenta")
_DASHES = ("--", "-.", ":", (0, (6, 2, 1, 2, 1, 2)), (0, (3, 1)), (0, (8, 3)),
           (0, (1, 1)))
Z_BAND, Z_REFERENCE, Z_POLICY, Z_MILP, Z_BEST, Z_LABEL = 0.5, 2.0, 3.0, 5.0, 6.0, 7.0
"""Drawing order: shading, reference lines, policies, the MILP, the best τ, labels."""
HOLLOW_NOTE = "filled: feasible · hollow: breaks a capacity or share bound"


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


def _feasible(frame: pd.DataFrame) -> np.ndarray:
    if "feasible" not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    return frame["feasible"].fillna(False).astype(bool).to_numpy()


def _box(x: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
    """Padded (low, high) limits of each coordinate (non-finite values ignored)."""
    box = []
    for v in (x, y):
        v = v[np.isfinite(v)]
        if v.size == 0:
            box.append((0.0, 1.0))
            continue
        lo, hi = float(v.min()), float(v.max())
        pad = max(0.07 * (hi - lo), 0.02 * max(abs(lo), abs(hi), 1e-12))
        box.append((lo - pad, hi + pad))
    return box


def _twins(frame: pd.DataFrame, names: list[str], cols: list[str],
           spans: list[float], tol: float = 0.005) -> dict[str, str]:
    """Policies drawn on top of an earlier one: every λ point within ``tol`` of each span.

    Returns ``{policy: "= other"}`` (same values) or ``{policy: "≈ other"}``, ``other`` being
    the first policy of the group, for the legend.
    """
    points = {}
    for name in names:
        rows = frame[frame["policy"] == name].sort_values("lam", kind="stable")
        points[name] = (rows["lam"].to_numpy(dtype=np.float64),
                        np.column_stack([_values(rows, c) for c in cols]))
    limit = tol * np.asarray(spans, dtype=np.float64)
    out: dict[str, str] = {}
    for i, name in enumerate(names):
        lam, v = points[name]
        found: dict[str, str] = {}
        for other in names[:i]:
            lam_o, v_o = points[other]
            if lam.shape != lam_o.shape or not np.array_equal(lam, lam_o):
                continue
            both_nan = np.isnan(v) & np.isnan(v_o)
            diff = np.abs(np.nan_to_num(v - v_o, nan=np.inf))
            if np.all((diff <= 1e-9 * np.maximum(np.abs(np.nan_to_num(v_o)), 1.0))
                      | both_nan):
                found.setdefault("=", other)
            elif other not in out and np.all((diff <= limit) | both_nan):
                found.setdefault("≈", other)
        for sign in ("=", "≈"):  # an exact twin names the group before a near one
            if sign in found:
                out[name] = f"{sign} {found[sign]}"
                break
    return out


def _within(rows: pd.DataFrame, cols: list[str], box: list[tuple[float, float]]) -> bool:
    """Whether every point of ``rows`` lies inside ``box``."""
    return all(bool(np.all((_values(rows, c) >= lo) & (_values(rows, c) <= hi)))
               for c, (lo, hi) in zip(cols, box, strict=True))


def _label(name: str, notes: list[str]) -> str:
    notes = [n for n in notes if n]
    return f"{name} ({'; '.join(notes)})" if notes else name


def _infeasible_note(ok: np.ndarray) -> str:
    if ok.all():
        return ""
    return "infeasible" if not ok.any() else "infeasible at some λ"


def _data_points(ax: Any) -> np.ndarray:
    """Rows ``(x, y, r)``: display position and radius (px) of what ``ax`` draws.

    Every marker, and points every ~3 px along every line (radius: half the line width).
    """
    px_per_pt = ax.figure.dpi / 72.0
    pts = [np.empty((0, 3))]
    for coll in ax.collections:
        offsets = np.asarray(coll.get_offsets(), dtype=np.float64).reshape(-1, 2)
        offsets = offsets[np.isfinite(offsets).all(axis=1)]
        if len(offsets):
            sizes = np.asarray(coll.get_sizes(), dtype=np.float64)
            radius = 0.5 * np.sqrt(sizes.max() if sizes.size else 36.0) * px_per_pt
            xy = coll.get_offset_transform().transform(offsets)
            pts.append(np.column_stack([xy, np.full(len(xy), radius)]))
    for line in ax.lines:
        xy = np.asarray(line.get_xydata(), dtype=np.float64).reshape(-1, 2)
        xy = line.get_transform().transform(xy)
        has_marker = line.get_marker() not in (None, "None", "none", "", " ")
        marker_r = 0.5 * line.get_markersize() * px_per_pt if has_marker else 0.0
        line_r = 0.5 * line.get_linewidth() * px_per_pt
        drawn = line.get_linestyle() not in ("None", "none", "", " ")
        for part in np.split(xy, np.flatnonzero(~np.isfinite(xy).all(axis=1))):
            part = part[np.isfinite(part).all(axis=1)]
            pts.append(np.column_stack([part, np.full(len(part), max(marker_r, line_r))]))
            if not drawn:
                continue
            for a, b in zip(part[:-1], part[1:], strict=True):
                k = int(min(np.hypot(*(b - a)) // 3.0, 1000))
                if k:
                    mid = a + (b - a) * (np.arange(1, k + 1) / (k + 1))[:, None]
                    pts.append(np.column_stack([mid, np.full(k, line_r)]))
    return np.concatenate(pts)


_SPOTS = [(r * ux, r * uy) for r in (6.0, 11.0, 18.0, 28.0)
          for ux, uy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (1.3, 0), (-1.3, 0), (0, 1.3),
                         (0, -1.3))]


def _place_labels(ax: Any, renderer: Any, anchors: list[tuple[float, float, str]],
                  fontsize: float = 7.5) -> list[Any]:
    """Annotate each ``(x, y, text)`` at the nearby spot that covers the fewest data points.

    A spot must lie inside the axes; among those, the one covering fewest markers, line
    points and earlier labels wins, the nearest first on ties. No data is moved.
    """
    bounds = ax.get_window_extent(renderer)
    points = _data_points(ax)
    taken: list[Any] = []
    made: list[Any] = []
    for x, y, text in anchors:
        best: tuple[tuple[bool, int, int], float, float, str, str] | None = None
        for rank, (dx, dy) in enumerate(_SPOTS):
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
            ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                              ha=ha, va=va, fontsize=fontsize, zorder=Z_LABEL)
            box = ann.get_window_extent(renderer)
            ann.remove()
            inside = (box.x0 >= bounds.x0 and box.x1 <= bounds.x1 and box.y0 >= bounds.y0
                      and box.y1 <= bounds.y1)
            px, py, pr = points[:, 0], points[:, 1], points[:, 2] + 2.0
            covered = int(np.sum((px >= box.x0 - pr) & (px <= box.x1 + pr)
                                 & (py >= box.y0 - pr) & (py <= box.y1 + pr)))
            clash = sum(box.overlaps(t) for t in taken)
            score = (not inside, covered + 10 * clash, rank)
            if best is None or score < best[0]:
                best = (score, dx, dy, ha, va)
        assert best is not None  # _SPOTS is not empty
        _, dx, dy, ha, va = best
        ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha,
                          va=va, fontsize=fontsize, zorder=Z_LABEL,
                          arrowprops=(dict(arrowstyle="-", lw=0.6, color="dimgrey",
                                           shrinkA=0, shrinkB=2)
                                      if max(abs(dx), abs(dy)) > 12 else None))
        taken.append(ann.get_window_extent(renderer))
        made.append(ann)
    return made


def _lam_anchors(ax: Any, milp: pd.DataFrame, metric: str) -> list[tuple[float, float, str]]:
    """One λ label per run of consecutive MILP points that fall within 8 px of each other."""
    x, y = _values(milp, "energy_kwh"), _values(milp, metric)
    lam = milp["lam"].to_numpy(dtype=np.float64)
    disp = ax.transData.transform(np.column_stack([x, y]))
    groups = [[0]]
    for j in range(1, len(milp)):
        if np.hypot(*(disp[j] - disp[groups[-1][0]])) <= 8.0:
            groups[-1].append(j)
        else:
            groups.append([j])
    if len(groups) > 8:
        keep = {0, len(groups) // 2, len(groups) - 1}
        groups = [g for i, g in enumerate(groups) if i in keep]
    anchors = []
    for g in groups:
        lo, hi = lam[g].min(), lam[g].max()
        text = f"λ={lo:g}" if lo == hi else f"λ={lo:g}…{hi:g}"
        anchors.append((float(x[g[0]]), float(y[g[0]]), text))
    if len(groups) == 1 and len(milp) > 1:
        anchors[0] = (*anchors[0][:2], f"milp: {anchors[0][2]} (one point)")
    return anchors


def sweep_figure(frame: pd.DataFrame, metric: str | None = None, title: str | None = None,
                 zoom: bool = True, dpi: int = DPI) -> Figure:
    """The figure of :func:`plot_sweep`, not written (arguments as there)."""
    figure_cls = figure_class()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    _require(frame, ["policy", "lam", "energy_kwh", "feasible"], "plot_sweep")
    metric = _metric(frame, metric)
    feasible = _feasible(frame)
    is_milp = (frame["policy"] == "milp").to_numpy()
    full = _box(_values(frame, "energy_kwh"), _values(frame, metric))
    view = frame[is_milp | feasible]
    near = _box(_values(view, "energy_kwh"), _values(view, metric)) if len(view) else None
    two = bool(zoom and near is not None
               and any(n[1] - n[0] < 0.5 * (f[1] - f[0]) for n, f in zip(near, full,
                                                                        strict=True)))
    others = [p for p in dict.fromkeys(frame["policy"]) if p != "milp"]
    fig = figure_cls(figsize=(13.0 if two else 8.0, 6.4), dpi=dpi, layout="constrained")
    axes = list(fig.subplots(1, 2 if two else 1, squeeze=False)[0])
    cols = ["energy_kwh", metric]
    twins = _twins(frame, others, cols, [f[1] - f[0] for f in full])
    if two:  # policies both inside the zoom coincide only if they do there
        assert near is not None
        inside = [p for p in others if _within(frame[frame["policy"] == p], cols, near)]
        close = _twins(frame, inside, cols, [n[1] - n[0] for n in near])
        for p in inside:
            if p in twins and twins[p].split(" ", 1)[1] in inside:
                twins.pop(p)
                if p in close:
                    twins[p] = close[p]
    handles = []
    milp = frame[is_milp].sort_values("lam", kind="stable")
    if not milp.empty:
        x, y = _values(milp, "energy_kwh"), _values(milp, metric)
        for ax in axes:
            ax.plot(x, y, "-o", color="black", lw=2, ms=4, zorder=Z_MILP, gid="milp")
        handles.append(Line2D([], [], color="black", lw=2, marker="o", ms=4,
                              label="milp (Pareto frontier over λ)"))
    for i, policy in enumerate(others):
        rows = frame[frame["policy"] == policy]
        ok = _feasible(rows)
        x, y = _values(rows, "energy_kwh"), _values(rows, metric)
        marker, color = _MARKERS[i % len(_MARKERS)], _COLORS[i % len(_COLORS)]
        # earlier policies get larger markers: points that coincide show as nested shapes
        area = 100.0 - 65.0 * i / max(len(others) - 1, 1)
        for ax in axes:
            if ok.any():
                ax.scatter(x[ok], y[ok], s=area, marker=marker, color=color, alpha=0.85,
                           linewidths=0.8, zorder=Z_POLICY + 0.2, gid=policy)
            if (~ok).any():
                ax.scatter(x[~ok], y[~ok], s=area, marker=marker, facecolors="none",
                           edgecolors=color, linewidths=1.3, zorder=Z_POLICY, gid=policy)
        handles.append(Line2D([], [], ls="none", marker=marker, ms=7, mec=color, mew=1.3,
                              mfc=color if ok.any() else "none",
                              label=_label(policy, [_infeasible_note(ok),
                                                    twins.get(policy, "")])))
    axes[0].set_xlim(*full[0])
    axes[0].set_ylim(*full[1])
    if two:
        assert near is not None
        axes[1].set_xlim(*near[0])
        axes[1].set_ylim(*near[1])
        axes[0].add_patch(Rectangle((near[0][0], near[1][0]), near[0][1] - near[0][0],
                                    near[1][1] - near[1][0], fill=False, ls="--", lw=1.0,
                                    ec="dimgrey", zorder=Z_BAND))
        axes[0].set_title("every policy (dashed box: the zoom at right)", fontsize=9)
        axes[1].set_title("zoom: the MILP and the feasible policies", fontsize=9)
    for ax in axes:
        ax.set_xlabel(_LABELS["energy_kwh"])
        ax.set_ylabel(_LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
    lams = frame["lam"].to_numpy(dtype=np.float64)
    what = "accuracy" if "accuracy" in metric else "runtime"
    fig.suptitle(title or f"energy vs {what}, λ = {lams.min():g} … {lams.max():g}",
                 fontsize=11)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles),
                                                                     4 if two else 2),
               fontsize=8, frameon=False, title=HOLLOW_NOTE, title_fontsize=8)
    renderer = freeze_layout(fig)
    if not milp.empty:
        _place_labels(axes[-1], renderer, _lam_anchors(axes[-1], milp, metric))
    return fig


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
        zoom: when the MILP and the feasible points fill less than half of the full view
            (in either direction), add a panel that zooms on them.

    Returns:
        The written path.

    Raises:
        InputError: matplotlib missing, or a frame without the needed columns.
    """
    return _save(sweep_figure(frame, metric, title, zoom, dpi), path, dpi)


def sweep_lambda_figure(frame: pd.DataFrame, policies: list[str] | None = None,
                        title: str | None = None, dpi: int = DPI) -> Figure:
    """The figure of :func:`plot_sweep_lambda`, not written (arguments as there)."""
    figure_cls = figure_class()
    from matplotlib.lines import Line2D

    _require(frame, ["policy", "lam", "energy_kwh", "mean_runtime_s"], "plot_sweep_lambda")
    metrics = ["energy_kwh", "mean_runtime_s"]
    if second_metric(frame) == "token_accuracy":
        metrics.append("token_accuracy")
    names = [p for p in (policies or list(dict.fromkeys(frame["policy"])))
             if (frame["policy"] == p).any()]
    others = [p for p in names if p != "milp"]
    shown = frame[frame["policy"].isin(names)]
    spans = [float(np.nanmax(v) - np.nanmin(v)) if np.isfinite(v).any() else 1.0
             for v in (_values(shown, m) for m in metrics)]
    twins = _twins(shown, others, metrics, spans, tol=0.01)
    n_lam = int(shown["lam"].nunique())
    # markers at alternating λ (policy j at every step-th λ from the j-th), so lines that
    # coincide still show each policy's markers
    step = len(others) if len(others) > 1 and n_lam >= 2 * len(others) else 1
    fig = figure_cls(figsize=(4.3 * len(metrics) + 2.6, 4.2), dpi=dpi, layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    handles = []
    for k, (ax, metric) in enumerate(zip(axes, metrics, strict=True)):
        for policy in names:
            rows = shown[shown["policy"] == policy].sort_values("lam", kind="stable")
            lam, y, ok = rows["lam"].to_numpy(dtype=np.float64), _values(rows, metric), \
                _feasible(rows)
            if policy == "milp":
                ax.plot(lam, y, "-", marker="o", ms=3.5, lw=2.4, color="black", zorder=Z_MILP,
                        gid="milp")
                ax.plot(lam[~ok], y[~ok], ls="none", marker="o", ms=5, mfc="white",
                        mec="black", zorder=Z_MILP + 0.1, gid="milp:markers")
                if k == 0:
                    handles.append(Line2D([], [], color="black", lw=2.4, marker="o", ms=3.5,
                                          label=_label("milp", [_infeasible_note(ok)])))
                continue
            j = others.index(policy)
            color, marker = _COLORS[j % len(_COLORS)], _MARKERS[j % len(_MARKERS)]
            dash = _DASHES[j % len(_DASHES)]
            ax.plot(lam, y, ls=dash, lw=1.5, color=color, zorder=Z_POLICY, gid=policy)
            sel = (np.arange(len(rows)) % step) == (j % step)
            ax.plot(lam[sel & ok], y[sel & ok], ls="none", marker=marker, ms=6, color=color,
                    zorder=Z_POLICY + 0.2, gid=f"{policy}:markers")
            ax.plot(lam[sel & ~ok], y[sel & ~ok], ls="none", marker=marker, ms=6,
                    mfc="white", mec=color, mew=1.3, zorder=Z_POLICY + 0.2,
                    gid=f"{policy}:markers")
            if k == 0:
                handles.append(Line2D([], [], ls=dash, lw=1.5, color=color, marker=marker,
                                      ms=6, mec=color, mew=1.3,
                                      mfc=color if ok.any() else "white",
                                      label=_label(policy, [_infeasible_note(ok),
                                                            twins.get(policy, "")])))
        ax.set_xlabel("λ (weight of energy in the objective)")
        ax.set_ylabel(_LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
    fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False,
               title=HOLLOW_NOTE.replace(" · ", "\n"), title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


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
    return _save(sweep_lambda_figure(frame, policies, title, dpi), path, dpi)


def _runs(ok: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` index of each run of True in ``ok``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _feasible_text(x: np.ndarray, ok: np.ndarray) -> str:
    if ok.all():
        return ""
    if not ok.any():
        return "no feasible τ"
    runs = _runs(ok)
    lo, hi = f"{x[runs[0][0]]:g}", f"{x[runs[-1][1]]:g}"
    if len(runs) == 1:
        return f"feasible for τ = {lo} … {hi}" if lo != hi else f"feasible only at τ = {lo}"
    return f"feasible for {int(ok.sum())} of {len(ok)} τ in {lo} … {hi}"


def _threshold_axis(ax: Any, x: np.ndarray) -> None:
    """Log τ axis (symlog when τ = 0 is scored), ticks reading 0, 1, 10, 100, 1k, …."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    finite = x[np.isfinite(x)]
    if finite.size and finite.min() <= 0:
        ax.set_xscale("symlog", linthresh=1.0, linscale=0.5)
        top = int(np.ceil(np.log10(max(float(finite.max()), 1.0))))
        ticks = [0.0] + [10.0 ** k for k in range(1 if top >= 5 else 0, top + 1)]
    else:
        ax.set_xscale("log")
        ticks = []
    if 1 < len(np.unique(finite)) <= 12:  # few thresholds scored: tick each one
        ticks = [float(v) for v in np.unique(finite)]
    if ticks:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(token_label))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _widened(ax: Any, x: np.ndarray, lo: float, hi: float, least: float = 0.012
             ) -> tuple[float, float]:
    """``(lo, hi)`` widened about its middle to at least ``least`` of the τ axis.

    Measured in the axis' log/symlog scale, so that a feasible range of one or a few
    thresholds stays visible.
    """
    finite = x[np.isfinite(x)]
    scale = ax.xaxis.get_transform()
    t = np.asarray(scale.transform(np.array([[finite.min()], [finite.max()], [lo], [hi]],
                                            dtype=np.float64))).ravel()
    need = least * (t[1] - t[0])
    if t[3] - t[2] >= need or need <= 0:
        return lo, hi
    mid = 0.5 * (t[2] + t[3])
    back = np.asarray(scale.inverted().transform(np.array([[mid - need / 2],
                                                           [mid + need / 2]]))).ravel()
    return float(back[0]), float(back[1])


def _infeasible_tag(ax: Any, level: float, name: str, color: str, curve: np.ndarray) -> None:
    """Write "<name>: infeasible" on a reference line, at the left.

    Below the upper line and above the lower one: the curve meets the all-GPU line at τ = 0
    and the all-small line only at large τ, so the text stays clear of it.
    """
    finite = curve[np.isfinite(curve)]
    mid = 0.5 * (float(finite.min()) + float(finite.max())) if finite.size else level
    upper = level >= mid  # the upper reference: tag below it, at the left
    ax.annotate(f"{name}: infeasible", (0.02, level), xycoords=("axes fraction", "data"),
                xytext=(0, -3 if upper else 3), textcoords="offset points", ha="left",
                va="top" if upper else "bottom", fontsize=7, color=color, zorder=Z_LABEL,
                fontweight="bold")


def thresholds_figure(frame: pd.DataFrame, title: str | None = None, dpi: int = DPI
                      ) -> Figure:
    """The figure of :func:`plot_thresholds`, not written (arguments as there)."""
    figure_cls = figure_class()
    _require(frame, ["kind", "feature", "threshold", "energy_kwh", "mean_runtime_s",
                     "feasible"], "plot_thresholds")
    thr = frame[frame["kind"] == "threshold"]
    if thr.empty:
        raise InputError("plot_thresholds: no threshold rows")
    features = list(dict.fromkeys(thr["feature"]))
    refs = frame[frame["kind"] == "reference"]
    milp = frame[frame["kind"] == "milp"]
    ref_ok = _feasible(refs)
    metrics = ["energy_kwh", "mean_runtime_s"]
    # the MILP named with the reference it coincides with (it is drawn above it)
    spans = [float(np.nanmax(v) - np.nanmin(v)) or 1.0
             for v in (_values(frame, m) for m in metrics)]
    milp_notes = []
    if not milp.empty:
        mv = np.array([_values(milp, m)[0] for m in metrics])
        for _, ref in refs.iterrows():
            rv = np.array([_values(ref.to_frame().T, m)[0] for m in metrics])
            if np.all(np.abs(mv - rv) <= 1e-9 * np.maximum(np.abs(rv), 1.0)):
                milp_notes.append(f"= {ref['policy']}")
            elif np.all(np.abs(mv - rv) <= 0.005 * np.asarray(spans)):
                milp_notes.append(f"≈ {ref['policy']}")
        if not _feasible(milp).all():
            milp_notes.insert(0, "infeasible")
    fig = figure_cls(figsize=(max(4.5 * len(features) + 0.4, 6.6), 7.0), dpi=dpi,
                     layout="constrained")
    axes = fig.subplots(2, len(features), squeeze=False)
    for col, feature in enumerate(features):
        rows = thr[thr["feature"] == feature].sort_values("threshold", kind="stable")
        ok = _feasible(rows)
        x = rows["threshold"].to_numpy(dtype=np.float64)
        best = rows[rows["best"].fillna(False).astype(bool)] if "best" in rows.columns \
            else rows.iloc[:0]
        runs = _runs(ok) if not ok.all() else []
        for row, metric in enumerate(metrics):
            ax = axes[row, col]
            y = _values(rows, metric)
            _threshold_axis(ax, x)
            for n, (a, b) in enumerate(runs):
                ax.axvspan(*_widened(ax, x, x[a], x[b]), color="C0", alpha=0.13, lw=0,
                           zorder=Z_BAND, label="_" if n else "feasible τ (shaded)",
                           gid="feasible-band")
            marker = "o" if ok.sum() <= 60 else None
            if (~ok).any():
                ax.plot(x, np.where(ok, np.nan, y), "-", color="grey", lw=1.2, alpha=0.8,
                        marker="." if len(x) <= 60 else None, zorder=Z_POLICY,
                        label="hybrid, infeasible τ (breaks capacity)")
            ax.plot(x, np.where(ok, y, np.nan), "-", color="C0", lw=2.0, marker=marker,
                    ms=3.5, zorder=Z_POLICY + 0.5,
                    label="hybrid (threshold)" if ok.all() else "hybrid, feasible τ")
            for j, ((_, ref), good) in enumerate(zip(refs.iterrows(), ref_ok, strict=True)):
                level = _values(ref.to_frame().T, metric)[0]
                color = ("C2", "C3", "C4", "C5")[j % 4]
                # wide and translucent: a curve or the MILP on top leaves it visible
                ax.axhline(level, ls="--" if good else (0, (5, 1.5, 1, 1.5)), lw=4.5, alpha=0.5,
                           color=color, zorder=Z_REFERENCE, gid=f"reference:{ref['policy']}",
                           label=_label(str(ref["policy"]), [] if good else ["infeasible"]))
                if not good and np.isfinite(level):
                    _infeasible_tag(ax, level, str(ref["policy"]), color, y)
            if not milp.empty:
                ax.axhline(_values(milp, metric)[0], ls=":", lw=1.8, color="black", gid="milp",
                           zorder=Z_MILP, label=_label("milp", milp_notes))
            if not best.empty:
                ax.plot(best["threshold"], _values(best, metric), "*", ms=13, color="C1",
                        mec="black", mew=0.5, zorder=Z_BEST, label="best τ")
            ax.grid(alpha=0.3)
            ax.set_ylabel(_LABELS[metric])
            if row == 1:
                unit = "tokens²" if feature == "product" else "tokens"
                ax.set_xlabel(f"{feature} threshold τ [{unit}]")
            if row == 0:
                head = f"{feature} threshold"
                if not best.empty:
                    head += f": best τ = {float(best['threshold'].iloc[0]):g}"
                note = _feasible_text(x, ok)
                ax.set_title(head + (f"\n{note}" if note else ""), fontsize=9.5)
            if row == 0 and col == 0:
                ax.legend(fontsize=7, loc="best", framealpha=0.9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_thresholds(frame: pd.DataFrame, path: str | os.PathLike[str],
                    title: str | None = None, dpi: int = DPI) -> Path:
    """The e-Energy threshold study: energy and mean runtime against each threshold.

    One column per feature; rows: total energy, mean runtime. Dashed lines: the reference
    schedules (all on the GPU system, all on the small system), dash-dotted and named
    "infeasible" where they break a capacity or share bound; dotted black line, drawn above
    the references: the MILP; star: the threshold the ``threshold-*`` policy picks; blue and
    shaded: the thresholds whose schedule is feasible, grey: those that break a bound. The
    threshold axis is logarithmic (symlog when τ = 0 is scored), ticks reading 0, 1, 10, 1k.

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
    return _save(thresholds_figure(frame, title, dpi), path, dpi)


__all__ = ["plot_sweep", "plot_sweep_lambda", "plot_thresholds", "sweep_figure",
           "sweep_lambda_figure", "thresholds_figure"]
