"""Schedules: an assignment of every query to one system, and its evaluation.

Every policy produces a :class:`Schedule`, and every schedule is scored by the same code:
total energy, total device time, per-system busy time and makespan (busy / instances),
capacity and share feasibility, and the objective U of the problem's λ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .problem import AssignmentProblem, busy_seconds, violations
from .solver.status import SolveResult

if TYPE_CHECKING:
    from .dispatch.plan import Plan
    from .planner.model import PlanResult

J_PER_KWH = 3.6e6


def expand_counts(query_class: np.ndarray, counts: np.ndarray,
                  start: np.ndarray | None = None) -> np.ndarray:
    """Turn per-class counts into a per-query system index (vectorised).

    Within each class, queries are taken in input order: the first ``counts[c, 0]`` go to
    system 0, the next ``counts[c, 1]`` to system 1, and so on. Classes on one system (nearly
    all of them in an optimal schedule) are a lookup; only the queries of split classes are
    sorted.

    Args:
        query_class: class of each query, (N,).
        counts: queries of class c on system s, (C, S); rows sum to the class sizes.
        start: for one part of a job list expanded part by part: the number of queries of
            each class in the earlier parts, (C,); this part's queries of class c then take
            positions ``start[c], start[c] + 1, …`` of the class. None: 0 (the whole list).

    Returns:
        System index per query, (N,), int16/int32.
    """
    dtype = np.int16 if counts.shape[1] < 2**15 else np.int32
    used = counts > 0
    out = np.argmax(used, axis=1).astype(dtype)[query_class]
    split = used.sum(axis=1) > 1
    if not split.any():
        return out
    queries = np.flatnonzero(split[query_class])  # input order
    out[queries] = _expand_split(query_class[queries], counts, split, start)
    return out


def _expand_split(query_class: np.ndarray, counts: np.ndarray, split: np.ndarray,
                  start: np.ndarray | None) -> np.ndarray:
    """:func:`expand_counts` for queries (in input order) of the classes marked ``split``."""
    n = query_class.shape[0]
    dtype = np.int16 if counts.shape[1] < 2**15 else np.int32
    local = np.cumsum(split) - 1  # class -> index among the split classes
    sub = counts[split]
    cls = local[query_class]
    order = np.argsort(cls, kind="stable")
    sorted_cls = cls[order]
    class_start = np.concatenate([[0], np.cumsum(np.bincount(cls, minlength=sub.shape[0]))[:-1]])
    rank = np.arange(n, dtype=np.int64) - class_start[sorted_cls]
    if start is not None:
        rank += np.asarray(start, dtype=np.int64)[split][sorted_cls]
    cum = np.cumsum(sub, axis=1)
    sys_sorted: np.ndarray = np.zeros(n, dtype=dtype)
    for s in range(sub.shape[1] - 1):  # loop over systems only
        sys_sorted += (rank >= cum[sorted_cls, s]).astype(dtype)
    out = np.empty(n, dtype=dtype)
    out[order] = sys_sorted
    return out


@dataclass
class Schedule:
    """An assignment of every query of a problem to one system, with its evaluation.

    Build it from per-class ``counts`` (C, S) or from a per-query ``system_index_`` (N,); the
    other is derived.

    Attributes:
        problem: the problem it solves.
        policy: policy name.
        lam: λ it was scored with.
        counts: queries of class c on system s, (C, S) int64.
        system_index_: system index per query (N,), when the policy decided per query.
        result: the solver's typed result (the ``milp`` policy), else None.
        solve_s: wall time of the policy [s] (the solver's when ``result`` is set).
        params: policy parameters worth reporting (``threshold``, ``seed``, ``fallback``).
        planned: the plan in time this schedule comes from (replicas on per system and
            slot, each query's slot), when the call planned in time; None for today's
            one-slot, always-on model. It then scores the schedule: objective, energy
            (static included), feasibility and :attr:`by_slot` are the plan's.
    """

    problem: AssignmentProblem
    policy: str
    lam: float
    # None only until __post_init__ derives it from system_index_
    counts: np.ndarray = field(default=None, repr=False)  # type: ignore[arg-type]
    system_index_: np.ndarray | None = field(default=None, repr=False)
    result: SolveResult | None = field(default=None, repr=False)
    solve_s: float = float("nan")
    params: Mapping[str, float] = field(default_factory=dict, repr=False)
    planned: PlanResult | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.counts is None and self.system_index_ is None:
            raise ValueError("Schedule needs counts or system_index_")
        if self.counts is None:
            p = self.problem
            flat = p.classes.query_class * p.n_systems + self.system_index_
            self.counts = np.bincount(flat, minlength=p.classes.n_classes * p.n_systems
                                      ).reshape(p.classes.n_classes, p.n_systems)
        if self.result is not None and np.isnan(self.solve_s):
            self.solve_s = self.result.solve_s

    def __repr__(self) -> str:
        status = self.result.status.value if self.result is not None else "-"
        gap = f"{self.result.gap:.3g}" if self.result is not None else "-"
        return (f"Schedule(policy={self.policy!r}, lam={self.lam:g}, status={status}, "
                f"objective={self.objective:.6g}, gap={gap}, queries={self.problem.n_queries})")

    @cached_property
    def system_index(self) -> np.ndarray:
        """System index per query, (N,), input order."""
        if self.system_index_ is not None:
            return self.system_index_
        return expand_counts(self.problem.classes.query_class, self.counts)

    @property
    def n_slots(self) -> int:
        """Number of time slots of the window (1 unless planned in time)."""
        return 1 if self.planned is None else int(self.planned.data.grid.n_slots)

    @cached_property
    def slot_index(self) -> np.ndarray:
        """Slot (0-based) of every query, (N,), input order; all 0 with one slot."""
        if self.planned is None:
            return np.zeros(self.problem.n_queries, dtype=np.int64)
        return np.asarray(self.planned.query_plan()[1], dtype=np.int64)

    @property
    def assignment(self) -> pd.DataFrame:
        """DataFrame ``query_id, system``: one row per query, input order.

        With more than one slot it has a third column ``slot`` (integer, 0-based).
        """
        names = np.array(self.problem.fleet.names, dtype=object)
        frame = pd.DataFrame({"query_id": self.problem.workload.ids,
                              "system": names[self.system_index]})
        if self.n_slots > 1:
            frame["slot"] = self.slot_index
        return frame

    @cached_property
    def by_slot(self) -> pd.DataFrame:
        """One row per slot × system, the columns of the per-slot table.

        Columns: ``slot, start_s, system, instances_on, queries, busy_s, energy_j,
        static_energy_j, carbon_g, cost``. Unplanned schedules are today's model: one
        slot, every replica on, no idle power (``carbon_g`` and ``cost`` are NaN: no signal).
        """
        if self.planned is not None:
            return self.planned.by_slot
        from .planner.schedules import always_on_view

        return always_on_view(self.problem, self.lam, self.counts).by_slot

    @cached_property
    def _busy_s(self) -> np.ndarray:
        return busy_seconds(self.problem, self.counts)

    @cached_property
    def by_system(self) -> pd.DataFrame:
        """Per system: ``system, queries, energy_j, busy_s, capacity_s, makespan_s``."""
        p = self.problem
        en = np.where(self.counts > 0, p.energy_j, 0.0)
        inst = np.array([s.instances for s in p.fleet], dtype=np.float64)
        busy = self._busy_s
        with np.errstate(divide="ignore", invalid="ignore"):
            makespan = np.where(inst > 0, busy / np.maximum(inst, 1), 0.0)
        return pd.DataFrame({
            "system": p.fleet.names,
            "model": [s.model for s in p.fleet],
            "queries": self.counts.sum(axis=0).astype(np.int64),
            "energy_j": np.einsum("cs,cs->s", self.counts, en),
            "busy_s": busy,
            "capacity_s": p.capacity_s,
            "makespan_s": makespan,
            "utilisation": np.where(p.capacity_s > 0, busy / np.maximum(p.capacity_s, 1e-300),
                                    0.0),
        })

    def violations(self) -> list[str]:
        """Human-readable list of broken constraints (empty when feasible)."""
        if self.planned is not None:
            return list(self.planned.evaluation.violations)
        return violations(self.problem, self.counts)

    @cached_property
    def plan(self) -> Plan:
        """The executable per-replica plan, packed onto each system's replicas.

        Columns ``query_id, system, replica, slot, start_s, end_s``; see
        :func:`offline_sched.dispatch.plan.executable_schedule` for the schedule it executes
        when packing has to move queries.
        """
        from .dispatch.plan import plan_for_schedule

        return plan_for_schedule(self)

    @property
    def feasible(self) -> bool:
        """Whether the schedule meets every constraint (capacity, shares, eligibility)."""
        return not self.violations()

    @cached_property
    def objective(self) -> float:
        """Objective U = Σ_q weight(q, system(q)) at :attr:`lam` (the plan's U if planned)."""
        if self.planned is not None:
            return float(self.planned.objective)
        w = self.problem.weights(self.lam)
        used = self.counts > 0
        return float(np.sum(w[used] * self.counts[used]))

    @cached_property
    def summary(self) -> dict[str, object]:
        """Key figures of the schedule.

        Keys: ``policy, lam, feasible, objective, energy_j, energy_kwh, runtime_s,
        mean_runtime_s, makespan_s, static_energy_j, static_energy_kwh, carbon_g, carbon_kg,
        cost, instances_on_max, gap,
        solve_s, queries, clipped, extrapolated``, the
        solver's ``lower_bound, status, method`` (with a :attr:`result`), the policy's
        :attr:`params` (and ``mean_accuracy`` when systems have accuracies).
        """
        p = self.problem
        bs = self.by_system
        energy = float(bs["energy_j"].sum())
        runtime = float(bs["busy_s"].sum())
        # today's model: every replica on, no idle power, no signal
        static, carbon, cost = 0.0, float("nan"), float("nan")
        on_max = int(sum(s.instances for s in p.fleet))
        if self.planned is not None:
            ev = self.planned.evaluation
            energy, runtime, static = ev.energy_j, ev.runtime_s, ev.static_energy_j
            carbon, cost, on_max = ev.carbon_g, ev.cost, int(ev.instances_on_max)
        n = p.n_queries
        out = {
            "policy": self.policy,
            "lam": self.lam,
            "feasible": self.feasible,
            "objective": self.objective,
            "energy_j": energy,
            "energy_kwh": energy / J_PER_KWH,
            "runtime_s": runtime,
            "mean_runtime_s": runtime / n if n else 0.0,
            "makespan_s": float(bs["makespan_s"].max()),
            "static_energy_j": static,
            "static_energy_kwh": static / J_PER_KWH,
            "carbon_g": carbon,
            "carbon_kg": carbon / 1e3,
            "cost": cost,
            "instances_on_max": on_max,
            "gap": float("nan"),
            "solve_s": self.solve_s,
            "queries": n,
            "clipped": p.clipped,
            "extrapolated": p.extrapolated,
        }
        if p.accuracy_score is not None:
            acc = np.array([s.accuracy for s in p.fleet])
            out["mean_accuracy"] = float(self.counts.sum(axis=0) @ acc / n) if n else 0.0
        if self.result is not None:
            out.update(self.result.as_dict())
        if self.planned is not None:
            out.update(slots=self.n_slots, minimise=self.planned.data.metric)
        out.update(self.params)
        if "plan" in self.__dict__:  # packed: report what packing cost
            plan = self.__dict__["plan"]
            out.update(packing_loss_s=plan.packing_loss_s, moved=plan.moved,
                       replicas_used=plan.summary["replicas_used"])
        return out
