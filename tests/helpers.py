"""Test helpers: random fleets and workloads built in code."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from offline_sched import build_problem, load_workload
from offline_sched.costs.model import CostModel, MetricModel
from offline_sched.fleet import Fleet, System
from offline_sched.problem import AssignmentProblem


def metric(name: str, a_in: float, a_out: float, a_io: float, const: float = 0.0
           ) -> MetricModel:
    return MetricModel(metric=name, form="paper", coef={"in": a_in, "out": a_out,
                                                          "inout": a_io}, intercept=const)


def random_fleet(rng: np.random.Generator, n_systems: int, window_s: float,
                 shares: bool = False, limits: bool = True) -> Fleet:
    """Random systems with positive paper-form costs; the first is a GPU, the rest not."""
    systems = []
    for s in range(n_systems):
        e = metric("energy", *rng.uniform(0.05, 1.0, 2) * [1, 30], rng.uniform(0, 0.05),
                   rng.uniform(0, 10))
        r = metric("runtime", *rng.uniform(0.0005, 0.01, 2) * [1, 20],
                   rng.uniform(0, 1e-3), rng.uniform(0, 0.5))
        systems.append(System(
            name=f"s{s}", model="m", cost=CostModel("m", f"s{s}", runtime=r, energy=e),
            instances=int(rng.integers(1, 4)), window_s=window_s, gpu=(s == 0),
            max_output_tokens=int(rng.integers(60, 200)) if limits and s > 0 else None,
            min_share=0.05 if shares else 0.0, max_share=0.8 if shares else 1.0))
    return Fleet(systems=tuple(systems), name="random")


def random_workload(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({"input_tokens": rng.integers(1, 300, n),
                         "output_tokens": rng.integers(1, 250, n)})


def binding_instance(seed: int, n: int = 60, n_systems: int = 3, shares: bool = False,
                     slack: float = 1.25, limits: bool = True) -> AssignmentProblem:
    """Random feasible problem whose windows are within `slack` of the smallest feasible one."""
    from offline_sched.errors import InfeasibleError
    from offline_sched.solver.highs_solver import HighsSolver

    rng = np.random.default_rng(seed)
    wl = load_workload(random_workload(rng, n))
    fleet = random_fleet(rng, n_systems, window_s=1.0, shares=shares, limits=limits)
    p0 = build_problem(wl, fleet)
    fastest = np.where(p0.eligible, p0.runtime_s, np.inf).min(axis=1)
    window = 0.5 * float(fastest @ p0.classes.count) / sum(s.instances for s in fleet)
    for _ in range(60):
        problem = build_problem(wl, Fleet(tuple(replace(s, window_s=window) for s in fleet),
                                          name=f"random-{seed}"))
        try:
            HighsSolver(problem).solve(0.5)
            return problem
        except InfeasibleError:
            window *= slack
    raise NoFeasibleInstance(f"seed {seed}: no window makes this instance feasible (its share "
                             "bounds or token limits cannot be met)")


class NoFeasibleInstance(AssertionError):
    """The drawn instance is infeasible at every window (e.g. contradictory share bounds)."""


def options_by_cost(lp) -> tuple[np.ndarray, np.ndarray]:
    """Each planner row's options, cheapest first (disallowed last), and how many it may use."""
    rows, opt = lp.rows, lp.opt
    cost = np.stack([lp.pricer.costs(np.arange(rows.n), np.full(rows.n, jj))
                     for jj in range(opt.n)], axis=1)
    allowed = np.stack([opt.allowed(rows, np.arange(rows.n), np.full(rows.n, jj))
                        for jj in range(opt.n)], axis=1)
    return np.argsort(np.where(allowed, cost, np.inf), axis=1), allowed.sum(axis=1)
