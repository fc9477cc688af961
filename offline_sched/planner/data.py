"""The planner's model data: costs per (time class, system), capacity options, scales.

Objective (one term per query, replica-slot and switch-on; λ ∈ [0, 1])::

    U = λ/M · Σ_{s,t} g_t · energy[s,t]  +  (1−λ)/R · Σ_{s,t} busy[s,t]
    energy[s,t] = Σ_q e_s(q) + static[s,t]
    static[s,t] = P_s·L·on[s,t] − [includes idle] P_s·busy[s,t] + SU_s·up[s,t]

g_t is 1 (``minimise="energy"``, J), the slot's carbon intensity / 3.6e6 (``carbon``,
g per J) or its price / 3.6e6 (``cost``, currency per J); M is today's energy normaliser
(the largest eligible per-query energy) times max_t |g_t| for carbon and cost (1 with
``normalize = false``); R is today's runtime normaliser. With one slot, no idle power and
``minimise="energy"`` this is exactly today's λ·Σe/E + (1−λ)·Σr/R.

A query runs on one replica inside one slot: with more than one slot, a system whose runtime
for it exceeds the slot is not eligible for it.

Slots whose costs cannot differ — equal g_t and the same set of query windows containing
them — are merged into **slot groups**; the LP decides per *option* j = (system, group) how
many replica-slots N_j are on and which queries run there (``Σ r·x ≤ L·N_j``). A group is
split back into its slots only at the end. With start-up energy, slots stay separate (the
order of slots matters for switch-ons).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InfeasibleError, InputError
from .slots import Provisioning, SlotGrid, TimeClasses

if TYPE_CHECKING:
    from .. import AssignmentProblem

METRICS = ("energy", "carbon", "cost")
J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class Rows:
    """Per-row (time class, or a bin of them) costs on each system.

    Attributes:
        a: λ·(net energy)/M per query, to be multiplied by an option's g, (n, S).
        runtime: runtime per query [s], (n, S).
        eligible: token limits allow the system, (n, S).
        first: first allowed slot, (n,).
        last: last allowed slot, (n,).
        count: queries per row, (n,) float.
    """

    a: np.ndarray
    runtime: np.ndarray
    eligible: np.ndarray
    first: np.ndarray
    last: np.ndarray
    count: np.ndarray

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.count.shape[0])


@dataclass(frozen=True)
class Options:
    """Capacity options j = (system, slot group), j = system·G + group.

    Attributes:
        n_groups: G.
        group_of_slot: group of each slot, (T,).
        group_first: first slot of each group, (G,).
        group_size: slots per group, (G,).
        system: system of each option, (J,).
        group: group of each option, (J,).
        g: metric factor of each option, (J,).
        replica_s: device-seconds per replica-slot L, (J,).
        n_lo: least replica-slots on, (J,).
        n_hi: most replica-slots on, (J,).
        cost_n: objective coefficient per replica-slot on, (J,).
    """

    n_groups: int
    group_of_slot: np.ndarray
    group_first: np.ndarray
    group_size: np.ndarray
    system: np.ndarray
    group: np.ndarray
    g: np.ndarray
    replica_s: np.ndarray
    n_lo: np.ndarray
    n_hi: np.ndarray
    cost_n: np.ndarray

    @property
    def n(self) -> int:
        """Number of options J."""
        return int(self.system.shape[0])

    def allowed(self, rows: Rows, k: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Whether row k may use option j (token limits and window), elementwise."""
        gf = self.group_first[self.group[j]]
        return rows.eligible[k, self.system[j]] & (rows.first[k] <= gf) & (gf <= rows.last[k])


@dataclass(frozen=True)
class PlanData:
    """Everything the planner's solver needs, built once per (problem, λ, signals).

    Attributes:
        problem: the class-level problem (``offline_sched.AssignmentProblem``).
        grid: the slots.
        tclasses: time classes.
        provisioning: per system.
        lam: λ.
        metric: ``energy``, ``carbon`` or ``cost``.
        g_slot: metric factor per slot, (T,).
        carbon: carbon intensity per slot [gCO2/kWh], or None.
        price: price per slot [currency/kWh], or None.
        metric_scale: M.
        runtime_scale: R.
        beta: (1 − λ)/R.
        rows: per time class.
        options: capacity options.
        cost_up: objective coefficient per replica switched on, (S, T), or None.
        share_lo: least queries per system, (S,), or None without share bounds.
        share_hi: most queries per system, (S,), or None.
    """

    problem: AssignmentProblem
    grid: SlotGrid
    tclasses: TimeClasses
    provisioning: tuple[Provisioning, ...]
    lam: float
    metric: str
    g_slot: np.ndarray
    carbon: np.ndarray | None
    price: np.ndarray | None
    metric_scale: float
    runtime_scale: float
    beta: float
    rows: Rows
    options: Options
    cost_up: np.ndarray | None
    share_lo: np.ndarray | None
    share_hi: np.ndarray | None

    @property
    def n_systems(self) -> int:
        """S."""
        return len(self.provisioning)


