"""Systems and fleets: pools of identical replicas of one model on one hardware type."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..costs.model import CostModel

OBJECTIVES = ("energy-runtime", "energy-accuracy")
SYSTEM_KEYS = {"name", "model", "instances", "gpu", "hardware", "window_s", "max_input_tokens",
               "max_output_tokens", "max_total_tokens", "accuracy", "min_share", "max_share",
               "energy", "runtime", "cost_model", "cost_system", "form", "input_range",
               "output_range", "idle_power_w", "min_instances", "startup_energy_j",
               "energy_includes_idle", "serve_model"}
FLEET_KEYS = {"window_s", "objective", "normalize", "description", "system", "slot_s", "grid"}
GRID_KEYS = {"carbon", "price", "start", "time_format"}
COEF_KEYS = {"in": "in", "out": "out", "inout": "inout", "const": None, "floor": None}


@dataclass(frozen=True)
class System:
    """A pool of ``instances`` identical replicas of one model on one hardware type.

    Attributes:
        name: unique system name.
        model: model served, e.g. ``llama-2-7b``.
        cost: per-query cost model (energy J, runtime s) on one replica.
        instances: number of replicas (≥ 0).
        window_s: batch window [s]; ``capacity_s = instances * window_s``.
        gpu: whether the all-gpu baseline may use this system.
        hardware: free-text hardware description.
        max_input_tokens: eligibility limit on τin, or None.
        max_output_tokens: eligibility limit on τout, or None.
        max_total_tokens: eligibility limit on τin + τout, or None.
        accuracy: model accuracy as a fraction in [0, 1], or None.
        min_share: lower bound on the fraction of all queries sent here.
        max_share: upper bound on the fraction of all queries sent here.
        idle_power_w: power of a replica that is on but idle [W] (planning in time).
        min_instances: replicas on in every slot (planning in time), ≤ ``instances``.
        startup_energy_j: energy to switch one replica on [J] (planning in time).
        energy_includes_idle: whether the cost model's per-query energy already includes
            the idle power drawn while busy (the seed tables do; inline coefficients do
            not unless the fleet file says so); idle is then added only for time not busy.
        serve_model: model name written into this system's dispatch batch files (the name
            its serving stack knows), or None to keep each request's own.
    """

    name: str
    model: str
    cost: CostModel
    instances: int = 1
    window_s: float = 86400.0
    gpu: bool = False
    hardware: str = ""
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    max_total_tokens: int | None = None
    accuracy: float | None = None
    min_share: float = 0.0
    max_share: float = 1.0
    idle_power_w: float = 0.0
    min_instances: int = 0
    startup_energy_j: float = 0.0
    energy_includes_idle: bool = False
    serve_model: str | None = None

    @property
    def capacity_s(self) -> float:
        """Device-seconds available in the window: ``instances * window_s``."""
        return self.instances * self.window_s

    def eligible(self, input_tokens: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
        """Boolean mask: which queries this system can take under its token limits."""
        i = np.asarray(input_tokens)
        o = np.asarray(output_tokens)
        ok = np.ones(np.broadcast(i, o).shape, dtype=bool)
        if self.max_input_tokens is not None:
            ok &= i <= self.max_input_tokens
        if self.max_output_tokens is not None:
            ok &= o <= self.max_output_tokens
        if self.max_total_tokens is not None:
            ok &= (i + o) <= self.max_total_tokens
        return ok


@dataclass(frozen=True)
class GridSignals:
    """The fleet file's ``[grid]`` table: signal files for planning in time.

    Attributes:
        carbon: carbon-intensity CSV [gCO2/kWh] (absolute path), or None.
        price: electricity-price CSV [currency/kWh] (absolute path), or None.
        start: ISO 8601 timestamp of the window's start, aligning the signals, or None.
        time_format: ``strftime`` format of the signals' timestamps (None: ISO 8601).
    """

    carbon: str | None = None
    price: str | None = None
    start: str | None = None
    time_format: str | None = None


@dataclass(frozen=True)
class Fleet(Sequence[System]):
    """An ordered set of systems plus fleet-wide objective settings.

    Attributes:
        systems: the systems, in file order.
        name: fleet name (bundled name or file path).
        objective: ``energy-runtime`` (λ·E + (1−λ)·R) or ``energy-accuracy``
            (λ·E − (1−λ)·A, the offline paper's).
        normalize: divide each metric by its maximum over eligible (query, system) pairs
            (the paper's normalisation) so λ is unit-free; else absolute J and s.
        description: one line about the fleet.
        slot_s: slot length for planning in time [s], dividing ``window_s``; None: one slot.
        grid: signal files for planning in time, or None.
    """

    systems: tuple[System, ...]
    name: str = "<fleet>"
    objective: str = "energy-runtime"
    normalize: bool = True
    description: str = ""
    slot_s: float | None = None
    grid: GridSignals | None = None

    def __iter__(self) -> Iterator[System]:
        return iter(self.systems)

    def __len__(self) -> int:
        return len(self.systems)

    def __getitem__(self, idx):
        return self.systems[idx]

    @property
    def names(self) -> list[str]:
        """System names in order."""
        return [s.name for s in self.systems]
