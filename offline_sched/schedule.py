"""Schedules: an assignment of every query to one system, and its evaluation.

Every policy produces a :class:`Schedule`, and every schedule is scored by the same code:
total energy, total device time, per-system busy time and makespan (busy / instances),
capacity and share feasibility, and the objective U of the problem's λ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .problem import AssignmentProblem

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
    sys_sorted = np.zeros(n, dtype=dtype)
    for s in range(sub.shape[1] - 1):  # loop over systems only
        sys_sorted += (rank >= cum[sorted_cls, s]).astype(dtype)
    out = np.empty(n, dtype=dtype)
    out[order] = sys_sorted
    return out


@dataclass
class Schedule:
    """An assignment of every query of a problem to one system, with its evaluation.

    Build it from per-class ``counts`` (C, S) or from a per-query ``system_index`` (N,); the
    other is derived.

    Attributes:
        problem: the problem it solves.
        policy: policy name.
        lam: λ it was scored with.
        counts: queries of class c on system s, (C, S) int64.
        info: solver facts (``gap``, ``lower_bound``, ``status``, ``method``, ``solve_s``,
            ``threshold``, ...), merged into :attr:`summary`.
    """

    problem: AssignmentProblem
    policy: str
    lam: float
    counts: np.ndarray | None = None
    system_index_: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.counts is None and self.system_index_ is None:
            raise ValueError("Schedule needs counts or system_index_")
        if self.counts is None:
            p = self.problem
            flat = p.classes.query_class * p.n_systems + self.system_index_
            self.counts = np.bincount(flat, minlength=p.classes.n_classes * p.n_systems
                                      ).reshape(p.classes.n_classes, p.n_systems)

    @cached_property
    def system_index(self) -> np.ndarray:
        """System index per query, (N,), input order."""
        if self.system_index_ is not None:
            return self.system_index_
        return expand_counts(self.problem.classes.query_class, self.counts)

    @property
    def assignment(self) -> pd.DataFrame:
        """DataFrame ``query_id, system``: one row per query, input order."""
        names = np.array(self.problem.fleet.names, dtype=object)
        return pd.DataFrame({"query_id": self.problem.workload.ids,
                             "system": names[self.system_index]})

    @cached_property
    def _busy_s(self) -> np.ndarray:
        rt = np.where(self.counts > 0, self.problem.runtime_s, 0.0)
        return np.einsum("cs,cs->s", self.counts, rt)

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
        p = self.problem
        out = []
        placed = self.counts.sum(axis=1)
        if (placed != p.classes.count).any():
            out.append("not every query is assigned exactly once")
        if (self.counts[~p.eligible] > 0).any():
            out.append("a query is on a system whose token limits it exceeds")
        busy = self._busy_s
        over = busy > p.capacity_s * (1 + 1e-9) + 1e-6
        for s in np.flatnonzero(over):
            out.append(f"{p.fleet[s].name}: busy {busy[s]:.6g} s > capacity "
                       f"{p.capacity_s[s]:.6g} s")
        per_sys = self.counts.sum(axis=0)
        for s in np.flatnonzero((per_sys < p.min_count) | (per_sys > p.max_count)):
            out.append(f"{p.fleet[s].name}: {per_sys[s]} queries outside share bounds "
                       f"[{p.min_count[s]}, {p.max_count[s]}]")
        return out

    @property
    def feasible(self) -> bool:
        """Whether the schedule meets every constraint (capacity, shares, eligibility)."""
        return not self.violations()

    @cached_property
    def objective(self) -> float:
        """Objective U = Σ_q weight(q, system(q)) at :attr:`lam`."""
        w = self.problem.weights(self.lam)
        used = self.counts > 0
        return float(np.sum(w[used] * self.counts[used]))

    @cached_property
    def summary(self) -> dict:
        """Key figures of the schedule.

        Keys: ``policy, lam, feasible, objective, energy_j, energy_kwh, runtime_s,
        mean_runtime_s, makespan_s, gap, solve_s, queries, clipped, extrapolated`` plus the
        solver's ``info`` (and ``mean_accuracy`` when systems have accuracies).
        """
        p = self.problem
        bs = self.by_system
        energy = float(bs["energy_j"].sum())
        runtime = float(bs["busy_s"].sum())
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
            "gap": float("nan"),
            "solve_s": float("nan"),
            "queries": n,
            "clipped": p.clipped,
            "extrapolated": p.extrapolated,
        }
        if p.accuracy_score is not None:
            acc = np.array([s.accuracy for s in p.fleet])
            out["mean_accuracy"] = float(self.counts.sum(axis=0) @ acc / n) if n else 0.0
        out.update(self.info)
        return out