def metric_factor(metric: str, n_slots: int, carbon: np.ndarray | None,
                  price: np.ndarray | None) -> np.ndarray:
    """g_t per slot: 1 for energy, intensity/3.6e6 for carbon, price/3.6e6 for cost.

    Raises:
        InputError: unknown metric, or carbon/cost without its signal.
    """
    if metric not in METRICS:
        raise InputError(f"minimise, value {metric!r}: expected one of {', '.join(METRICS)}")
    if metric == "energy":
        return np.ones(n_slots)
    sig = carbon if metric == "carbon" else price
    if sig is None:
        need = "carbon" if metric == "carbon" else "price"
        raise InputError(f"minimise {metric!r} needs a {need} signal")
    return np.asarray(sig, dtype=np.float64) / J_PER_KWH


def slot_groups(g_slot: np.ndarray, first: np.ndarray, last: np.ndarray, separate: bool
                ) -> np.ndarray:
    """Group of each slot: slots with equal g and the same windows containing them.

    Args:
        g_slot: metric factor per slot, (T,).
        first: first allowed slot per time class.
        last: last allowed slot per time class.
        separate: keep every slot its own group (start-up energy present).

    Returns:
        Group index per slot, numbered in order of first slot, (T,).
    """
    t = g_slot.shape[0]
    if separate or t == 1:
        return np.arange(t)
    span = int(last.max(initial=0)) + 1
    keys = np.unique(first.astype(np.int64) * span + last)
    wf, wl = keys // span, keys % span
    slots = np.arange(t)
    member = (wf[:, None] <= slots[None, :]) & (slots[None, :] <= wl[:, None])
    signature = np.concatenate([g_slot[None, :], member.astype(np.float64)], axis=0).T
    _, inverse = np.unique(signature, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    _, first_seen = np.unique(inverse, return_index=True)
    rank = np.empty(first_seen.size, dtype=np.int64)
    rank[np.argsort(first_seen)] = np.arange(first_seen.size)
    return rank[inverse]


def build_data(problem: AssignmentProblem, grid: SlotGrid, tclasses: TimeClasses,
               provisioning: tuple[Provisioning, ...], lam: float, metric: str = "energy",
               carbon: np.ndarray | None = None, price: np.ndarray | None = None,
               aggregate: bool = True) -> PlanData:
    """Assemble the planner's data.

    Args:
        problem: the class-level problem (``offline_sched.build_problem``).
        grid: the slots.
        tclasses: time classes (see :func:`~offline_sched.planner.slots.time_classes`).
        provisioning: per system, fleet order.
        lam: λ in [0, 1].
        metric: ``energy``, ``carbon`` or ``cost``.
        carbon: per-slot intensity [gCO2/kWh], (T,), or None.
        price: per-slot price [currency/kWh], (T,), or None.
        aggregate: merge slots whose costs cannot differ (default).

    Raises:
        InputError: λ > 0 with a runtime-only cost model, an energy-accuracy fleet, or a
            metric without its signal.
    """
    fleet = problem.fleet
    t = grid.n_slots
    if fleet.objective != "energy-runtime":
        raise InputError(f"{fleet.name}: planning in time supports objective "
                         f"'energy-runtime', not {fleet.objective!r}")
    for name, sig in (("carbon", carbon), ("price", price)):
        if sig is not None and np.asarray(sig).shape != (t,):
            raise InputError(f"{name}: {np.asarray(sig).shape} values for {t} slots")
    g_slot = metric_factor(metric, t, carbon, price)
    energy = problem.energy_j
    if lam > 0 and np.isnan(np.where(problem.eligible, energy, 0.0)).any():
        missing = [s.name for s in fleet if s.cost.energy is None]
        raise InputError(f"{fleet.name}: system(s) {', '.join(missing)} have no energy model "
                         "(runtime-only table): use lam=0 or measure energy")
    idle = np.array([p.idle_power_w for p in provisioning], dtype=np.float64)
    incl = np.array([p.energy_includes_idle for p in provisioning])
    startup = np.array([p.startup_energy_j for p in provisioning], dtype=np.float64)
    gmax = float(np.abs(g_slot).max())
    scale = problem.energy_scale
    if fleet.normalize and metric != "energy":
        scale = scale * (gmax if gmax > 0 else 1.0)
    eligible = problem.eligible
    if t > 1:  # a query runs on one replica inside one slot: it must fit in a slot
        eligible = eligible & (problem.runtime_s <= grid.replica_s[None, :])
        stuck = ~eligible.any(axis=1)
        if stuck.any():
            c = int(np.flatnonzero(stuck)[0])
            q = int(np.flatnonzero(problem.classes.query_class == c)[0])
            fastest = float(np.where(problem.eligible[c], problem.runtime_s[c], np.inf).min())
            raise InfeasibleError(
                f"{problem.workload.source}: {int(problem.classes.count[stuck].sum())} queries "
                f"run longer than a slot on every system they fit, e.g. row {q + 1}, query "
                f"{problem.workload.ids[q]!s} ({fastest:.6g} s at best, slots of "
                f"{grid.slot_s:g} s); use longer slots")
    runtime = np.where(eligible, problem.runtime_s, 0.0)
    net = np.where(eligible, np.nan_to_num(energy), 0.0) - incl * idle * runtime
    a_base = lam * net / scale
    tc = tclasses
    rows = Rows(a=a_base[tc.base], runtime=runtime[tc.base], eligible=eligible[tc.base],
                first=tc.first, last=tc.last, count=tc.count.astype(np.float64))
    separate = bool(lam > 0 and (startup > 0).any() and t > 1)
    group_of_slot = slot_groups(g_slot, tc.first, tc.last, separate or not aggregate)
    n_g = int(group_of_slot.max()) + 1
    group_first = np.array([int(np.flatnonzero(group_of_slot == k)[0]) for k in range(n_g)])
    group_size = np.bincount(group_of_slot, minlength=n_g)
    n_s = len(fleet)
    system = np.repeat(np.arange(n_s), n_g)
    group = np.tile(np.arange(n_g), n_s)
    g = g_slot[group_first][group]
    replica = grid.replica_s[system]
    inst = np.array([s.instances for s in fleet], dtype=np.float64)
    lo = np.array([p.min_instances for p in provisioning], dtype=np.float64)
    options = Options(n_groups=n_g, group_of_slot=group_of_slot, group_first=group_first,
                      group_size=group_size, system=system, group=group, g=g,
                      replica_s=replica, n_lo=lo[system] * group_size[group],
                      n_hi=inst[system] * group_size[group],
                      cost_n=lam * idle[system] * replica * g / scale)
    cost_up = lam * startup[:, None] * g_slot[None, :] / scale if separate else None
    shares = bool(problem.has_shares)
    return PlanData(
        problem=problem, grid=grid, tclasses=tclasses, provisioning=provisioning, lam=lam,
        metric=metric, g_slot=g_slot, carbon=None if carbon is None else np.asarray(carbon,
                                                                                   float),
        price=None if price is None else np.asarray(price, float), metric_scale=scale,
        runtime_scale=problem.runtime_scale, beta=(1.0 - lam) / problem.runtime_scale,
        rows=rows, options=options, cost_up=cost_up,
        share_lo=problem.min_count.astype(np.float64) if shares else None,
        share_hi=problem.max_count.astype(np.float64) if shares else None)


SCALE_BAND = (1e-4, 1e4)
"""Typical per-query costs inside this band are handed to the solver as they are."""


def objective_scale(data: PlanData) -> float:
    """A factor σ that brings the typical per-query cost to about 1 for the solver.

    1 when the median eligible per-query cost lies within :data:`SCALE_BAND` (every
    normalised model); otherwise 1/median. Without normalisation a carbon or cost metric
    gives costs of 1e-9 and below, under HiGHS's optimality tolerances (1e-7): it then stops
    at once, and its bounds are as loose as the tolerances.
    """
    r = data.rows
    gmax = float(np.abs(data.g_slot).max()) if data.g_slot.size else 1.0
    per = np.abs(r.a) * gmax + abs(data.beta) * r.runtime
    per = per[r.eligible & (per > 0)]
    if per.size == 0:
        return 1.0
    typical = float(np.median(per))
    if not np.isfinite(typical) or SCALE_BAND[0] <= typical <= SCALE_BAND[1]:
        return 1.0
    return 1.0 / typical


def scaled(data: PlanData, factor: float) -> PlanData:
    """The same model with every objective coefficient multiplied by ``factor``."""
    if factor == 1.0:
        return data
    opt = replace(data.options, cost_n=data.options.cost_n * factor)
    return replace(data, rows=replace(data.rows, a=data.rows.a * factor),
                   beta=data.beta * factor, options=opt,
                   cost_up=None if data.cost_up is None else data.cost_up * factor)
