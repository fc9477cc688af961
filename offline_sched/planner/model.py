"""Planning the day: which replicas to power on, in which slots, and which queries run where.

The time-slot provisioning MILP over query classes (see :mod:`.data` for the objective,
:mod:`.lp` for the constraints)::

    min  λ·(energy | carbon | cost)/M + (1−λ)·runtime/R
    s.t. every query exactly once, on an eligible system, in a slot inside its window;
         Σ runtime in (s, t) ≤ on[s,t]·slot_s;  min_instances ≤ on[s,t] ≤ instances;
         share bounds as in the one-slot model;  on[s,t] and the counts integer.

:func:`plan` builds the model from an :class:`~offline_sched.AssignmentProblem` (the class
costs of ``offline_sched.build_problem``), per-system :class:`Provisioning`, slots and grid
signals, and returns a :class:`PlanResult` with a certified gap. With one slot, no idle
power, no start-up energy and no windows it gives today's schedule (``engine="auto"``
delegates to ``offline_sched.solve``; ``engine="slots"`` forces the planner's own solver,
which reaches the same objective).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputError
from .data import J_PER_KWH, PlanData, build_data, objective_scale, scaled
from .evaluate import Evaluation, evaluate
from .expand import best_on, expand, split_groups
from .signals import Signal, read_signal, slot_values
from .slots import (
    ProvisioningLike,
    check_provisioning,
    fleet_provisioning,
    make_grid,
    time_classes,
)
from .solve import solve_options

if TYPE_CHECKING:
    from .. import AssignmentProblem

GAP_TOL = 1e-6
AGGREGATE_ABOVE = 200_000
"""Merge slots whose costs cannot differ when the model has more (class, system, slot)
pairs than this: exact for the LP, and nearly so for whole queries at that size (splitting a
group back into slots may leave a few queries to re-place); smaller models stay per slot,
where whole-query effects matter and the MIP is small."""
SignalLike = Signal | str | os.PathLike[str] | np.ndarray | list | None


@dataclass(frozen=True)
class PlanResult:
    """A plan: per (time class, system, slot) query counts, replicas on, its evaluation.

    Attributes:
        data: the model data it was built from (problem, slots, signals, λ, ...).
        policy: ``milp`` or a baseline's name.
        k: time class of each entry.
        system: system index of each entry.
        slot: slot of each entry.
        count: queries of each entry (> 0).
        on: replicas on per (system, slot), (S, T).
        evaluation: figures (see :func:`~offline_sched.planner.evaluate.evaluate`).
        lower_bound: proven lower bound on the optimum (NaN for baselines).
        gap: certified relative gap (NaN for baselines).
        status: ``optimal`` (gap ≤ tolerance), ``gap`` or ``heuristic``.
        solve_s: wall time [s].
        method: what produced it.
        info: solver facts.
    """

    data: PlanData
    policy: str
    k: np.ndarray
    system: np.ndarray
    slot: np.ndarray
    count: np.ndarray
    on: np.ndarray
    evaluation: Evaluation
    lower_bound: float = float("nan")
    gap: float = float("nan")
    status: str = "heuristic"
    solve_s: float = float("nan")
    method: str = ""
    info: dict = field(default_factory=dict)

    @property
    def objective(self) -> float:
        """Objective U."""
        return self.evaluation.objective

    @property
    def feasible(self) -> bool:
        """Whether the plan meets every constraint."""
        return self.evaluation.feasible

    @property
    def by_slot(self) -> pd.DataFrame:
        """One row per slot × system.

        Columns: ``slot, start_s, system, instances_on, queries, busy_s, energy_j,
        static_energy_j, carbon_g, cost``.
        """
        return self.evaluation.by_slot

    @property
    def totals(self) -> dict:
        """Plan totals: ``static_energy_j, carbon_g, cost, instances_on_max`` and more."""
        ev = self.evaluation
        return {"policy": self.policy, "feasible": ev.feasible, "objective": ev.objective,
                "energy_j": ev.energy_j, "energy_kwh": ev.energy_j / J_PER_KWH,
                "static_energy_j": ev.static_energy_j, "carbon_g": ev.carbon_g,
                "cost": ev.cost, "instances_on_max": ev.instances_on_max,
                "runtime_s": ev.runtime_s, "gap": self.gap, "lower_bound": self.lower_bound,
                "status": self.status, "solve_s": self.solve_s, "method": self.method}

    def query_plan(self) -> tuple[np.ndarray, np.ndarray]:
        """System index and slot of every query (input order)."""
        tc = self.data.tclasses
        return expand(tc.query_tclass, self.k, self.system, self.slot, self.count,
                      tc.n_classes)

    def assignment(self) -> pd.DataFrame:
        """``query_id, system, slot`` per query (``slot`` 0-based)."""
        sys_idx, slot = self.query_plan()
        p = self.data.problem
        names = np.array(p.fleet.names, dtype=object)
        return pd.DataFrame({"query_id": p.workload.ids, "system": names[sys_idx],
                             "slot": slot})

    def counts_by_class(self) -> np.ndarray:
        """Queries of each token class on each system, (C, S) — the one-slot view."""
        p = self.data.problem
        base = self.data.tclasses.base[self.k]
        out = np.zeros((p.classes.n_classes, p.n_systems), dtype=np.int64)
        np.add.at(out, (base, self.system), self.count)
        return out


def _signal(value: SignalLike, name: str, start: object, grid, time_format: str | None
            ) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, str | os.PathLike):
        value = read_signal(value, name=name, time_format=time_format)
    if isinstance(value, Signal):
        if start is None:
            raise InputError(f"{name}: a signal file needs start (the window's first "
                             "timestamp, e.g. 2020-06-15T00:00)")
        return slot_values(value, start, grid.window_s, grid.slot_s)
    arr = pd.to_numeric(pd.Series(np.asarray(value, dtype=object).ravel()), errors="coerce"
                        ).to_numpy(dtype=np.float64)
    if arr.shape != (grid.n_slots,) or not np.isfinite(arr).all():
        raise InputError(f"{name}: expected {grid.n_slots} finite values (one per slot), got "
                         f"{arr.shape[0]}")
    return arr


def prepare(problem: AssignmentProblem, lam: float = 0.5, *, slot_s: float | None = None,
            provisioning: ProvisioningLike = None, minimise: str = "energy",
            carbon: SignalLike = None, price: SignalLike = None, start: object = None,
            time_format: str | None = None, release_s: object = None,
            deadline_s: object = None, aggregate: bool | None = None) -> PlanData:
    """Validate the planner's inputs and build its data (see :func:`plan` for the args).

    Raises:
        InputError: bad λ, slot length, provisioning, signal or window.
        InfeasibleError: a query whose window holds no whole slot.
    """
    try:
        lam = float(lam)
    except (TypeError, ValueError):
        raise InputError(f"lam, value {lam!r}: expected a number in [0, 1]") from None
    if not 0.0 <= lam <= 1.0:
        raise InputError(f"lam, value {lam!r}: expected a number in [0, 1]")
    fleet = problem.fleet
    # the fleet file's settings where the call gives none (the call overrides the file)
    slot_s = getattr(fleet, "slot_s", None) if slot_s is None else slot_s
    signals = getattr(fleet, "grid", None)
    if signals is not None:
        carbon = signals.carbon if carbon is None else carbon
        price = signals.price if price is None else price
        start = signals.start if start is None else start
        time_format = signals.time_format if time_format is None else time_format
    if release_s is None:
        release_s = getattr(problem.workload, "release_s", None)
    if deadline_s is None:
        deadline_s = getattr(problem.workload, "deadline_s", None)
    grid = make_grid(fleet, slot_s)
    prov = check_provisioning(fleet, fleet_provisioning(fleet) if provisioning is None
                              else provisioning)
    c = _signal(carbon, "carbon", start, grid, time_format)
    pr = _signal(price, "price", start, grid, time_format)
    if c is not None and (c < 0).any():
        raise InputError("carbon: intensities must be >= 0")
    tc = time_classes(problem.classes.query_class, problem.workload.ids, grid, release_s,
                      deadline_s, source=problem.workload.source)
    if aggregate is None:  # merge equal slots only where the model would be large
        span = (tc.last - tc.first + 1).astype(np.float64)
        pairs = float(problem.eligible[tc.base].sum(axis=1) @ span)
        aggregate = pairs > AGGREGATE_ABOVE
    return build_data(problem, grid, tc, prov, lam, minimise, carbon=c, price=pr,
                      aggregate=aggregate)


def _trivial(data: PlanData) -> bool:
    prov = data.provisioning
    return (data.grid.n_slots == 1 and not data.tclasses.has_windows
            and all(p.idle_power_w == 0 and p.startup_energy_j == 0 for p in prov)
            # carbon or cost in one slot: the same weights only when normalised (M = E·g
            # cancels g); with ``normalize = false`` λ·g·e + (1−λ)·r/R is another objective
            and (data.metric == "energy"
                 or (bool(data.problem.fleet.normalize) and float(data.g_slot[0]) > 0)))


def plan(problem: AssignmentProblem, lam: float = 0.5, *, slot_s: float | None = None,
         provisioning: ProvisioningLike = None, minimise: str = "energy",
         carbon: SignalLike = None, price: SignalLike = None, start: object = None,
         time_format: str | None = None, release_s: object = None, deadline_s: object = None,
         gap_tol: float = GAP_TOL, time_limit: float | None = None,
         engine: str = "auto") -> PlanResult:
    """Plan the day: replicas on per (system, slot) and every query's system and slot.

    Args:
        problem: class-level costs, ``offline_sched.build_problem(workload, fleet)``.
        lam: λ in [0, 1], the weight of the chosen metric.
        slot_s: slot length [s], dividing the window; None: the fleet's ``slot_s``, else one
            slot (today's model).
        provisioning: per system (by name or in fleet order); default: the systems' own
            ``idle_power_w``, ``min_instances``, ``startup_energy_j``,
            ``energy_includes_idle`` (none: no idle power).
        minimise: ``energy`` (J, default), ``carbon`` (g) or ``cost`` (currency).
        carbon: intensity [gCO2/kWh]: a CSV path, a :class:`Signal` (both need ``start``)
            or one value per slot.
        price: price [currency/kWh], likewise.
        start: timestamp of the window's start (ISO 8601), to align signal files.
            Signals, start and time format default to the fleet's ``[grid]`` table.
        time_format: ``strftime`` format of the signal files' timestamps (default ISO).
        release_s: per query, earliest start [s from the window start]; None: the
            workload's ``release_s`` column if any.
        deadline_s: per query, latest end [s]; None: the workload's ``deadline_s``.
        gap_tol: certified relative gap for ``status = "optimal"``.
        time_limit: seconds for the solver (best plan so far returned with its gap).
        engine: ``auto`` (today's solver where the model is today's), or ``slots``.

    Returns:
        The plan.

    Raises:
        InputError: bad input (named).
        InfeasibleError: no plan exists; which slots and systems are short, by how much.
        SolverError: HiGHS failed.
    """
    t0 = time.perf_counter()
    if engine not in ("auto", "slots"):
        raise InputError(f"engine, value {engine!r}: expected 'auto' or 'slots'")
    data = prepare(problem, lam, slot_s=slot_s, provisioning=provisioning, minimise=minimise,
                   carbon=carbon, price=price, start=start, time_format=time_format,
                   release_s=release_s, deadline_s=deadline_s)
    if engine == "auto" and _trivial(data):
        return _today(data, gap_tol, time_limit, t0)
    return solve_plan(data, gap_tol=gap_tol, time_limit=time_limit, t0=t0)


def solve_plan(data: PlanData, gap_tol: float = GAP_TOL, time_limit: float | None = None,
               t0: float | None = None) -> PlanResult:
    """Solve prepared data with the planner's own solver (see :mod:`.solve`)."""
    t0 = time.perf_counter() if t0 is None else t0
    sigma = objective_scale(data)  # the solver sees costs of about 1 per query
    sol = solve_options(scaled(data, sigma), time_limit, gap_tol)
    info = dict(sol.info)
    for key in ("lp_objective", "lp_bound"):  # back in the objective's own units
        if key in info:
            info[key] = info[key] / sigma
    if sigma != 1.0:
        info["objective_scale"] = sigma
    k, s, t, c, on = split_groups(data, sol.k, sol.j, sol.count, sol.n_on)
    busy = np.zeros(on.shape)
    np.add.at(busy, (s, t), c * data.rows.runtime[k, s])
    on = best_on(data, busy)
    ev = evaluate(data, k, s, t, c, on)
    return _result(data, "milp", k, s, t, c, on, ev, sol.lower_bound / sigma, gap_tol, t0,
                   sol.method, info)


def _result(data: PlanData, policy: str, k: np.ndarray, s: np.ndarray, t: np.ndarray,
            c: np.ndarray, on: np.ndarray, ev: Evaluation, lower: float, gap_tol: float,
            t0: float, method: str, info: dict) -> PlanResult:
    upper = ev.objective
    gap = max(0.0, (upper - lower) / max(abs(upper), 1e-12))
    return PlanResult(data=data, policy=policy, k=k, system=s, slot=t, count=c, on=on,
                      evaluation=ev, lower_bound=lower, gap=gap,
                      status="optimal" if gap <= gap_tol else "gap",
                      solve_s=time.perf_counter() - t0, method=method, info=info)


def _today(data: PlanData, gap_tol: float, time_limit: float | None, t0: float) -> PlanResult:
    from .. import solve as solve_today

    p = data.problem
    sched = solve_today(p.workload, p.fleet, data.lam, time_limit=time_limit,
                        gap_tol=gap_tol)
    counts = np.asarray(sched.counts)  # (C, S); one slot and no windows: time class = class
    k, s = np.nonzero(counts)
    c = counts[k, s].astype(np.int64)
    t = np.zeros(k.size, dtype=np.int64)
    busy = np.zeros((data.n_systems, 1))
    np.add.at(busy, (s, t), c * p.runtime_s[k, s])
    on = best_on(data, busy)
    ev = evaluate(data, k, s, t, c, on)
    info = {key: sched.summary.get(key) for key in ("lower_bound", "method", "status", "gap")}
    lower = info["lower_bound"]
    assert lower is None or isinstance(lower, int | float)
    # today's objective is the planner's with one slot and no idle power: same bound
    return _result(data, "milp", k, s, t, c, on, ev,
                   float(lower) if lower is not None else float("nan"), gap_tol, t0,
                   f"today:{info.get('method') or ''}", info)
