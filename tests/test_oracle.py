"""The tool against an independent per-query oracle built from raw inputs (issue 9).

``tests/oracle.py`` rebuilds every query's costs, eligibility, capacities and share counts
from the workload frame and the fleet TOML text and solves a per-query MILP with
``scipy.optimize.milp``; nothing of the package's problem or solver code is used. For every
instance the tool must:

* raise :class:`InfeasibleError` exactly when the oracle proves no schedule exists;
* return an assignment that, scored from raw inputs, is complete, eligible, within capacity
  and share bounds, and has the objective the tool reports;
* bracket the oracle: ``lower_bound ≤ oracle ≤ objective ≤ lower_bound + gap·|objective|``.

Tolerances. Values are compared to ``1e-9 · Σ_q max_s |w[q, s]|`` (the size of any objective
value). The tool solves with capacities a hair below the true ones (1e-10·cap + 1e-7 s), the
oracle brackets that: its lower bound holds for capacities loosened by 1e-9·cap + 1e-6 s, its
upper bound is a schedule that fits capacities tightened by as much (``oracle.py``). Only in
that band (a schedule that fits exactly at capacity) may the two disagree on feasibility.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from instances import Instance, fleet_toml, instances, workload_frame
from oracle import evaluate, evaluate_index, oracle_solve, raw_problem

from offline_sched import solve
from offline_sched.errors import InfeasibleError

GAP_TOL = 1e-6  # the tool's documented "optimal" gap
# tests/mutation_check.py sets ORACLE_MUTATION_CHECK=1: fail on the first falsifying example
# without shrinking it (shrinking a mutant's failure takes minutes and proves nothing more)
PHASES = ((Phase.explicit, Phase.reuse, Phase.generate)
          if os.environ.get("ORACLE_MUTATION_CHECK") == "1" else tuple(Phase))
SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    phases=PHASES, report_multiple_bugs=False,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def check_against_oracle(inst: Instance, solver: str = "highs") -> dict | None:
    """Run the tool on ``inst`` and assert everything the oracle can prove.

    Returns:
        The tool's summary, or None when the tool (correctly) reported infeasibility.
    """
    oracle = oracle_solve(inst.frame, inst.fleet_toml, inst.lam)
    raw = raw_problem(inst.frame, inst.fleet_toml, inst.lam)
    tol = 1e-9 * max(raw.scale, 1.0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.toml"
        path.write_text(inst.fleet_toml)
        try:
            sched = solve(inst.frame, path, inst.lam, solver=solver)
        except InfeasibleError as err:
            assert not oracle.feasible_tight, (
                f"tool says infeasible ({err}) but the oracle found a schedule with objective "
                f"{oracle.upper}")
            return None
        summary = dict(sched.summary)
        assignment = sched.assignment
    assert oracle.feasible_loose, "the tool returned a schedule; the oracle proved none exists"
    ev = evaluate(inst.frame, inst.fleet_toml, inst.lam, assignment)
    assert ev.complete, "not every query assigned exactly once"
    assert ev.eligible_ok, "a query is on a system it is not eligible for"
    assert ev.capacity_ok, f"capacity broken: busy {ev.busy_s} > capacity {raw.capacity_s}"
    assert ev.shares_ok, (f"share bounds broken: {ev.queries} not in "
                          f"[{raw.min_count}, {raw.max_count}]")
    assert summary["feasible"] is True
    obj, lower, gap = (float(summary[k]) for k in ("objective", "lower_bound", "gap"))
    assert abs(ev.objective - obj) <= tol, (
        f"reported objective {obj} but the assignment scores {ev.objective} from raw inputs")
    assert oracle.lower <= obj + tol, f"objective {obj} beats the proven optimum {oracle.lower}"
    if oracle.feasible_tight:
        assert lower <= oracle.upper + tol, (
            f"lower bound {lower} above the oracle's schedule {oracle.upper}")
    assert obj <= lower + gap * abs(obj) + tol, f"gap {gap} does not cover {obj} - {lower}"
    if solver == "highs":
        assert summary["status"] == "optimal" and gap <= GAP_TOL, summary
    if oracle.feasible_tight:
        assert obj <= oracle.upper + GAP_TOL * abs(obj) + tol, (
            f"objective {obj} worse than the oracle's {oracle.upper} beyond the gap tolerance")
    return summary


@SETTINGS
@given(inst=instances())
def test_tool_matches_per_query_oracle(inst):
    check_against_oracle(inst)


# --- the oracle itself, against brute force on tiny instances ------------------------------

@settings(max_examples=40, deadline=None, derandomize=True, database=None, phases=PHASES,
          suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances(max_queries=6, max_systems=3))
def test_oracle_matches_brute_force(inst):
    raw = raw_problem(inst.frame, inst.fleet_toml, inst.lam)
    n, n_s = raw.eligible.shape
    best_loose = best_tight = np.inf
    for combo in itertools.product(range(n_s), repeat=n):
        system = np.array(combo)
        if not raw.eligible[np.arange(n), system].all():
            continue
        loose = evaluate_index(raw, system)
        if loose.feasible:
            best_loose = min(best_loose, loose.objective)
            if evaluate_index(raw, system, cap_rel=-1e-9, cap_abs=-1e-6).feasible:
                best_tight = min(best_tight, loose.objective)
    got = oracle_solve(inst.frame, inst.fleet_toml, inst.lam)
    tol = 1e-9 * max(raw.scale, 1.0)
    assert got.feasible_loose == np.isfinite(best_loose)
    assert got.feasible_tight == np.isfinite(best_tight)
    if got.feasible_loose:
        assert got.lower <= best_loose + tol
        assert best_loose - got.lower <= 1e-6 + tol  # HiGHS's absolute MIP gap at most
    if got.feasible_tight:
        assert got.upper == pytest.approx(best_tight, rel=1e-9, abs=1e-6 + tol)


# --- hand-built tricky cases -----------------------------------------------------------------

KNAPSACK = [(10, 50), (200, 20), (35, 120), (80, 80), (5, 200), (300, 10)]
FAST = {"in": 0.001, "out": 0.02, "inout": 1e-5, "const": 0.05}
SLOW = {"in": 0.002, "out": 0.05, "inout": 2e-5, "const": 0.1}
CHEAP_E = {"in": 0.2, "out": 2.0, "inout": 0.01}
DEAR_E = {"in": 0.5, "out": 6.0, "inout": 0.02, "const": 3.0}
UNIT = {"const": 1.0}  # runtime exactly 1 s per query


def _sys(name: str, energy: dict, runtime: dict, **extra) -> dict:
    return {"name": name, "model": "m", **extra, "energy": energy, "runtime": runtime}


def _case(tokens, systems, window_s, lam, objective="energy-runtime", normalize=True):
    return Instance(workload_frame(tokens), fleet_toml(systems, window_s, objective, normalize),
                    lam)


# s0 is cheaper in energy *and* faster, but its capacity holds about half the work: which
# singleton queries it takes is a knapsack decision
CASES = {
    "singletons-knapsack": (lambda lam: _case(
        KNAPSACK, [_sys("s0", CHEAP_E, FAST, instances=1),
                   _sys("s1", DEAR_E, SLOW, instances=2, window_s=1000.0)], 6.0, lam), True),
    # 10 identical unit-runtime queries, room for 3 on the cheap system
    "class-partly-fits": (lambda lam: _case(
        [(50, 50)] * 10, [_sys("s0", CHEAP_E, UNIT, instances=1),
                          _sys("s1", DEAR_E, UNIT, instances=1, window_s=100.0)], 3.5, lam),
        True),
    # exactly 4 fit at capacity: the tool's margin may keep one off (the oracle's band)
    "class-fits-exactly": (lambda lam: _case(
        [(50, 50)] * 10, [_sys("s0", CHEAP_E, UNIT, instances=1),
                          _sys("s1", DEAR_E, UNIT, instances=1, window_s=100.0)], 4.0, lam),
        True),
    # long outputs may only go to s0; they fill 95 % of it, short ones compete for the rest
    "limits-force-queries": (lambda lam: _case(
        [(20, 400)] * 3 + [(30, 20), (300, 40), (60, 60), (10, 10)] * 3,
        [_sys("s0", DEAR_E, FAST, instances=1),
         _sys("s1", CHEAP_E, SLOW, instances=1, max_output_tokens=100, window_s=22.0)],
        3 * (0.02 + 8.0 + 0.08 + 0.05) / 0.95, lam), True),
    "limits-force-too-much": (lambda lam: _case(
        [(20, 400)] * 3 + [(30, 20)] * 3,
        [_sys("s0", DEAR_E, FAST, instances=1),
         _sys("s1", CHEAP_E, SLOW, instances=3, max_output_tokens=100, window_s=1e4)],
        (1 - 1e-4) * 3 * (0.02 + 8.0 + 0.08 + 0.05), lam), False),
    "orphan-query": (lambda lam: _case(
        [(10, 10), (500, 10)],
        [_sys("s0", CHEAP_E, FAST, max_input_tokens=400),
         _sys("s1", DEAR_E, SLOW, max_total_tokens=300)], 100.0, lam), False),
    # capacities fit the 3 queries fractionally (1.6 + 1.6 ≥ 3), never integrally
    "fractional-only": (lambda lam: _case(
        [(8, 8)] * 3, [_sys("s0", CHEAP_E, UNIT), _sys("s1", DEAR_E, UNIT)], 1.6, lam), False),
    # min share forces 3 of 10 onto the dear system; max share caps the cheap one at 5
    "shares": (lambda lam: _case(
        [(40, 30)] * 6 + [(120, 90)] * 4,
        [_sys("cheap", CHEAP_E, FAST, max_share=0.5),
         _sys("mid", {"out": 3.0, "const": 1.0}, SLOW),
         _sys("dear", DEAR_E, SLOW, min_share=0.3)], 1000.0, lam), True),
    "shares-vs-limits": (lambda lam: _case(
        [(40, 30)] * 6 + [(120, 90)] * 4,
        [_sys("s0", CHEAP_E, FAST), _sys("s1", DEAR_E, SLOW, min_share=0.5,
                                         max_input_tokens=100)], 1000.0, lam), True),
    "shares-impossible": (lambda lam: _case(
        [(40, 30)] * 4 + [(120, 90)] * 6,
        [_sys("s0", CHEAP_E, FAST), _sys("s1", DEAR_E, SLOW, min_share=0.5,
                                         max_input_tokens=100)], 1000.0, lam), False),
    # the cheapest system has no replicas: nothing may go there
    "zero-instances": (lambda lam: _case(
        [(10, 10), (100, 100)] * 4,
        [_sys("s0", {"out": 0.01}, {"out": 1e-4}, instances=0),
         _sys("s1", CHEAP_E, FAST), _sys("s2", DEAR_E, SLOW, instances=2)], 8.0, lam), True),
    # energy-cheap but slow vs fast but energy-dear: λ = 0 and λ = 1 disagree
    "energy-vs-runtime": (lambda lam: _case(
        [(100, 50), (20, 200), (300, 300)] * 3,
        [_sys("slow", CHEAP_E, SLOW, instances=1), _sys("fast", DEAR_E, FAST, instances=1)],
        30.0, lam), True),
    # absolute joules against accuracy points, accuracies in percent and as a fraction
    "accuracy-absolute": (lambda lam: _case(
        [(100, 50), (20, 200), (300, 300), (5, 5)] * 2,
        [_sys("small", CHEAP_E, FAST, accuracy=50.97), _sys("big", DEAR_E, SLOW,
                                                            accuracy=0.6452)],
        25.0, lam, objective="energy-accuracy", normalize=False), True),
    "accuracy-normalised": (lambda lam: _case(
        [(100, 50), (20, 200), (300, 300), (5, 5)] * 2,
        [_sys("small", CHEAP_E, FAST, accuracy=50.97), _sys("big", DEAR_E, SLOW,
                                                            accuracy=64.52)],
        25.0, lam, objective="energy-accuracy"), True),
    # a negative input coefficient: long prompts clip at the floor (value at τin = τout = 1)
    "cost-floor": (lambda lam: _case(
        [(400, 5), (300, 2), (2, 300), (50, 50)] * 2,
        [_sys("neg", {"in": -0.5, "out": 3.0, "const": 20.0}, FAST),
         _sys("pos", CHEAP_E, {"in": -0.01, "out": 0.06, "const": 0.5})], 20.0, lam,
        normalize=False), True),
}


@pytest.mark.parametrize("lam", [0.0, 0.37, 1.0])
@pytest.mark.parametrize("name", sorted(CASES))
def test_hand_built_case(name, lam):
    make, feasible = CASES[name]
    inst = make(lam)
    oracle = oracle_solve(inst.frame, inst.fleet_toml, lam)
    assert oracle.feasible_loose == feasible, "the case is not what it claims to be"
    summary = check_against_oracle(inst)
    if name != "class-fits-exactly":  # outside the tolerance band: the tool must agree
        assert (summary is not None) == feasible


def test_hand_built_cases_really_bind():
    """The capacity cases are tight: sending each query to its cheapest system breaks them."""
    for name in ("singletons-knapsack", "class-partly-fits", "limits-force-queries",
                 "energy-vs-runtime"):
        for lam in (0.0, 1.0):
            inst = CASES[name][0](lam)
            raw = raw_problem(inst.frame, inst.fleet_toml, lam)
            greedy = np.argmin(raw.weights, axis=1)
            assert not evaluate_index(raw, greedy).capacity_ok, (name, lam)
    inst = CASES["energy-vs-runtime"][0]
    a0 = oracle_solve(inst(0.0).frame, inst(0.0).fleet_toml, 0.0).assignment
    a1 = oracle_solve(inst(1.0).frame, inst(1.0).fleet_toml, 1.0).assignment
    assert (a0 != a1).any()


# --- the per-query PuLP reference, on a few small instances ---------------------------------

@pytest.mark.parametrize("name,lam", [("singletons-knapsack", 0.37), ("shares", 1.0),
                                      ("limits-force-queries", 0.0),
                                      ("accuracy-absolute", 0.37),
                                      ("fractional-only", 0.5)])
def test_pulp_reference_against_oracle(name, lam):
    make, feasible = CASES[name]
    summary = check_against_oracle(make(lam), solver="pulp")
    assert (summary is not None) == feasible


@settings(max_examples=4, deadline=None, derandomize=True, database=None, phases=PHASES,
          suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances(max_queries=15, max_systems=3))
def test_pulp_reference_on_random_instances(inst):
    check_against_oracle(inst, solver="pulp")
