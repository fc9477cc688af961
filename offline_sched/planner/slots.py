"""Time slots, per-system provisioning and query windows of the time-slot planner.

* The window ``[0, window_s)`` is cut into ``n_slots`` slots of ``slot_s`` seconds; slot t is
  ``[t·slot_s, (t+1)·slot_s)``. ``slot_s`` must divide ``window_s`` (no short last slot).
  By default one slot spans the whole window (today's model).
* :class:`Provisioning` holds a system's idle power, least replicas on, start-up energy and
  whether its per-query energies already include idle power while busy.
* A query with ``release_s`` r and ``deadline_s`` d may run in slot t iff
  ``r ≤ t·slot_s`` and ``(t+1)·slot_s ≤ d``: whole slots inside its window. Its allowed
  slots are the range ``[⌈r/slot_s⌉, ⌊d/slot_s⌋ − 1]``.
* :class:`TimeClasses` groups queries by (token class, allowed slot range): interchangeable
  queries for the planner, as token classes are for the one-slot model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InfeasibleError, InputError

EPS = 1e-9


@dataclass(frozen=True)
class Provisioning:
    """How one system's replicas are powered.

    Attributes:
        idle_power_w: power of a replica that is on but idle [W] (≥ 0).
        min_instances: replicas that must be on in every slot (≥ 0, ≤ ``instances``).
        startup_energy_j: energy to switch one replica on (e.g. a model load) [J] (≥ 0).
        energy_includes_idle: whether the cost model's per-query energy already includes
            the idle power drawn while busy (the seed tables do). Then the static energy of a
            slot is the idle power over the time the replicas on are *not* busy; otherwise
            it is the idle power over the whole slot. Idle is never counted twice.
    """

    idle_power_w: float = 0.0
    min_instances: int = 0
    startup_energy_j: float = 0.0
    energy_includes_idle: bool = False


ProvisioningLike = Mapping[str, Provisioning] | Sequence[Provisioning] | None


def fleet_provisioning(fleet: Sequence) -> dict[str, Provisioning]:
    """Each system's :class:`Provisioning` from its fleet-file fields (defaults if absent)."""
    return {s.name: Provisioning(idle_power_w=float(getattr(s, "idle_power_w", 0.0)),
                                 min_instances=int(getattr(s, "min_instances", 0)),
                                 startup_energy_j=float(getattr(s, "startup_energy_j", 0.0)),
                                 energy_includes_idle=bool(getattr(s, "energy_includes_idle",
                                                                   False)))
            for s in fleet}


def check_provisioning(fleet: Sequence, provisioning: ProvisioningLike
                       ) -> tuple[Provisioning, ...]:
    """One validated :class:`Provisioning` per system of the fleet, in fleet order.

    Args:
        fleet: the systems (with ``name`` and ``instances``).
        provisioning: by system name (missing systems get the defaults), a sequence in
            fleet order, or None (defaults: no idle power, no start-up energy).

    Raises:
        InputError: unknown system name, wrong length, negative idle power or start-up
            energy, or ``min_instances`` outside ``[0, instances]``.
    """
    names = [s.name for s in fleet]
    if provisioning is None:
        specs = [Provisioning() for _ in names]
    elif isinstance(provisioning, Mapping):
        unknown = sorted(set(provisioning) - set(names))
        if unknown:
            raise InputError(f"provisioning: unknown system(s) {unknown}; the fleet has "
                             f"{', '.join(names)}")
        specs = [provisioning.get(n, Provisioning()) for n in names]
    else:
        specs = list(provisioning)
        if len(specs) != len(names):
            raise InputError(f"provisioning: {len(specs)} entries for {len(names)} systems")
    for system, spec in zip(fleet, specs, strict=True):
        where = f"system {system.name!r}"
        if not isinstance(spec, Provisioning):
            raise InputError(f"{where}: provisioning must be a Provisioning, got "
                             f"{type(spec).__name__}")
        for key in ("idle_power_w", "startup_energy_j"):
            v = getattr(spec, key)
            if not (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                    and v >= 0):
                raise InputError(f"{where}: {key}, value {v!r}: expected a number >= 0")
        m = spec.min_instances
        if not (isinstance(m, int | np.integer) and not isinstance(m, bool)
                and 0 <= m <= system.instances):
            raise InputError(f"{where}: min_instances, value {m!r}: expected an integer in "
                             f"[0, instances = {system.instances}]")
    return tuple(specs)


@dataclass(frozen=True)
class SlotGrid:
    """The slots of the window.

    Attributes:
        window_s: window length [s].
        slot_s: slot length [s].
        n_slots: number of slots T.
        replica_s: device-seconds one replica of each system offers in one slot, (S,):
            ``slot_s``, or the system's own ``window_s`` with one slot.
    """

    window_s: float
    slot_s: float
    n_slots: int
    replica_s: np.ndarray

    @property
    def starts_s(self) -> np.ndarray:
        """Start of each slot [s], (T,)."""
        return np.arange(self.n_slots, dtype=np.float64) * self.slot_s


