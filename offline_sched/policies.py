"""Scheduling policies. Each maps an :class:`AssignmentProblem` and λ to a :class:`Schedule`.

========================  ===================================================================
``milp``                  the exact optimum of the assignment MILP (see :mod:`solvers`)
``threshold-input``       e-Energy paper: queries with τin ≤ τ* go to the most energy-efficient
                          small (non-GPU) system, the rest to the GPU system; τ* swept over the
                          workload's values to minimise U (feasible τ* preferred)
``threshold-output``      the same on τout
``threshold-product``     the same on τin·τout
``threshold-*@32``        the same with the paper's fixed τ* = 32
``all-gpu``               every query to a GPU system (the cheapest eligible one by U)
``round-robin``           query i to system i mod S (next eligible one if it cannot take it)
``random``                each query to a uniformly random eligible system (seeded)
``greedy``                each query to its cheapest eligible system by U, ignoring capacity
========================  ===================================================================

A policy never sends a query to a system whose token limits it exceeds (a threshold policy
falls back to the other system, then to the cheapest eligible one). Capacity is the MILP's
business only: a baseline that breaks it is reported ``feasible = false``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from .errors import InputError
from .problem import AssignmentProblem
from .schedule import Schedule
from .solver.highs_solver import HighsSolver, solve_pulp

PAPER_THRESHOLD = 32


def _from_choice(problem: AssignmentProblem, lam: float, policy: str, choice: np.ndarray,
                 info: dict | None = None) -> Schedule:
    """Schedule sending every query of class c to system ``choice[c]``."""
    counts = np.zeros(problem.eligible.shape, dtype=np.int64)
    counts[np.arange(choice.size), choice] = problem.classes.count
    return Schedule(problem, policy, lam, counts=counts, info=info or {})


def milp(problem: AssignmentProblem, lam: float, solver: str = "highs",
         time_limit: float | None = None, gap_tol: float | None = None,
         highs: HighsSolver | None = None, **_: object) -> Schedule:
    """Exact MILP schedule (HiGHS fast path, or the per-query PuLP reference)."""
    if solver == "highs":
        engine = highs or HighsSolver(problem, **({"gap_tol": gap_tol} if gap_tol else {}))
        res = engine.solve(lam, time_limit=time_limit)
        sched = Schedule(problem, "milp", lam, counts=res.counts)
    elif solver == "pulp" or solver.startswith("pulp:"):
        name = solver.split(":", 1)[1] if ":" in solver else "PULP_CBC_CMD"
        sys_idx, res = solve_pulp(problem, lam, solver=name, time_limit=time_limit)
        sched = Schedule(problem, "milp", lam, counts=res.counts, system_index_=sys_idx)
    else:
        raise InputError(f"solver, value {solver!r}: expected 'highs', 'pulp' or "
                         "'pulp:<PuLP solver name>'")
    sched.info.update(gap=res.gap, lower_bound=res.lower_bound, status=res.status,
                      method=res.method, solve_s=res.solve_s)
    return sched


def greedy(problem: AssignmentProblem, lam: float, **_: object) -> Schedule:
    """Each query to its cheapest eligible system by U, ignoring capacity."""
    t0 = time.perf_counter()
    choice = np.argmin(problem.weights(lam), axis=1)
    return _from_choice(problem, lam, "greedy", choice,
                        {"solve_s": time.perf_counter() - t0})


def cheapest_among(problem: AssignmentProblem, w: np.ndarray, allowed: np.ndarray
                    ) -> np.ndarray:
    """Per class, the cheapest eligible system among ``allowed`` (else any eligible one)."""
    masked = np.where(allowed[None, :] & problem.eligible, w, np.inf)
    choice = np.argmin(masked, axis=1)
    none = ~np.isfinite(masked.min(axis=1))
    if none.any():
        choice[none] = np.argmin(w[none], axis=1)
    return choice


def all_gpu(problem: AssignmentProblem, lam: float, **_: object) -> Schedule:
    """Every query to a GPU system (cheapest eligible GPU system by U)."""
    t0 = time.perf_counter()
    gpu = np.array([s.gpu for s in problem.fleet])
    if not gpu.any():
        raise InputError(f"{problem.fleet.name}: all-gpu needs a system with gpu = true")
    choice = cheapest_among(problem, problem.weights(lam), gpu)
    return _from_choice(problem, lam, "all-gpu", choice, {"solve_s": time.perf_counter() - t0})


def round_robin(problem: AssignmentProblem, lam: float, **_: object) -> Schedule:
    """Query i to system i mod S, or the next system (cyclically) that can take it."""
    t0 = time.perf_counter()
    n, n_s = problem.n_queries, problem.n_systems
    qc = problem.classes.query_class
    base = np.arange(n) % n_s
    choice = np.full(n, -1, dtype=np.int64)
    for off in range(n_s):  # loop over systems only
        cand = (base + off) % n_s
        take = (choice < 0) & problem.eligible[qc, cand]
        choice[take] = cand[take]
    return Schedule(problem, "round-robin", lam, system_index_=choice,
                    info={"solve_s": time.perf_counter() - t0})


def random_policy(problem: AssignmentProblem, lam: float, seed: int = 0, **_: object
                  ) -> Schedule:
    """Each query to a uniformly random eligible system (``numpy`` generator seeded)."""
    t0 = time.perf_counter()
    qc = problem.classes.query_class
    elig = problem.eligible.astype(np.int64)
    k = elig.sum(axis=1)[qc]
    pick = np.floor(np.random.default_rng(seed).random(qc.size) * k).astype(np.int64)
    cum = np.cumsum(elig, axis=1)  # per class: how many eligible systems up to s
    choice = np.zeros(qc.size, dtype=np.int64)
    for s in range(problem.n_systems):
        choice += (cum[qc, s] <= pick).astype(np.int64)
    return Schedule(problem, "random", lam, system_index_=choice,
                    info={"solve_s": time.perf_counter() - t0, "seed": seed})


def threshold_feature(problem: AssignmentProblem, feature: str) -> np.ndarray:
    """Per-class value the threshold is applied to: τin, τout or τin·τout."""
    c = problem.classes
    if feature == "input":
        return c.input_tokens
    if feature == "output":
        return c.output_tokens
    return c.input_tokens * c.output_tokens


def small_and_gpu(problem: AssignmentProblem) -> tuple[int, int] | None:
    """The (small, gpu) system pair of the threshold policies, or None if not applicable.

    The small system is the non-GPU system with the least energy per query, the GPU system
    the GPU system with the least energy per query, both averaged over the queries every
    candidate can take.
    """
    gpu = np.array([s.gpu for s in problem.fleet])
    if gpu.all() or not gpu.any():
        return None
    cost = problem.energy_j if np.isfinite(problem.energy_j).all() else problem.runtime_s

    def best(mask: np.ndarray) -> int:
        idx = np.flatnonzero(mask)
        common = problem.eligible[:, idx].all(axis=1)
        rows = common if common.any() else np.ones(common.shape, dtype=bool)
        mean = problem.classes.count[rows] @ cost[rows][:, idx]
        return int(idx[np.argmin(mean)])

    return best(~gpu), best(gpu)


def threshold(problem: AssignmentProblem, lam: float, feature: str = "input",
              value: float | None = None, **_: object) -> Schedule:
    """The e-Energy paper's single-threshold hybrid policy.

    Args:
        problem: the problem.
        lam: energy weight.
        feature: ``input``, ``output`` or ``product``.
        value: fixed τ*; if None, τ* is swept over the workload's feature values (plus 0)
            and the one with the least U among capacity-feasible choices is taken (the least
            U overall if none is feasible).

    Raises:
        InputError: the fleet lacks a non-GPU or a GPU system.
    """
    t0 = time.perf_counter()
    pair = small_and_gpu(problem)
    name = f"threshold-{feature}" + ("" if value is None else f"@{value:g}")
    if pair is None:
        raise InputError(f"{problem.fleet.name}: {name} needs one GPU and one non-GPU system")
    small, big = pair
    w = problem.weights(lam)
    f = threshold_feature(problem, feature)
    # queries on the GPU side: the GPU system if eligible, else the cheapest eligible
    big_choice = cheapest_among(problem, w, np.arange(problem.n_systems) == big)
    can_small = problem.eligible[:, small]
    if value is None:
        value = _sweep(problem, w, f, small, big_choice, can_small)
    to_small = (f <= value) & can_small
    choice = np.where(to_small, small, big_choice)
    return _from_choice(problem, lam, name, choice,
                        {"threshold": float(value), "solve_s": time.perf_counter() - t0})


def _sweep(problem: AssignmentProblem, w: np.ndarray, f: np.ndarray, small: int,
           big_choice: np.ndarray, can_small: np.ndarray) -> float:
    """Best τ* over candidates {0} ∪ feature values, by cumulative sums (vectorised)."""
    cnt = problem.classes.count.astype(np.float64)
    rows = np.arange(f.size)
    base_w = w[rows, big_choice] * cnt
    delta_w = np.where(can_small, (w[:, small] - w[rows, big_choice]) * cnt, 0.0)
    rt = problem.runtime_s
    n_s = problem.n_systems
    base_busy = np.zeros(n_s)
    np.add.at(base_busy, big_choice, rt[rows, big_choice] * cnt)
    order = np.argsort(f, kind="stable")
    fs = f[order]
    last = np.r_[fs[1:] != fs[:-1], True]  # a candidate τ* takes every class with f ≤ τ*
    cand = np.r_[0, fs[last]]
    d_obj = np.r_[0.0, np.cumsum(delta_w[order])[last]]
    obj = base_w.sum() + d_obj
    # busy time per system as τ* moves: small gains, each class's GPU-side system loses
    move = can_small[order]
    busy = np.tile(base_busy, (cand.size, 1))
    gain_small = np.r_[0.0, np.cumsum(np.where(move, rt[order, small] * cnt[order], 0))[last]]
    busy[:, small] += gain_small
    for s in range(n_s):
        lose = np.where(move & (big_choice[order] == s), rt[order, s] * cnt[order], 0.0)
        busy[:, s] -= np.r_[0.0, np.cumsum(lose)[last]]
    ok = (busy <= problem.capacity_s * (1 + 1e-9) + 1e-6).all(axis=1)
    pool = np.flatnonzero(ok) if ok.any() else np.arange(cand.size)
    return float(cand[pool[np.argmin(obj[pool])]])


Policy = Callable[..., Schedule]

POLICIES: dict[str, Policy] = {
    "milp": milp,
    "threshold-input": lambda p, lam, **kw: threshold(p, lam, "input", **kw),
    "threshold-output": lambda p, lam, **kw: threshold(p, lam, "output", **kw),
    "threshold-product": lambda p, lam, **kw: threshold(p, lam, "product", **kw),
    "all-gpu": all_gpu,
    "round-robin": round_robin,
    "random": random_policy,
    "greedy": greedy,
}
"""Policy name → function ``(problem, lam, **options) -> Schedule``."""


def run_policy(name: str, problem: AssignmentProblem, lam: float, **options: object
               ) -> Schedule:
    """Run a policy by name; ``threshold-<feature>@<value>`` fixes the threshold.

    Raises:
        InputError: unknown policy name.
    """
    if "@" in name and name.split("@")[0] in ("threshold-input", "threshold-output",
                                              "threshold-product"):
        base, val = name.split("@", 1)
        try:
            value = float(val)
        except ValueError:
            raise InputError(f"policy {name!r}: threshold {val!r} is not a number") from None
        return threshold(problem, lam, base.split("-", 1)[1], value=value)
    if name not in POLICIES:
        raise InputError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)} or "
                         "threshold-<input|output|product>@<value>")
    return POLICIES[name](problem, lam, **options)
