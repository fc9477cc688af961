"""The figure of a plan in time: replicas on per system per slot, over the grid signal.

:func:`plot_plan` draws, for each slot of the window, the replicas each system has on as
stacked bars (left axis), and the carbon intensity (or, without one, the price) of each slot
as a step line on the right axis, so the reader sees the plan follow the signal. matplotlib is
the optional ``plot`` extra; the file is written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io.atomic import atomic_path
from .common import figure_class

if TYPE_CHECKING:
    from .. import Schedule

DPI = 100
_COLORS = ("C0", "C1", "C2", "C4", "C5", "C6", "C8", "C9")


def plan_figure(schedule: Schedule) -> Any:
    """The figure of :func:`plot_plan`, not written."""
    figure = figure_class()
    by_slot = schedule.by_slot
    plan = schedule.planned
    hours = np.sort(by_slot["start_s"].unique()) / 3600.0
    width = float(hours[1] - hours[0]) if hours.size > 1 else float(
        max(s.window_s for s in schedule.problem.fleet)) / 3600.0
    fig = figure(figsize=(9.0, 4.8), layout="constrained")
    ax = fig.add_subplot()
    bottom = np.zeros(hours.size)
    for i, name in enumerate(dict.fromkeys(by_slot["system"])):
        rows = by_slot[by_slot["system"] == name].sort_values("slot")
        on = rows["instances_on"].to_numpy(dtype=np.float64)
        ax.bar(hours, on, width=width * 0.9, bottom=bottom, align="edge",
               color=_COLORS[i % len(_COLORS)], label=f"{name} replicas on")
        bottom += on
    ax.set_xlabel("hour of the window")
    ax.set_ylabel("replicas on")
    ax.set_xlim(hours[0], hours[-1] + width)
    handles, labels = ax.get_legend_handles_labels()
    signal, label = None, ""
    if plan is not None:
        if plan.data.carbon is not None:
            signal, label = plan.data.carbon, "carbon intensity [gCO2/kWh]"
        elif plan.data.price is not None:
            signal, label = plan.data.price, "price [currency/kWh]"
    if signal is not None:
        twin = ax.twinx()
        edges = np.append(hours, hours[-1] + width)
        twin.stairs(np.asarray(signal, dtype=np.float64), edges, color="black", lw=2.0,
                    label=label)
        twin.set_ylabel(label)
        h2, l2 = twin.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    s = schedule.summary
    metric = s.get("minimise", "energy")
    ax.set_title(f"plan minimising {metric} (λ = {schedule.lam:g}): "
                 f"{float(s['energy_kwh']):.3g} kWh"  # type: ignore[arg-type]
                 + (f", {float(s['carbon_g']) / 1000:.3g} kgCO2"  # type: ignore[arg-type]
                    if np.isfinite(float(s["carbon_g"])) else ""))  # type: ignore[arg-type]
    # outside the axes: a legend inside would cover the bars of some slot
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4),
               fontsize="small", frameon=False)
    return fig


def plot_plan(schedule: Schedule, path: str | os.PathLike[str]) -> Path:
    """Draw replicas on per system per slot over the carbon (or price) curve to a PNG.

    Args:
        schedule: a schedule (planned in time, or today's one slot with every replica on).
        path: the PNG to write (atomically).

    Raises:
        InputError: matplotlib is not installed.
    """
    fig = plan_figure(schedule)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return Path(path)
