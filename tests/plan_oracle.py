"""An independent per-query, per-slot oracle for planning the day (issue 11), in PuLP/CBC.

Built from raw inputs only: the workload frame (tokens, optional ``release_s``/``deadline_s``),
the fleet TOML text (hand-given coefficients, ``idle_power_w``, ``min_instances``,
``startup_energy_j``, ``energy_includes_idle``), the slot length and the per-slot signal
values. Per-query costs come from ``tests/oracle.py``'s raw evaluation; nothing of
``offline_sched`` is imported.

Model (issue 11, "The model")::

    min  λ/M · Σ_t g_t · (Σ_{q,s} e_qs x_qst + Σ_s static_st) + (1−λ)/R · Σ r_qs x_qst
    static_st = P_s·L·on_st − [includes idle] P_s · Σ_q r_qs x_qst + SU_s · up_st
    Σ_{s,t} x_qst = 1;  Σ_q r_qs x_qst ≤ L·on_st;  min_s ≤ on_st ≤ instances_s;
    up_st = max(0, on_st − on_s,t−1) (on_s,−1 = 0; exact, with a binary);  x binary,
    on integer;
    x_qst = 0 unless q is eligible on s, r_qs ≤ L and slot t lies inside q's window.

g_t = 1 (energy), intensity_t / 3.6e6 (carbon) or price_t / 3.6e6 (cost). M = the largest
eligible per-query energy (× max_t |g_t| for carbon and cost; 1 with ``normalize = false``),
R = the largest eligible runtime. Share bounds are not modelled (instances have none).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pulp
from oracle import raw_problem

J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class PlanOracle:
    """What the oracle found: ``objective`` (None when infeasible) and the raw model data."""

    objective: float | None
    e: np.ndarray
    r: np.ndarray
    allowed: np.ndarray
    g: np.ndarray
    m: float
    r_scale: float
    idle: np.ndarray
    incl: np.ndarray
    startup: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    slot_s: float
    lam: float

    def score(self, system: np.ndarray, slot: np.ndarray, on: np.ndarray
              ) -> tuple[float, list[str]]:
        """Objective and broken constraints of a per-query plan, from the raw data."""
        n = system.shape[0]
        q = np.arange(n)
        broken = []
        if not self.allowed[q, system, slot].all():
            broken.append("a query outside its eligibility or window")
        n_s, n_t = on.shape
        busy = np.zeros((n_s, n_t))
        energy = np.zeros((n_s, n_t))
        np.add.at(busy, (system, slot), self.r[q, system])
        np.add.at(energy, (system, slot), self.e[q, system])
        if (busy > self.slot_s * on * (1 + 1e-9) + 1e-6).any():
            broken.append("capacity")
        if (on < self.lo[:, None]).any() or (on > self.hi[:, None]).any():
            broken.append("replica bounds")
        up = np.maximum(0, on - np.concatenate([np.zeros((n_s, 1)), on[:, :-1]], axis=1))
        static = (self.idle[:, None] * self.slot_s * on
                  - self.incl[:, None] * self.idle[:, None] * busy
                  + self.startup[:, None] * up)
        value = (self.lam / self.m * float(((energy + static) * self.g[None, :]).sum())
                 + (1 - self.lam) / self.r_scale * float(busy.sum()))
        return value, broken


def plan_oracle(frame: pd.DataFrame, fleet_toml: str, lam: float, slot_s: float,
                metric: str = "energy", carbon: list[float] | None = None,
                price: list[float] | None = None) -> PlanOracle:
    """Solve the per-query, per-slot MILP with CBC (see the module docstring)."""
    raw = raw_problem(frame, fleet_toml, lam)
    data = tomllib.loads(fleet_toml)
    systems = data["system"]
    window = float(data["window_s"])
    n_t = int(round(window / slot_s))
    e, r, ok = raw.energy_j, raw.runtime_s, raw.eligible
    n, n_s = e.shape
    if metric == "energy":
        g = np.ones(n_t)
    else:
        g = np.asarray(carbon if metric == "carbon" else price, dtype=float) / J_PER_KWH
    normalize = bool(data.get("normalize", True))
    m = float(e[ok].max()) if normalize and lam > 0 else 1.0
    if metric != "energy" and normalize:
        m *= float(np.abs(g).max()) or 1.0
    r_scale = float(r[ok].max()) if normalize else 1.0
    idle = np.array([float(s.get("idle_power_w", 0.0)) for s in systems])
    incl = np.array([bool(s.get("energy_includes_idle", False)) for s in systems], float)
    su = np.array([float(s.get("startup_energy_j", 0.0)) for s in systems])
    lo = np.array([int(s.get("min_instances", 0)) for s in systems])
    hi = np.array([int(s.get("instances", 1)) for s in systems])
    rel = frame["release_s"].to_numpy(float) if "release_s" in frame else np.zeros(n)
    dl = frame["deadline_s"].to_numpy(float) if "deadline_s" in frame else np.full(n, window)
    starts = np.arange(n_t) * slot_s
    inside = (rel[:, None] <= starts[None, :] + 1e-9) & (starts[None, :] + slot_s
                                                        <= dl[:, None] + 1e-9)
    allowed = (ok & (r <= slot_s))[:, :, None] & inside[:, None, :]

    prob = pulp.LpProblem("plan_oracle", pulp.LpMinimize)
    x = {(q, s, t): pulp.LpVariable(f"x_{q}_{s}_{t}", cat="Binary")
         for q, s, t in zip(*np.nonzero(allowed), strict=True)}
    on = {(s, t): pulp.LpVariable(f"on_{s}_{t}", lowBound=int(lo[s]), upBound=int(hi[s]),
                                  cat="Integer") for s in range(n_s) for t in range(n_t)}
    up = {(s, t): pulp.LpVariable(f"up_{s}_{t}", lowBound=0) for s in range(n_s)
          for t in range(n_t)}
    # up = max(0, on_t − on_{t−1}) exactly (a negative price makes a start-up pay, so a
    # mere up ≥ on_t − on_{t−1} would be exploited): z = 1 when replicas are switched on
    z = {(s, t): pulp.LpVariable(f"z_{s}_{t}", cat="Binary") for s in range(n_s)
         for t in range(n_t)}
    terms = []
    for (q, s, t), var in x.items():
        net = e[q, s] - incl[s] * idle[s] * r[q, s]
        terms.append((lam * g[t] * net / m + (1 - lam) * r[q, s] / r_scale, var))
    for (s, t), var in on.items():
        terms.append((lam * g[t] * idle[s] * slot_s / m, var))
        terms.append((lam * g[t] * su[s] / m, up[s, t]))
    # CBC's tolerances are absolute (about 1e-7): costs far below them (unnormalised carbon
    # or money per query) are solved scaled to a largest coefficient of 1
    top = max((abs(c) for c, _ in terms), default=0.0)
    unit = 1.0 / top if 0.0 < top < 1e-3 else 1.0
    prob += pulp.lpSum(c * unit * v for c, v in terms)
    for q in range(n):
        prob += pulp.lpSum(v for (qq, _, _), v in x.items() if qq == q) == 1
    for s in range(n_s):
        for t in range(n_t):
            prob += (pulp.lpSum(r[q, s] * v for (q, ss, tt), v in x.items()
                                if ss == s and tt == t) <= slot_s * on[s, t])
            rise = on[s, t] - (on[s, t - 1] if t else 0)
            prob += up[s, t] >= rise
            prob += up[s, t] <= rise + int(hi[s]) * (1 - z[s, t])
            prob += up[s, t] <= int(hi[s]) * z[s, t]
    status = prob.solve(pulp.PULP_CBC_CMD(msg=False, gapRel=1e-10, timeLimit=120))
    value: float | None
    if status == pulp.LpStatusInfeasible:
        value = None
    else:
        if not (status == pulp.LpStatusOptimal and prob.sol_status == pulp.LpSolutionOptimal):
            raise RuntimeError(f"CBC did not prove optimality: {pulp.LpStatus[status]}, "
                               f"sol_status {prob.sol_status}")
        value = float(pulp.value(prob.objective)) / unit
    return PlanOracle(value, e, r, allowed, g, m, r_scale, idle, incl, su, lo, hi, slot_s, lam)
