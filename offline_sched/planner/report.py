"""Views of plans for people: replicas on per slot, and plans side by side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from .data import J_PER_KWH

if TYPE_CHECKING:
    from .. import Schedule


def replicas_on(by_slot: pd.DataFrame) -> pd.DataFrame:
    """Replicas on per system (rows) and slot (columns), from a ``by_slot`` table."""
    table = by_slot.pivot(index="system", columns="slot", values="instances_on")
    order = list(dict.fromkeys(by_slot["system"]))
    table = table.reindex(order).astype("int64")
    table.columns.name = "slot"
    return table


def side_by_side(schedules: Mapping[str, Schedule]) -> pd.DataFrame:
    """Plans of the same day side by side: one column per label.

    Rows: ``energy_kwh`` (static included), ``static_energy_kwh``, ``carbon_kg``, ``cost``,
    ``instances_on_max``, ``objective``, ``gap``, then ``on <system> @ <slot start>``
    replicas per system and slot.
    """
    cols = {}
    for label, sched in schedules.items():
        s = sched.summary
        col = {"energy_kwh": s["energy_kwh"],
               "static_energy_kwh": float(s["static_energy_j"]) / J_PER_KWH,  # type: ignore[arg-type]
               "carbon_kg": float(s["carbon_g"]) / 1000.0,  # type: ignore[arg-type]
               "cost": s["cost"], "instances_on_max": s["instances_on_max"],
               "objective": s["objective"], "gap": s["gap"]}
        for _, row in sched.by_slot.iterrows():  # slots × systems rows, not queries
            hour = f"{row['start_s'] / 3600:g}h"
            col[f"on {row['system']} @ {hour}"] = row["instances_on"]
        cols[label] = col
    return pd.DataFrame(cols)