def make_grid(fleet: Sequence, slot_s: float | None = None) -> SlotGrid:
    """Cut the fleet's window into slots.

    Args:
        fleet: the systems (each with ``window_s``).
        slot_s: slot length [s]; None: one slot spanning the window.

    Raises:
        InputError: ``slot_s`` not positive or not dividing ``window_s``, or systems with
            different windows and more than one slot.
    """
    windows = np.array([float(s.window_s) for s in fleet])
    same = bool(np.allclose(windows, windows[0], rtol=1e-12, atol=0.0))
    window = float(windows.max())
    if slot_s is None:
        return SlotGrid(window, window, 1, windows)
    if not (isinstance(slot_s, int | float) and not isinstance(slot_s, bool)
            and math.isfinite(slot_s) and slot_s > 0):
        raise InputError(f"slot_s, value {slot_s!r}: expected a number of seconds > 0")
    n = window / slot_s
    if abs(n - round(n)) > 1e-9 * max(n, 1.0) or round(n) < 1:
        raise InputError(f"slot_s, value {slot_s!r}: does not divide window_s {window:g} "
                         f"({n:.6g} slots); choose a divisor, e.g. "
                         f"{window / max(round(n), 1):g}")
    n_slots = int(round(n))
    if n_slots > 1 and not same:
        raise InputError(f"slot_s: systems have different window_s ({sorted(set(windows))}); "
                         "planning in slots needs one window")
    return SlotGrid(window, window / n_slots, n_slots,
                    np.full(len(windows), window / n_slots) if n_slots > 1 else windows)


@dataclass(frozen=True)
class TimeClasses:
    """Queries grouped by (token class, allowed slot range).

    Attributes:
        base: token class (index into ``problem.classes``) of each time class, (K,).
        first: first allowed slot, (K,).
        last: last allowed slot (inclusive), (K,).
        count: queries in each time class, (K,).
        query_tclass: time class of each query, (N,), input order.
        has_windows: whether any query has a window narrower than the whole day.
    """

    base: np.ndarray
    first: np.ndarray
    last: np.ndarray
    count: np.ndarray
    query_tclass: np.ndarray
    has_windows: bool

    @property
    def n_classes(self) -> int:
        """Number of time classes K."""
        return int(self.count.shape[0])


def _window_array(values: object, n: int, name: str, default: float) -> np.ndarray:
    if values is None:
        return np.full(n, default)
    arr = pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce"
                        ).to_numpy(dtype=np.float64)
    if arr.shape[0] != n:
        raise InputError(f"{name}: {arr.shape[0]} values for {n} queries")
    return arr


def time_classes(query_class: np.ndarray, ids: Sequence | np.ndarray, grid: SlotGrid,
                 release_s: object = None, deadline_s: object = None,
                 source: str = "<workload>") -> TimeClasses:
    """Group queries by (token class, allowed slots).

    Args:
        query_class: token class of each query, (N,).
        ids: query ids, for messages.
        grid: the slots.
        release_s: earliest start of each query [s from the window start], or None (0).
        deadline_s: latest end of each query [s], or None (``window_s``).
        source: workload name for messages.

    Raises:
        InputError: a window value missing or non-numeric, a release < 0, a deadline beyond
            the window, or a deadline not after its release (row and value named).
        InfeasibleError: a query whose window holds no whole slot.
    """
    n = int(query_class.shape[0])
    rel = _window_array(release_s, n, "release_s", 0.0)
    dl = _window_array(deadline_s, n, "deadline_s", grid.window_s)
    for name, arr in (("release_s", rel), ("deadline_s", dl)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            i = int(bad[0])
            raw = np.asarray(release_s if name == "release_s" else deadline_s).ravel()[i]
            raise InputError(f"{source}: row {i + 1}, column {name!r}, value {str(raw)!r}: "
                             "expected a number of seconds")
    checks = ((rel < 0, "release_s", rel, "release before the window start (0 s)"),
              (dl > grid.window_s * (1 + EPS), "deadline_s", dl,
               f"deadline after the window end ({grid.window_s:g} s)"),
              (dl <= rel, "deadline_s", dl, "deadline not after the release"))
    for mask, name, arr, msg in checks:
        bad = np.flatnonzero(mask)
        if bad.size:
            i = int(bad[0])
            raise InputError(f"{source}: row {i + 1}, column {name!r}, value {arr[i]:g}: {msg}"
                             f" (release_s {rel[i]:g}, deadline_s {dl[i]:g})")
    t = grid.n_slots
    first = np.ceil(rel / grid.slot_s - EPS).astype(np.int64)
    last = np.floor(np.minimum(dl, grid.window_s) / grid.slot_s + EPS).astype(np.int64) - 1
    empty = np.flatnonzero(first > last)
    if empty.size:
        i = int(empty[0])
        raise InfeasibleError(
            f"{source}: {empty.size} queries have a window holding no whole slot of "
            f"{grid.slot_s:g} s, e.g. row {i + 1}, query {ids[i]!s} (release_s {rel[i]:g}, "
            f"deadline_s {dl[i]:g}); widen the window or use shorter slots")
    first = np.clip(first, 0, t - 1)
    last = np.clip(last, 0, t - 1)
    has_windows = bool((first > 0).any() or (last < t - 1).any())
    key = (query_class.astype(np.int64) * t + first) * t + last
    codes, uniques = pd.factorize(key, sort=True)
    uniques = np.asarray(uniques, dtype=np.int64)
    return TimeClasses(base=uniques // (t * t), first=(uniques // t) % t, last=uniques % t,
                       count=np.bincount(codes, minlength=len(uniques)).astype(np.int64),
                       query_tclass=codes.astype(np.int64), has_windows=has_windows)
