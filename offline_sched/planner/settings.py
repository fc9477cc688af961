"""Planning settings of a call: when ``solve``/``compare``/``sweep`` plan in time.

The options ``minimise``, ``carbon``, ``price``, ``slot_s``, ``start`` and ``time_format``
(Python arguments or CLI options) override the fleet file's ``slot_s`` and ``[grid]`` table.
A call *plans in time* (through :func:`offline_sched.planner.model.plan`) when anything asks
for it: one of those settings, a fleet ``slot_s`` or ``[grid]`` table, a system with idle
power, start-up energy or ``min_instances``, or a workload with ``release_s``/``deadline_s``.
Otherwise it is today's one-slot, always-on model, solved by today's solver — unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from .. import AssignmentProblem

METRICS = ("energy", "carbon", "cost")


@dataclass(frozen=True)
class PlanSettings:
    """What the caller asked for; None leaves the fleet file's setting (or the default).

    Attributes:
        minimise: ``energy`` (J), ``carbon`` (g) or ``cost`` (currency), or None (energy).
        carbon: carbon intensity [gCO2/kWh]: a CSV path or one value per slot.
        price: electricity price [currency/kWh]: a CSV path or one value per slot.
        slot_s: slot length [s], dividing the window.
        start: the window's first timestamp (ISO 8601), aligning signal files.
        time_format: ``strftime`` format of the signal files' timestamps.
    """

    minimise: str | None = None
    carbon: object = None
    price: object = None
    slot_s: float | None = None
    start: object = None
    time_format: str | None = None

    def __post_init__(self) -> None:
        if self.minimise is not None and self.minimise not in METRICS:
            raise InputError(f"minimise, value {self.minimise!r}: expected one of "
                             f"{', '.join(METRICS)}")
        for name in ("carbon", "price"):
            value = getattr(self, name)
            if isinstance(value, str | os.PathLike) and not str(value):
                raise InputError(f"{name}: empty path")

    @property
    def asked(self) -> bool:
        """Whether the call itself asks for planning in time."""
        return (self.minimise not in (None, "energy") or self.carbon is not None
                or self.price is not None or self.slot_s is not None
                or self.start is not None or self.time_format is not None)

    def active(self, problem: AssignmentProblem) -> bool:
        """Whether this call on ``problem`` plans in time (see the module docstring)."""
        if self.asked or fleet_plans(problem.fleet):
            return True
        wl = problem.workload
        return any(_has_values(getattr(wl, col, None)) for col in ("release_s", "deadline_s"))

    def plan_kwargs(self) -> dict[str, object]:
        """Keyword arguments of :func:`~offline_sched.planner.model.plan`."""
        return {"minimise": self.minimise or "energy", "carbon": self.carbon,
                "price": self.price, "slot_s": self.slot_s, "start": self.start,
                "time_format": self.time_format}


def fleet_plans(fleet: object) -> bool:
    """Whether the fleet itself asks for planning in time (slots, grid, provisioning)."""
    if getattr(fleet, "slot_s", None) is not None or getattr(fleet, "grid", None):
        return True
    return any(float(getattr(s, "idle_power_w", 0.0)) > 0
               or float(getattr(s, "startup_energy_j", 0.0)) > 0
               or int(getattr(s, "min_instances", 0)) > 0 for s in fleet)  # type: ignore[attr-defined]


def _has_values(values: object) -> bool:
    if values is None:
        return False
    arr = np.asarray(values, dtype=np.float64)
    return bool(np.isfinite(arr).any())


NO_PLANNING = PlanSettings()
"""The settings of a call that gives none."""
