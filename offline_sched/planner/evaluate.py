"""One evaluation for every plan (MILP and baselines): energy with idle, carbon, cost, checks.

For a placement (queries of time class k on system s in slot t) and replicas on[s, t]:

* ``busy_s[s,t] = Σ count·r_s(q)``, ``energy of queries = Σ count·e_s(q)`` (as the cost
  model gives it),
* ``up[s,t] = max(0, on[s,t] − on[s,t−1])`` with every replica off before the window,
* ``static_energy_j = P_s·L·on − [includes idle] P_s·busy + SU_s·up`` (idle power of the
  replicas on, minus what the per-query energies already hold, plus start-ups),
* ``energy_j = energy of queries + static_energy_j``,
* ``carbon_g = energy_j / 3.6e6 · intensity_t``, ``cost = energy_j / 3.6e6 · price_t``
  (NaN without the signal),
* objective ``U = λ·Σ g_t·energy_j / M + (1−λ)·Σ busy_s / R`` (see :mod:`.data`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data import J_PER_KWH, PlanData

BY_SLOT_COLUMNS = ["slot", "start_s", "system", "instances_on", "queries", "busy_s", "energy_j",
                   "static_energy_j", "carbon_g", "cost"]


@dataclass(frozen=True)
class Evaluation:
    """Figures of one plan.

    Attributes:
        by_slot: one row per slot × system, columns :data:`BY_SLOT_COLUMNS`.
        objective: U.
        energy_j: total energy, static included [J].
        static_energy_j: idle and start-up energy [J].
        carbon_g: emissions [gCO2] (NaN without a carbon signal).
        cost: electricity cost [currency] (NaN without a price signal).
        runtime_s: total busy time [s].
        instances_on_max: most replicas on at once (all systems, over the slots).
        violations: broken constraints, human-readable (empty when feasible).
    """

    by_slot: pd.DataFrame
    objective: float
    energy_j: float
    static_energy_j: float
    carbon_g: float
    cost: float
    runtime_s: float
    instances_on_max: int
    violations: list = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        """Whether every constraint holds."""
        return not self.violations


def evaluate(data: PlanData, k: np.ndarray, s: np.ndarray, t: np.ndarray, count: np.ndarray,
             on: np.ndarray) -> Evaluation:
    """Score a placement; see the module docstring.

    Args:
        data: the planner's data (problem, slots, provisioning, signals, λ, scales).
        k: time class of each entry.
        s: system of each entry.
        t: slot of each entry.
        count: queries of each entry.
        on: replicas on, (S, T).
    """
    p = data.problem
    tc = data.tclasses
    n_s, n_t = data.n_systems, data.grid.n_slots
    k, s, t = (np.asarray(v, dtype=np.int64) for v in (k, s, t))
    count = np.asarray(count, dtype=np.int64)
    on = np.asarray(on, dtype=np.int64)
    base = tc.base[k]
    cell = s * n_t + t
    rt = p.runtime_s[base, s]
    en = p.energy_j[base, s]
    size = n_s * n_t
    busy = np.bincount(cell, weights=count * rt, minlength=size).reshape(n_s, n_t)
    dyn = np.bincount(cell, weights=count * en, minlength=size).reshape(n_s, n_t)
    queries = np.bincount(cell, weights=count, minlength=size).reshape(n_s, n_t)
    prov = data.provisioning
    idle = np.array([q.idle_power_w for q in prov])[:, None]
    incl = np.array([q.energy_includes_idle for q in prov])[:, None]
    su = np.array([q.startup_energy_j for q in prov])[:, None]
    length = data.grid.replica_s[:, None]
    up = np.maximum(np.diff(on, axis=1, prepend=0), 0)
    static = idle * length * on - incl * idle * busy + su * up
    energy = dyn + static
    kwh = energy / J_PER_KWH
    carbon = kwh * data.carbon[None, :] if data.carbon is not None else np.full_like(kwh, np.nan)
    cost = kwh * data.price[None, :] if data.price is not None else np.full_like(kwh, np.nan)
    metric = float(np.sum(energy * data.g_slot[None, :]))
    runtime = float(busy.sum())
    objective = (data.lam * metric / data.metric_scale if data.lam > 0 else 0.0) + \
        (1.0 - data.lam) * runtime / data.runtime_scale
    names = np.asarray(p.fleet.names)
    frame = pd.DataFrame({
        "slot": np.tile(np.arange(n_t), n_s), "start_s": np.tile(data.grid.starts_s, n_s),
        "system": np.repeat(names, n_t), "instances_on": on.ravel(),
        "queries": queries.ravel().astype(np.int64), "busy_s": busy.ravel(),
        "energy_j": energy.ravel(), "static_energy_j": static.ravel(),
        "carbon_g": carbon.ravel(), "cost": cost.ravel()})
    frame = frame.sort_values(["slot"], kind="stable").reset_index(drop=True)
    viol = violations(data, k, s, t, count, on, busy)
    return Evaluation(by_slot=frame[BY_SLOT_COLUMNS], objective=float(objective),
                      energy_j=float(energy.sum()), static_energy_j=float(static.sum()),
                      carbon_g=float(carbon.sum()), cost=float(cost.sum()), runtime_s=runtime,
                      instances_on_max=int(on.sum(axis=0).max(initial=0)), violations=viol)


def violations(data: PlanData, k: np.ndarray, s: np.ndarray, t: np.ndarray,
               count: np.ndarray, on: np.ndarray, busy: np.ndarray) -> list[str]:
    """Broken constraints of a placement (empty list when feasible)."""
    p, tc, rows = data.problem, data.tclasses, data.rows
    names = p.fleet.names
    out = []
    if (count < 0).any():
        out.append("negative query counts")
    placed = np.bincount(k, weights=count, minlength=tc.n_classes)
    if (placed != tc.count).any():
        out.append(f"{int((placed != tc.count).sum())} query classes are not placed exactly "
                   "once")
    used = count > 0
    if (~rows.eligible[k[used], s[used]]).any():
        out.append("a query is on a system whose token limits it exceeds")
    if ((t[used] < tc.first[k[used]]) | (t[used] > tc.last[k[used]])).any():
        n_out = int(count[used][(t[used] < tc.first[k[used]]) | (t[used] > tc.last[k[used]])
                                ].sum())
        out.append(f"{n_out} queries run outside their release/deadline window")
    cap = data.grid.replica_s[:, None] * on
    over = busy > cap * (1 + 1e-9) + 1e-6
    for si, ti in zip(*np.nonzero(over), strict=True):
        short = busy[si, ti] - cap[si, ti]
        extra = int(np.ceil(short / data.grid.replica_s[si] - 1e-12))
        out.append(f"slot {ti}, {names[si]}: busy {busy[si, ti]:.6g} s > {on[si, ti]} "
                   f"replicas x {data.grid.replica_s[si]:g} s (short by {short:.6g} s, "
                   f"{extra} replicas)")
    inst = np.array([sy.instances for sy in p.fleet])[:, None]
    lo = np.array([q.min_instances for q in data.provisioning])[:, None]
    if (on > inst).any():
        out.append("more replicas on than instances")
    if (on < lo).any():
        out.append("fewer replicas on than min_instances")
    if p.has_shares:
        per = np.bincount(s, weights=count, minlength=data.n_systems)
        for si in np.flatnonzero((per < p.min_count) | (per > p.max_count)):
            out.append(f"{names[si]}: {int(per[si])} queries outside share bounds "
                       f"[{p.min_count[si]}, {p.max_count[si]}]")
    return out
