"""Views of plans for people: replicas on per system and slot."""

from __future__ import annotations

import pandas as pd


def replicas_on(by_slot: pd.DataFrame) -> pd.DataFrame:
    """Replicas on per system (rows) and slot (columns), from a ``by_slot`` table."""
    table = by_slot.pivot(index="system", columns="slot", values="instances_on")
    order = list(dict.fromkeys(by_slot["system"]))
    table = table.reindex(order).astype("int64")
    table.columns.name = "slot"
    return table
