"""The study figures read at a glance: structure of the matplotlib Figures, not pixels.

The frames are built in code and shaped like the cases that read badly before: the bundled
``hybrid`` fleet on ``examples/day.csv`` (a one-point MILP frontier, most policies
infeasible and far away, several policies on the same point, all-A100 / all-M1 references
that break capacity, a feasible threshold range of a few τ) and the multi-LLM study
(round-robin on top of random, the MILP equal to a reference line).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

from offline_sched.plots.studies import (  # noqa: E402
    plot_thresholds,
    sweep_figure,
    sweep_lambda_figure,
    thresholds_figure,
)

LAMS = [0.0, 0.25, 0.5, 0.75, 1.0]

# (policy, feasible, energy_kwh, mean_runtime_s): the hybrid sweep of examples/day.csv
HYBRID = [
    ("threshold-input", True, 26.436, 59.756),
    ("threshold-input@32", False, 24.524, 19.244),
    ("threshold-output", True, 28.243, 82.973),
    ("threshold-output@32", False, 24.335, 13.726),
    ("threshold-product", True, 26.449, 59.737),
    ("threshold-product@32", False, 24.3156, 12.7643),
    ("all-gpu", False, 24.315722, 12.762291),
    ("round-robin", False, 35.099, 204.21),
    ("random", False, 26.777, 63.528),
    ("greedy", False, 24.315722, 12.762291),
    ("only-m1-pro", False, 46.238, 401.97),
    ("only-a100", False, 24.315722, 12.762291),
]


def hybrid_sweep() -> pd.DataFrame:
    rows = []
    for i, lam in enumerate(LAMS):
        rows.append(("milp", lam, True, 26.0836 + 1e-4 * i, 54.297 + 2e-3 * i))
        rows += [(p, lam, ok, e, r) for p, ok, e, r in HYBRID]
    return pd.DataFrame(rows, columns=["policy", "lam", "feasible", "energy_kwh",
                                       "mean_runtime_s"])


def accuracy_sweep() -> pd.DataFrame:
    """Multi-LLM shaped: a spread-out MILP frontier, round-robin ≈ random."""
    lams = np.round(np.linspace(0.0, 1.0, 21), 2)
    rows = []
    for lam in lams:
        e = 114.0 - 95.0 * min(lam / 0.7, 1.0)
        rows.append(("milp", lam, True, e, 90.0 * e / 114.0, 0.52 + 0.12 * e / 114.0))
        rows.append(("round-robin", lam, True, 47.4, 41.9, 0.5707))
        rows.append(("random", lam, True, 47.3, 41.8, 0.5706))
        rows.append(("only-llama-7b", lam, False, 8.7, 11.0, 0.51))
        rows.append(("only-llama-70b", lam, False, 116.9, 95.0, 0.6432))  # by λ = 0
    return pd.DataFrame(rows, columns=["policy", "lam", "feasible", "energy_kwh",
                                       "mean_runtime_s", "token_accuracy"])


def threshold_frame(milp_on_gpu: bool = False, refs_feasible: bool = False) -> pd.DataFrame:
    """A threshold study shaped like day.csv on hybrid: τ = 0 … 3072, feasible at 122 … 132."""
    tau = np.unique(np.concatenate([[0, 1, 2, 3], np.geomspace(4, 3072, 80).round(),
                                    np.arange(122, 133)]))
    share = 1.0 / (1.0 + np.exp(-(np.log1p(tau) - np.log(300.0)) * 2.5))  # share on small
    energy = 24.3 + (46.2 - 24.3) * share
    runtime = 12.8 + (402.0 - 12.8) * share
    ok = (tau >= 122) & (tau <= 132)
    best = tau == 122
    frame = pd.DataFrame({"kind": "threshold", "policy": "threshold-output",
                          "feature": "output", "threshold": tau, "best": best,
                          "feasible": ok, "energy_kwh": energy, "mean_runtime_s": runtime})
    milp = (24.3, 12.8) if milp_on_gpu else (26.08, 54.3)
    extra = pd.DataFrame({
        "kind": ["reference", "reference", "milp"],
        "policy": ["all-a100", "all-m1-pro", "milp"],
        "feature": [np.nan] * 3, "threshold": [np.nan] * 3, "best": [False] * 3,
        "feasible": [refs_feasible, refs_feasible, True],
        "energy_kwh": [24.3, 46.2, milp[0]], "mean_runtime_s": [12.8, 402.0, milp[1]]})
    return pd.concat([frame, extra], ignore_index=True)


def paper_script_frame() -> pd.DataFrame:
    tau = 2.0 ** np.arange(3, 12)
    frame = pd.DataFrame({"kind": "threshold", "policy": "threshold-input", "feature": "input",
                          "threshold": tau, "best": tau == 32, "feasible": True,
                          "energy_kwh": 3.45 + 0.0012 * tau, "mean_runtime_s": 1.8 + 0.027 * tau})
    refs = pd.DataFrame({"kind": "reference", "policy": ["all-a100", "all-m1-pro"],
                         "feature": np.nan, "threshold": np.nan, "best": False,
                         "feasible": True, "energy_kwh": [3.46, 6.96],
                         "mean_runtime_s": [1.78, 69.6]})
    return pd.concat([frame, refs], ignore_index=True)


# -- figures, each built once -------------------------------------------------------------

@pytest.fixture(scope="module")
def hybrid_fig():
    return sweep_figure(hybrid_sweep())


@pytest.fixture(scope="module")
def accuracy_fig():
    return sweep_figure(accuracy_sweep(), metric="accuracy")


@pytest.fixture(scope="module")
def thr_fig():
    return thresholds_figure(threshold_frame())


@pytest.fixture(scope="module")
def paper_fig():
    return thresholds_figure(paper_script_frame())


# -- helpers -----------------------------------------------------------------------------

def drawn(fig):
    """Draw ``fig`` off-screen; return its renderer."""
    from offline_sched.plots.common import agg_renderer

    renderer = agg_renderer(fig)
    fig.draw_without_rendering()
    return renderer


def inside(inner, outer, slack: float = 1.0) -> bool:
    return (inner.x0 >= outer.x0 - slack and inner.x1 <= outer.x1 + slack
            and inner.y0 >= outer.y0 - slack and inner.y1 <= outer.y1 + slack)


def legend_texts(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()]


def marker_points(ax) -> np.ndarray:
    """Display positions of every scatter point and line vertex of ``ax``."""
    pts = [np.empty((0, 2))]
    for coll in ax.collections:
        off = np.asarray(coll.get_offsets(), dtype=float).reshape(-1, 2)
        if len(off):
            pts.append(coll.get_offset_transform().transform(off))
    for line in ax.lines:
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        pts.append(xy[np.isfinite(xy).all(axis=1)])
    return np.concatenate(pts)


def by_gid(ax, gid: str) -> list:
    return [a for a in (*ax.lines, *ax.collections, *ax.patches) if a.get_gid() == gid]


def tick_texts(ax) -> list[str]:
    lo, hi = ax.get_xlim()
    return [t.get_text() for t, v in zip(ax.get_xticklabels(), ax.get_xticks(), strict=True)
            if lo <= v <= hi]


# -- plot_sweep ---------------------------------------------------------------------------

def test_sweep_shows_every_policy_and_zooms_on_the_frontier(hybrid_fig):
    frame, fig = hybrid_sweep(), hybrid_fig
    drawn(fig)
    full, zoom = fig.axes
    (x0, x1), (y0, y1) = full.get_xlim(), full.get_ylim()
    assert ((frame["energy_kwh"] > x0) & (frame["energy_kwh"] < x1)
            & (frame["mean_runtime_s"] > y0) & (frame["mean_runtime_s"] < y1)).all()
    # no "outside the view" footnote: nothing is left out of the figure
    assert not [t for t in fig.texts if "outside" in t.get_text()]
    # the zoom holds the MILP and the feasible policies, and is much smaller
    keep = frame[(frame["policy"] == "milp") | frame["feasible"]]
    (zx0, zx1), (zy0, zy1) = zoom.get_xlim(), zoom.get_ylim()
    assert keep["energy_kwh"].between(zx0, zx1).all()
    assert keep["mean_runtime_s"].between(zy0, zy1).all()
    assert (zy1 - zy0) < 0.5 * (y1 - y0)


def test_sweep_legend_inside_the_figure_and_off_the_axes(hybrid_fig):
    fig = hybrid_fig
    renderer = drawn(fig)
    legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert len(legends) == 1
    box = legends[0].get_window_extent(renderer)
    assert inside(box, fig.bbox)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer))
    texts = legend_texts(legends[0])
    assert len(texts) == 13  # the MILP and every policy, each one drawn
    for policy, ok, *_ in HYBRID:
        [label] = [t for t in texts if t.split(" ")[0] == policy]
        assert ("infeasible" in label) == (not ok), label
    # policies on the same point say so: only-a100 is drawn where all-gpu is
    [a100] = [t for t in texts if t.startswith("only-a100")]
    assert "= all-gpu" in a100


def test_sweep_lambda_label_covers_no_marker(hybrid_fig, accuracy_fig):
    for fig in (hybrid_fig, accuracy_fig):
        renderer = drawn(fig)
        ax = fig.axes[-1]
        labels = [c for c in ax.get_children()
                  if isinstance(c, Annotation) and "λ" in c.get_text()]
        assert labels
        pts = marker_points(ax)
        axes_box = ax.get_window_extent(renderer)
        for label in labels:
            box = label.get_window_extent(renderer)
            assert inside(box, axes_box), label.get_text()
            hit = ((pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1)
                   & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1))
            assert not hit.any(), (label.get_text(), pts[hit])
    # the one-point hybrid frontier is named as one point for every λ
    texts = [c.get_text() for c in hybrid_fig.axes[-1].get_children()
             if isinstance(c, Annotation)]
    assert texts == ["milp: λ=0…1 (one point)"]


def test_sweep_milp_drawn_above_the_policies(accuracy_fig):
    ax = accuracy_fig.axes[0]
    [milp] = by_gid(ax, "milp")
    others = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert others and milp.get_zorder() > max(c.get_zorder() for c in others)


def test_sweep_spread_frontier_needs_no_zoom_panel(accuracy_fig):
    fig = accuracy_fig
    assert len(fig.axes) == 1
    texts = legend_texts(fig.legends[0])
    assert "random (≈ round-robin)" in texts
    assert "only-llama-7b (infeasible)" in texts


# -- plot_sweep_lambda ---------------------------------------------------------------------

def test_lambda_lines_that_coincide_stay_distinguishable():
    fig = sweep_lambda_figure(accuracy_sweep())
    renderer = drawn(fig)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        [rr], [rnd] = by_gid(ax, "round-robin"), by_gid(ax, "random")
        assert rr.get_linestyle() != rnd.get_linestyle()
        rr_at = {float(v) for m in by_gid(ax, "round-robin:markers") for v in m.get_xdata()}
        rnd_at = {float(v) for m in by_gid(ax, "random:markers") for v in m.get_xdata()}
        assert rr_at and rnd_at and not rr_at & rnd_at  # markers at different λ
        [milp] = by_gid(ax, "milp")
        assert milp.get_zorder() > max(a.get_zorder() for a in ax.lines
                                       if not str(a.get_gid()).startswith("milp"))
    [legend] = fig.legends
    box = legend.get_window_extent(renderer)
    assert inside(box, fig.bbox)
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)
    texts = legend_texts(legend)
    assert "random (≈ round-robin)" in texts
    assert "only-llama-70b (infeasible)" in texts and "milp" in texts


# -- plot_thresholds ----------------------------------------------------------------------

def test_threshold_ticks_read_as_token_counts(thr_fig, paper_fig):
    fig = thr_fig
    drawn(fig)
    for ax in fig.axes:
        texts = tick_texts(ax)
        assert texts[:2] == ["0", "1"] and "100" in texts and "1k" in texts, texts
        assert not [t for t in texts if re.search(r"10\^|\$|\\mathdefault|⁰", t)], texts
    drawn(paper_fig)
    assert tick_texts(paper_fig.axes[0]) == ["8", "16", "32", "64", "128", "256", "512", "1024",
                                      "2048"]


def test_threshold_infeasible_references_are_marked(thr_fig):
    fig = thr_fig
    renderer = drawn(fig)
    legend = fig.axes[0].get_legend()
    texts = legend_texts(legend)
    assert "all-a100 (infeasible)" in texts and "all-m1-pro (infeasible)" in texts
    for ax in fig.axes:
        tags = [c.get_text() for c in ax.get_children() if isinstance(c, Annotation)]
        assert sorted(tags) == ["all-a100: infeasible", "all-m1-pro: infeasible"]
    assert inside(legend.get_window_extent(renderer), fig.axes[0].get_window_extent(renderer))
    good = thresholds_figure(threshold_frame(refs_feasible=True))
    texts = legend_texts(good.axes[0].get_legend())
    assert "all-a100" in texts and not [t for t in texts if "infeasible)" in t and "all" in t]
    assert not [c for c in good.axes[0].get_children() if isinstance(c, Annotation)]
    for gid in ("reference:all-a100", "reference:all-m1-pro"):  # another dash pattern
        [bad_line], [good_line] = by_gid(fig.axes[0], gid), by_gid(good.axes[0], gid)
        assert bad_line._unscaled_dash_pattern != good_line._unscaled_dash_pattern


def test_threshold_milp_drawn_above_the_reference_it_equals():
    fig = thresholds_figure(threshold_frame(milp_on_gpu=True))
    for ax in fig.axes:
        [milp] = by_gid(ax, "milp")
        refs = by_gid(ax, "reference:all-a100") + by_gid(ax, "reference:all-m1-pro")
        assert len(refs) == 2
        assert milp.get_zorder() > max(r.get_zorder() for r in refs)
        assert milp.get_linestyle() != refs[0].get_linestyle()
    assert "milp (= all-a100)" in legend_texts(fig.axes[0].get_legend())



def test_threshold_feasible_range_is_shaded_and_named(thr_fig):
    assert "milp" in legend_texts(thr_fig.axes[0].get_legend())
    fig = thr_fig
    renderer = drawn(fig)
    ax = fig.axes[0]
    assert "feasible for τ = 122 … 132" in ax.get_title()
    [band] = by_gid(ax, "feasible-band")
    width = band.get_window_extent(renderer).width
    assert width >= 0.01 * ax.get_window_extent(renderer).width
    lo, hi = band.get_x(), band.get_x() + band.get_width()
    assert lo <= 122 and hi >= 132


def test_paper_script_thresholds_plot_writes(tmp_path, paper_fig):
    path = plot_thresholds(paper_script_frame(), tmp_path / "p.png", title="script", dpi=40)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = paper_fig
    assert not by_gid(fig.axes[0], "feasible-band")
    assert "hybrid (threshold)" in legend_texts(fig.axes[0].get_legend())
    assert all(isinstance(a, Line2D) for a in by_gid(fig.axes[0], "reference:all-a100"))
