"""Scheduling policies. Each maps an :class:`AssignmentProblem` and λ to a :class:`Schedule`.

========================  ===================================================================
``milp``                  the exact optimum of the assignment MILP (see :mod:`offline_sched.solver`)
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
``only-<system>``        every query on one system (the offline paper's single-model lines)
========================  ===================================================================

A policy never sends a query to a system whose token limits it exceeds (a threshold policy
falls back to the other system, then to the cheapest eligible one). Capacity is the MILP's
business only: a baseline that breaks it is reported ``feasible = false``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .problem import AssignmentProblem, over_capacity
from .schedule import Schedule
from .solver import HighsSolver, solve_pulp

PAPER_THRESHOLD = 32
FEATURES = ("input", "output", "product")
ONLY_PREFIX = "only-"


def _from_choice(problem: AssignmentProblem, lam: float, policy: str, choice: np.ndarray,
                 t0: float, params: dict[str, float] | None = None) -> Schedule:
    """Schedule sending every query of class c to system ``choice[c]``."""
    return Schedule(problem, policy, lam, counts=_choice_counts(problem, choice),
                    solve_s=time.perf_counter() - t0, params=params or {})


def _choice_counts(problem: AssignmentProblem, choice: np.ndarray) -> np.ndarray:
    counts = np.zeros(problem.eligible.shape, dtype=np.int64)
    counts[np.arange(choice.size), choice] = problem.classes.count
    return counts


def milp(problem: AssignmentProblem, lam: float, *, solver: str = "highs",
         time_limit: float | None = None, gap_tol: float | None = None,
         highs: HighsSolver | None = None) -> Schedule:
    """Exact MILP schedule (HiGHS fast path, or the per-query PuLP reference).

    The HiGHS path is given the cheap class-level baselines (greedy, all-GPU, the swept
    thresholds) as incumbents, so ``solve``, ``compare`` and ``sweep`` return the same
    schedule and it is never worse than a feasible one of them.

    Args:
        problem: the problem.
        lam: energy weight in [0, 1].
        solver: ``highs``, ``pulp`` or ``pulp:<PuLP solver name>``.
        time_limit: seconds, or None.
        gap_tol: certified relative gap to reach (None: the default 1e-6).
        highs: a built solver to reuse (a λ sweep builds one).

    Raises:
        InputError: unknown solver.
    """
    if solver == "highs":
        engine = highs or HighsSolver(problem, gap_tol)
        res = engine.solve(lam, time_limit=time_limit, incumbents=incumbents(problem, lam))
        return Schedule(problem, "milp", lam, counts=res.counts, result=res)
    if solver == "pulp" or solver.startswith("pulp:"):
        name = solver.split(":", 1)[1] if ":" in solver else "PULP_CBC_CMD"
        sys_idx, res = solve_pulp(problem, lam, solver=name, time_limit=time_limit)
        return Schedule(problem, "milp", lam, counts=res.counts, system_index_=sys_idx,
                        result=res)
    raise InputError(f"solver, value {solver!r}: expected 'highs', 'pulp' or "
                     "'pulp:<PuLP solver name>'")


def incumbents(problem: AssignmentProblem, lam: float) -> list[tuple[str, np.ndarray]]:
    """Class-level baseline schedules offered to the solver as incumbents."""
    w = problem.weights(lam)
    out = [("greedy", _choice_counts(problem, np.argmin(w, axis=1)))]
    gpu = np.array([s.gpu for s in problem.fleet])
    if gpu.any():
        out.append(("all-gpu", _choice_counts(problem, cheapest_among(problem, w, gpu))))
    if small_and_gpu(problem) is not None:
        for feature in FEATURES:
            curve = threshold_curve(problem, lam, feature)
            out.append((f"threshold-{feature}",
                        _choice_counts(problem, curve.choice(curve.best_threshold()))))
    return out


def greedy(problem: AssignmentProblem, lam: float) -> Schedule:
    """Each query to its cheapest eligible system by U, ignoring capacity."""
    t0 = time.perf_counter()
    return _from_choice(problem, lam, "greedy", np.argmin(problem.weights(lam), axis=1), t0)


def cheapest_among(problem: AssignmentProblem, w: np.ndarray, allowed: np.ndarray
                   ) -> np.ndarray:
    """Per class, the cheapest eligible system among ``allowed`` (else any eligible one)."""
    masked = np.where(allowed[None, :] & problem.eligible, w, np.inf)
    choice = np.argmin(masked, axis=1)
    none = ~np.isfinite(masked.min(axis=1))
    if none.any():
        choice[none] = np.argmin(w[none], axis=1)
    return choice


def all_gpu(problem: AssignmentProblem, lam: float) -> Schedule:
    """Every query to a GPU system (cheapest eligible GPU system by U)."""
    t0 = time.perf_counter()
    gpu = np.array([s.gpu for s in problem.fleet])
    if not gpu.any():
        raise InputError(f"{problem.fleet.name}: all-gpu needs a system with gpu = true")
    choice = cheapest_among(problem, problem.weights(lam), gpu)
    return _from_choice(problem, lam, "all-gpu", choice, t0)


def only_system(problem: AssignmentProblem, lam: float, system: str | int) -> Schedule:
    """Every query on one system (the offline paper's single-model baselines).

    Queries the system cannot take (token limits) go to their cheapest eligible system by U,
    as in every other baseline; their number is reported as ``fallback``. Capacity and share
    bounds are not enforced: a schedule that breaks them is reported ``feasible = False``.

    Args:
        problem: the problem.
        lam: energy weight (used only to pick the fallback system).
        system: system name or index.

    Returns:
        The schedule, named ``only-<system>``.

    Raises:
        InputError: unknown system.
    """
    t0 = time.perf_counter()
    idx = _system_index(problem, system)
    choice = cheapest_among(problem, problem.weights(lam), np.arange(problem.n_systems) == idx)
    fallback = int(problem.classes.count[~problem.eligible[:, idx]].sum())
    return _from_choice(problem, lam, f"{ONLY_PREFIX}{problem.fleet[idx].name}", choice, t0,
                        {"fallback": fallback})


def _system_index(problem: AssignmentProblem, system: str | int) -> int:
    names = problem.fleet.names
    if isinstance(system, int | np.integer):
        if not 0 <= int(system) < len(names):
            raise InputError(f"system index {system!r} out of range 0..{len(names) - 1}")
        return int(system)
    if system not in names:
        raise InputError(f"policy {ONLY_PREFIX}{system}: no system {system!r} in fleet "
                         f"{problem.fleet.name} (has: {', '.join(names)})")
    return names.index(system)


def round_robin(problem: AssignmentProblem, lam: float) -> Schedule:
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
                    solve_s=time.perf_counter() - t0)


def random_policy(problem: AssignmentProblem, lam: float, seed: int = 0) -> Schedule:
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
                    solve_s=time.perf_counter() - t0, params={"seed": seed})


def threshold_feature(problem: AssignmentProblem, feature: str) -> np.ndarray:
    """Per-class value the threshold is applied to: τin, τout or τin·τout."""
    c = problem.classes
    if feature == "input":
        return c.input_tokens
    if feature == "output":
        return c.output_tokens
    if feature == "product":
        return c.input_tokens.astype(np.int64) * c.output_tokens
    raise InputError(f"feature, value {feature!r}: expected one of {', '.join(FEATURES)}")


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


@dataclass(frozen=True)
class ThresholdCurve:
    """The single-threshold policy evaluated at every candidate τ at once (cumulative sums).

    Queries with feature ≤ τ go to the small system where its token limits allow, the rest to
    their GPU-side system (the GPU system if eligible, else the cheapest eligible one).

    Attributes:
        feature: ``input``, ``output`` or ``product``.
        thresholds: candidate τ, ascending, (K,).
        objective: U at each τ, (K,).
        busy_s: device-seconds per system at each τ, (K, S).
        energy_j: energy per system at each τ [J], (K, S).
        queries: queries per system at each τ, (K, S).
        feasible: whether capacities and share bounds hold at each τ, (K,).
        small: index of the small system.
        values: the feature value of each class, (C,).
        gpu_side: each class's GPU-side system, (C,).
        can_small: whether each class may go to the small system, (C,).
    """

    feature: str
    thresholds: np.ndarray
    objective: np.ndarray
    busy_s: np.ndarray
    energy_j: np.ndarray
    queries: np.ndarray
    feasible: np.ndarray
    small: int
    values: np.ndarray
    gpu_side: np.ndarray
    can_small: np.ndarray

    def best_index(self) -> int:
        """Index of the τ the policy picks: least U among feasible τ (else overall)."""
        pool = np.flatnonzero(self.feasible) if self.feasible.any() else \
            np.arange(self.thresholds.size)
        return int(pool[np.argmin(self.objective[pool])])

    def best_threshold(self) -> float:
        """The τ the policy picks (see :meth:`best_index`)."""
        return float(self.thresholds[self.best_index()])

    def choice(self, value: float) -> np.ndarray:
        """System of each class at threshold ``value``."""
        return np.where((self.values <= value) & self.can_small, self.small, self.gpu_side)


def threshold_curve(problem: AssignmentProblem, lam: float, feature: str,
                    candidates: np.ndarray | None = None) -> ThresholdCurve:
    """Evaluate the threshold policy at every candidate τ (the one evaluation, vectorised).

    Args:
        problem: a problem with a (small, GPU) system pair (see :func:`small_and_gpu`).
        lam: energy weight of the objective.
        feature: ``input``, ``output`` or ``product``.
        candidates: thresholds to evaluate (default: 0 and every feature value present).

    Raises:
        InputError: the fleet lacks a non-GPU or a GPU system, or an unknown feature.
    """
    pair = small_and_gpu(problem)
    if pair is None:
        raise InputError(f"{problem.fleet.name}: threshold-{feature} needs one GPU and one "
                         "non-GPU system")
    small, big = pair
    n_c, n_s = problem.eligible.shape
    rows = np.arange(n_c)
    w = problem.weights(lam)
    f = threshold_feature(problem, feature)
    gpu_side = cheapest_among(problem, w, np.arange(n_s) == big)
    can_small = problem.eligible[:, small]
    cnt = problem.classes.count.astype(np.float64)
    order = np.argsort(f, kind="stable")
    fs = f[order]
    if candidates is None:
        cand = np.r_[0, np.unique(fs)].astype(np.float64)
    else:
        cand = np.unique(np.asarray(candidates, dtype=np.float64))
    k = np.searchsorted(fs, cand, side="right")  # classes with f ≤ τ

    def curve(per_query: np.ndarray) -> np.ndarray:
        base = np.bincount(gpu_side, weights=per_query[rows, gpu_side] * cnt, minlength=n_s)
        move = np.zeros((n_c, n_s))
        move[rows, small] += np.where(can_small, per_query[:, small] * cnt, 0.0)
        move[rows, gpu_side] -= np.where(can_small, per_query[rows, gpu_side] * cnt, 0.0)
        cum = np.vstack([np.zeros((1, n_s)), np.cumsum(move[order], axis=0)])
        return base[None, :] + cum[k]

    delta_w = np.where(can_small, (w[:, small] - w[rows, gpu_side]) * cnt, 0.0)
    objective = (w[rows, gpu_side] * cnt).sum() + np.r_[0.0, np.cumsum(delta_w[order])][k]
    busy = curve(problem.runtime_s)
    queries = np.rint(curve(np.ones_like(problem.runtime_s))).astype(np.int64)
    feasible = (~over_capacity(busy, problem.capacity_s[None, :])).all(axis=1) & (
        (queries >= problem.min_count) & (queries <= problem.max_count)).all(axis=1)
    return ThresholdCurve(feature, cand, objective, busy, curve(problem.energy_j), queries,
                          feasible, small, f, gpu_side, can_small)


def threshold(problem: AssignmentProblem, lam: float, feature: str = "input",
              value: float | None = None) -> Schedule:
    """The e-Energy paper's single-threshold hybrid policy.

    Args:
        problem: the problem.
        lam: energy weight.
        feature: ``input``, ``output`` or ``product``.
        value: fixed τ*; if None, τ* is swept over the workload's feature values (plus 0)
            and the one with the least U among capacity- and share-feasible choices is taken
            (the least U overall if none is feasible).

    Raises:
        InputError: the fleet lacks a non-GPU or a GPU system.
    """
    t0 = time.perf_counter()
    name = f"threshold-{feature}" + ("" if value is None else f"@{value:g}")
    if small_and_gpu(problem) is None:
        raise InputError(f"{problem.fleet.name}: {name} needs one GPU and one non-GPU system")
    curve = threshold_curve(problem, lam, feature,
                            None if value is None else np.array([value], dtype=np.float64))
    tau = curve.best_threshold() if value is None else float(value)
    return _from_choice(problem, lam, name, curve.choice(tau), t0, {"threshold": tau})


Policy = Callable[..., Schedule]


def _threshold_policy(feature: str) -> Policy:
    def policy(problem: AssignmentProblem, lam: float) -> Schedule:
        return threshold(problem, lam, feature)
    policy.__doc__ = f"The threshold policy on the {feature} feature, τ* swept."
    return policy


POLICIES: dict[str, Policy] = {
    "milp": milp,
    "threshold-input": _threshold_policy("input"),
    "threshold-output": _threshold_policy("output"),
    "threshold-product": _threshold_policy("product"),
    "all-gpu": all_gpu,
    "round-robin": round_robin,
    "random": random_policy,
    "greedy": greedy,
}
"""Policy name → function ``(problem, lam, ...) -> Schedule`` (static; never mutated).

Also understood by :func:`run_policy`: ``threshold-<feature>@<value>`` and ``only-<system>``.
"""


def run_policy(name: str, problem: AssignmentProblem, lam: float, *, seed: int = 0,
               solver: str = "highs", time_limit: float | None = None,
               gap_tol: float | None = None, highs: HighsSolver | None = None) -> Schedule:
    """Run a policy by name.

    Args:
        name: a key of :data:`POLICIES`, ``threshold-<feature>@<value>`` (fixed threshold) or
            ``only-<system>``.
        problem: the problem.
        lam: energy weight.
        seed: seed of ``random``.
        solver: solver of ``milp``.
        time_limit: time limit of ``milp`` [s].
        gap_tol: certified gap of ``milp`` (None: default).
        highs: a built :class:`HighsSolver` for ``milp`` to reuse.

    Raises:
        InputError: unknown policy name.
    """
    base, _, val = name.partition("@")
    if val and base in ("threshold-input", "threshold-output", "threshold-product"):
        try:
            value = float(val)
        except ValueError:
            raise InputError(f"policy {name!r}: threshold {val!r} is not a number") from None
        return threshold(problem, lam, base.split("-", 1)[1], value=value)
    if name.startswith(ONLY_PREFIX) and name not in POLICIES:
        return only_system(problem, lam, name[len(ONLY_PREFIX):])
    if name == "milp":
        return milp(problem, lam, solver=solver, time_limit=time_limit, gap_tol=gap_tol,
                    highs=highs)
    if name == "random":
        return random_policy(problem, lam, seed=seed)
    if name not in POLICIES:
        raise InputError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}, "
                         "threshold-<input|output|product>@<value> or only-<system>")
    return POLICIES[name](problem, lam)
