"""The exact finish (solver/exact.py) and the Hall check (solver/hall.py).

Every instance is built here from raw per-query arrays (runtimes, weights, eligibility,
capacities), without calling the solver: singleton classes, capacities that bind tightly. The
reference is an independent per-query oracle, scipy.optimize.milp on one binary per eligible
(query, system); the LP certificate handed to the finish comes from scipy.optimize.linprog's
duals, recomputed into reduced costs and a Lagrangian bound here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from offline_sched.solver.exact import (
    ClassArrays,
    LPCertificate,
    core_bounds,
    exact_finish,
    solve_core,
)
from offline_sched.solver.hall import describe, hall_violations


def raw_instance(seed: int, n: int = 40, n_s: int = 3, tight: float = 0.6,
                 sink: float = 1.5):
    """Random singleton-class instance whose cheap systems bind.

    System costs differ per query; the last system is a slow "sink" sized ``sink`` times what
    the queries the others cannot hold need there (``sink`` < 1 makes it infeasible).
    """
    rng = np.random.default_rng(seed)
    size = rng.uniform(1.0, 10.0, n)  # a query's work
    speed = rng.uniform(0.5, 2.0, n_s)
    speed[-1] = 0.2
    runtime = size[:, None] / speed[None, :] * rng.uniform(0.9, 1.1, (n, n_s))
    energy = size[:, None] * rng.uniform(0.5, 1.5, (n, n_s))
    energy[:, -1] *= 2.0
    weights = 0.5 * energy / energy.max() + 0.5 * runtime / runtime.max()
    eligible = rng.random((n, n_s)) > 0.2
    eligible[:, -1] = True
    best = np.argmin(np.where(eligible, weights, np.inf), axis=1)
    greedy_load = np.bincount(best, weights=runtime[np.arange(n), best], minlength=n_s)
    capacity = tight * greedy_load
    capacity[-1] = 0.0
    over = (1.0 - tight) * runtime[best != n_s - 1].sum() / speed.mean() * speed[-1] ** -1
    capacity[-1] = sink * max(over, runtime[:, -1].max())
    return eligible, runtime, np.where(eligible, weights, np.inf), capacity


def oracle(eligible, runtime, weights, capacity, min_count=None, max_count=None):
    """Per-query MILP by scipy: (optimum, system per query) or (inf, None) if infeasible."""
    n, n_s = eligible.shape
    q, s = np.nonzero(eligible)
    k = q.size
    rows = [sp.csr_array((np.ones(k), (q, np.arange(k))), shape=(n, k)),
            sp.csr_array((runtime[q, s], (s, np.arange(k))), shape=(n_s, k))]
    lo, hi = [np.ones(n), np.full(n_s, -np.inf)], [np.ones(n), capacity]
    if min_count is not None:
        rows.append(sp.csr_array((np.ones(k), (s, np.arange(k))), shape=(n_s, k)))
        lo.append(np.asarray(min_count, float))
        hi.append(np.asarray(max_count, float))
    res = milp(weights[q, s], constraints=LinearConstraint(sp.vstack(rows), np.concatenate(lo),
                                                           np.concatenate(hi)),
               integrality=np.ones(k), bounds=Bounds(0, 1),
               options={"mip_rel_gap": 1e-12, "time_limit": 60})
    if res.status == 2:
        return math.inf, None
    assert res.status == 0, res.message
    choice = np.full(n, -1)
    on = res.x > 0.5
    choice[q[on]] = s[on]
    return float(res.fun), choice


def lp_certificate(eligible, runtime, weights, capacity) -> LPCertificate:
    """LP vertex and prices from scipy's dual simplex; reduced costs and bound recomputed."""
    n, n_s = eligible.shape
    q, s = np.nonzero(eligible)
    k = q.size
    a_eq = sp.csr_array((np.ones(k), (q, np.arange(k))), shape=(n, k))
    a_ub = sp.csr_array((runtime[q, s], (s, np.arange(k))), shape=(n_s, k))
    res = linprog(weights[q, s], A_ub=a_ub, b_ub=capacity, A_eq=a_eq, b_eq=np.ones(n),
                  bounds=(0, 1), method="highs-ds")
    assert res.status == 0
    mu = np.maximum(-np.asarray(res.ineqlin.marginals), 0.0)
    x = np.zeros((n, n_s))
    x[q, s] = res.x
    priced = np.where(eligible, weights + runtime * mu, np.inf)
    u = priced.min(axis=1)
    bound = float(u.sum() - mu @ capacity)  # Lagrangian bound: valid for any μ ≥ 0
    return LPCertificate(x, np.where(eligible, priced - u[:, None], np.inf), bound, mu)


def arrays(eligible, runtime, weights, capacity, min_count=None, max_count=None):
    n, n_s = eligible.shape
    return ClassArrays(eligible, runtime, weights, np.ones(n, dtype=np.int64), capacity,
                       np.zeros(n_s, np.int64) if min_count is None else min_count,
                       np.full(n_s, n, np.int64) if max_count is None else max_count)


def check_schedule(counts, eligible, runtime, capacity):
    """Independent feasibility check from the raw arrays."""
    assert counts.shape == eligible.shape and (counts >= 0).all()
    assert (counts.sum(axis=1) == 1).all()
    assert (counts[~eligible] == 0).all()
    load = (counts * np.where(eligible, runtime, 0.0)).sum(axis=0)
    assert (load <= capacity * (1 + 1e-12)).all(), (load, capacity)


# -- the exact finish --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_finish_reaches_the_per_query_optimum_with_an_honest_bound(seed):
    inst = raw_instance(seed, n=14 + 2 * seed, n_s=3 + seed % 2)
    opt, choice = oracle(*inst)
    assert np.isfinite(opt), "instance generator must make feasible instances here"
    cert = lp_certificate(*inst)
    assert cert.lower_bound <= opt + 1e-9 * abs(opt)
    res = exact_finish(arrays(*inst), cert, None, gap_tol=1e-7, node_limit=None)
    assert res.counts is not None
    check_schedule(res.counts, inst[0], inst[1], inst[3])
    value = float(np.sum(np.where(res.counts > 0, inst[2], 0.0)))
    assert value == pytest.approx(res.objective, rel=1e-12)
    assert res.lower_bound <= opt + 1e-9 * abs(opt)  # the bound never overstates
    assert value >= opt - 1e-9 * abs(opt)  # nothing beats the optimum
    assert res.status == "optimal"
    assert value <= opt * (1 + 1e-7) + 1e-12  # optimal means within the gap of the oracle
    assert res.gap <= 1e-7


@pytest.mark.parametrize("seed", range(4))
def test_finish_starting_from_a_poor_incumbent_only_improves(seed):
    inst = raw_instance(100 + seed, n=20)
    opt, choice = oracle(*inst)
    start = np.zeros(inst[0].shape, dtype=np.int64)
    start[np.arange(choice.size), choice] = 1
    # a worse feasible schedule: every query on the sink (fits by construction? check first)
    sink = np.zeros_like(start)
    sink[:, -1] = 1
    load = (sink * inst[1]).sum(axis=0)
    incumbent = sink if (load <= inst[3]).all() else start
    res = exact_finish(arrays(*inst), lp_certificate(*inst), incumbent, gap_tol=1e-7,
                       node_limit=None)
    check_schedule(res.counts, inst[0], inst[1], inst[3])
    assert res.objective <= float(np.sum(np.where(incumbent > 0, inst[2], 0.0))) + 1e-12
    assert res.objective == pytest.approx(opt, rel=1e-7)


def test_finish_with_a_work_limit_reports_the_gap_it_proved():
    inst = raw_instance(7, n=40, n_s=4, tight=0.5)
    opt, _ = oracle(*inst)
    res = exact_finish(arrays(*inst), lp_certificate(*inst), None, gap_tol=1e-12,
                       node_limit=1)
    if res.counts is not None:
        check_schedule(res.counts, inst[0], inst[1], inst[3])
        assert res.objective >= opt - 1e-9 * abs(opt)
        assert res.gap == pytest.approx((res.objective - res.lower_bound) / abs(res.objective))
    assert res.lower_bound <= opt + 1e-9 * abs(opt)


def test_integrally_infeasible_instance_is_proven_infeasible():
    # LP-feasible (two half queries fill each system) but no whole assignment fits
    eligible = np.ones((3, 2), dtype=bool)
    runtime = np.full((3, 2), 2.0)
    weights = np.array([[1.0, 2.0], [1.5, 1.0], [1.0, 1.2]])
    capacity = np.array([3.0, 3.0])  # 6 s for 6 s of work, but whole queries need 4 + 2
    opt, _ = oracle(eligible, runtime, weights, capacity)
    assert math.isinf(opt)
    cert = lp_certificate(eligible, runtime, weights, capacity)
    res = exact_finish(arrays(eligible, runtime, weights, capacity), cert, None,
                       node_limit=None)
    assert res.status == "infeasible" and res.counts is None


def test_reduced_cost_fixing_keeps_every_pair_an_optimum_uses():
    for seed in range(6):
        inst = raw_instance(200 + seed, n=20)
        opt, choice = oracle(*inst)
        cert = lp_certificate(*inst)
        theta = opt - cert.lower_bound  # the optimum is within θ of the bound
        ub = core_bounds(arrays(*inst), cert, theta * (1 + 1e-9) + 1e-12)
        assert (ub[np.arange(choice.size), choice] >= 1).all()


def _core_at_optimum(seed: int, n: int):
    """An instance, its oracle optimum, its arrays and the core bounds at θ = opt − L."""
    inst = raw_instance(seed, n=n)
    opt, _ = oracle(*inst)
    cert = lp_certificate(*inst)
    problem = arrays(*inst)
    return inst, opt, problem, core_bounds(problem, cert,
                                           (opt - cert.lower_bound) * (1 + 1e-9) + 1e-12)


def test_the_core_at_the_optimum_s_distance_holds_the_optimum():
    """One core MIP at θ = opt − L: most classes fixed, and its schedule is the optimum."""
    fixed_seen = 0
    for seed in range(6):
        inst, opt, problem, ub = _core_at_optimum(600 + seed, 24)
        fixed_seen += int(((ub > 0).sum(axis=1) == 1).sum())
        out = solve_core(problem, ub, None, 1e-12, None, None)
        assert out.counts is not None and out.optimal
        check_schedule(out.counts, inst[0], inst[1], inst[3])
        assert problem.cost(out.counts) == pytest.approx(opt, rel=1e-9)
        assert out.bound <= opt + 1e-9 * abs(opt)
    assert fixed_seen > 0  # reduced-cost fixing really fixed classes here


def test_a_core_in_a_child_process_reaches_the_oracle_optimum():
    """The isolated core (HiGHS in a child process, killed at its limit) decides the same."""
    for seed in range(3):
        inst, opt, problem, ub = _core_at_optimum(700 + seed, 20)
        out = solve_core(problem, ub, None, 1e-12, 60.0, None, isolated=True)
        assert out.counts is not None and out.optimal
        check_schedule(out.counts, inst[0], inst[1], inst[3])
        assert problem.cost(out.counts) == pytest.approx(opt, rel=1e-9)
        assert out.bound <= opt + 1e-9 * abs(opt)
        assert out.bound >= opt - 1e-9 * abs(opt) - 1e-12  # finished: its bound is proven


def test_shares_are_respected_against_the_oracle():
    inst = raw_instance(11, n=24, n_s=3, tight=0.8, sink=3.0)
    eligible, runtime, weights, capacity = inst
    lo, hi = np.array([0, 0, 6]), np.array([24, 12, 24])
    opt, _ = oracle(eligible, runtime, weights, capacity, lo, hi)
    assert np.isfinite(opt)
    # LP with share rows, by scipy, priced into reduced costs (ν folded into the bound)
    n, n_s = eligible.shape
    q, s = np.nonzero(eligible)
    k = q.size
    a_eq = sp.csr_array((np.ones(k), (q, np.arange(k))), shape=(n, k))
    cnt = sp.csr_array((np.ones(k), (s, np.arange(k))), shape=(n_s, k))
    a_ub = sp.vstack([sp.csr_array((runtime[q, s], (s, np.arange(k))), shape=(n_s, k)), cnt,
                      -cnt])
    res = linprog(weights[q, s], A_ub=a_ub, b_ub=np.concatenate([capacity, hi, -lo]),
                  A_eq=a_eq, b_eq=np.ones(n), bounds=(0, 1), method="highs-ds")
    dual = np.maximum(-np.asarray(res.ineqlin.marginals), 0.0)
    mu, nu_hi, nu_lo = dual[:n_s], dual[n_s:2 * n_s], dual[2 * n_s:]
    priced = np.where(eligible, weights + runtime * mu + nu_hi - nu_lo, np.inf)
    u = priced.min(axis=1)
    bound = float(u.sum() - mu @ capacity - nu_hi @ hi + nu_lo @ lo)
    x = np.zeros((n, n_s))
    x[q, s] = res.x
    cert = LPCertificate(x, np.where(eligible, priced - u[:, None], np.inf), bound, mu)
    out = exact_finish(arrays(eligible, runtime, weights, capacity, lo, hi), cert, None,
                       gap_tol=1e-7, node_limit=None)
    check_schedule(out.counts, eligible, runtime, capacity)
    per = out.counts.sum(axis=0)
    assert (per >= lo).all() and (per <= hi).all()
    assert out.lower_bound <= opt + 1e-9 * abs(opt)
    assert out.objective == pytest.approx(opt, rel=1e-7)


# -- the Hall check ----------------------------------------------------------------------------

def _hall_args(eligible, runtime, capacity, min_count=None, max_count=None):
    n, n_s = eligible.shape
    return (eligible, runtime, np.ones(n, dtype=np.int64), capacity,
            np.zeros(n_s, np.int64) if min_count is None else np.asarray(min_count),
            np.full(n_s, n, np.int64) if max_count is None else np.asarray(max_count))


def test_hall_names_the_short_group_and_the_shortfall():
    # 3 systems; queries 0-3 can run only on {0, 1}; they need 4 x 5 s at their fastest there
    eligible = np.array([[1, 1, 0]] * 4 + [[1, 1, 1]] * 3, dtype=bool)
    runtime = np.array([[5.0, 6.0, 1.0]] * 4 + [[1.0, 1.0, 1.0]] * 3)
    capacity = np.array([7.0, 6.0, 100.0])  # {0, 1} has 13 s for ≥ 20 s of work
    found = hall_violations(*_hall_args(eligible, runtime, capacity))
    assert found, "the short group must be found"
    v = found[0]
    assert v.systems == (0, 1) and v.kind == "capacity" and v.queries == 4
    assert v.need == pytest.approx(20.0) and v.have == pytest.approx(13.0)
    text = describe(v, ["a", "b", "c"], [7.0, 3.0, 50.0])
    assert "'a', 'b'" in text and "short by 7 s" in text
    assert "1 more 'a' replicas or 3 more 'b' replicas" in text
    assert math.isinf(oracle(eligible, runtime, np.where(eligible, 1.0, np.inf),
                             capacity)[0])


def hall_instance(seed: int, n: int = 12, n_s: int = 4):
    """Queries that each only 1-2 systems can take, capacities near what they need."""
    rng = np.random.default_rng(seed)
    eligible = np.zeros((n, n_s), dtype=bool)
    for q in range(n):
        eligible[q, rng.choice(n_s, size=rng.integers(1, 3), replace=False)] = True
    runtime = rng.uniform(1.0, 5.0, (n, n_s))
    pick = np.array([rng.choice(np.flatnonzero(row)) for row in eligible])
    load = np.bincount(pick, weights=runtime[np.arange(n), pick], minlength=n_s)
    capacity = load * rng.uniform(0.75, 1.25, n_s)  # around one assignment's load
    return eligible, runtime, np.where(eligible, 1.0, np.inf), capacity


def test_hall_is_sound_against_the_oracle():
    """Whenever Hall reports a violation, no schedule exists (checked by the oracle)."""
    seen = 0
    for seed in range(30):
        inst = hall_instance(300 + seed)
        eligible, runtime, weights, capacity = inst
        found = hall_violations(*_hall_args(eligible, runtime, capacity))
        if found:
            seen += 1
            assert math.isinf(oracle(*inst)[0]), seed
            for v in found:  # recompute each violation from the raw arrays
                rest = [s for s in range(eligible.shape[1]) if s not in v.systems]
                inside = ~eligible[:, rest].any(axis=1)
                need = np.where(eligible, runtime, np.inf).min(axis=1)[inside].sum()
                assert v.kind == "capacity" and v.queries == inside.sum()
                assert v.need == pytest.approx(need)
                assert v.have == pytest.approx(capacity[list(v.systems)].sum())
                assert need > capacity[list(v.systems)].sum()
        else:  # every group fits: check all of them from the raw arrays
            n_s = eligible.shape[1]
            fastest = np.where(eligible, runtime, np.inf).min(axis=1)
            for mask in range(1, 1 << n_s):
                group = [s for s in range(n_s) if mask >> s & 1]
                rest = [s for s in range(n_s) if not mask >> s & 1]
                inside = ~eligible[:, rest].any(axis=1)
                assert fastest[inside].sum() <= capacity[group].sum() * (1 + 1e-9) + 1e-9
    assert 5 <= seen <= 25  # the generator makes both kinds


def test_hall_share_bounds():
    eligible = np.array([[1, 0, 0]] * 5 + [[1, 1, 0]] * 3, dtype=bool)
    runtime = np.ones((8, 3))
    capacity = np.full(3, 100.0)
    # system 2 can take no query but must take one; system 0's max share is too small
    found = hall_violations(*_hall_args(eligible, runtime, capacity, [0, 0, 1], [4, 8, 8]))
    kinds = {(v.kind, v.systems) for v in found}
    assert ("min-share", (2,)) in kinds and ("max-share", (0,)) in kinds
    text = describe(next(v for v in found if v.kind == "min-share"), ["a", "b", "c"],
                    [1.0] * 3)
    assert "'c'" in text and "no query can run" in text


def test_hall_is_quiet_on_feasible_instances():
    for seed in range(10):
        inst = raw_instance(500 + seed, n=30, sink=2.0)
        assert np.isfinite(oracle(*inst)[0])
        assert hall_violations(*_hall_args(inst[0], inst[1], inst[3])) == []


# -- end to end: the tool on singleton classes against tests/oracle.py ----------------------

@pytest.mark.parametrize("seed", range(10))
def test_tool_on_tight_singleton_instances_matches_the_oracle(seed):
    """Classes of one query, capacities 0–10 % above the least fractional window."""
    from instances import singleton_instance
    from test_oracle import check_against_oracle

    inst = singleton_instance(seed, n=14 + seed, n_systems=3 + seed % 2, factor=1.0 + 0.01 * seed)
    assert inst.frame[["input_tokens", "output_tokens"]].drop_duplicates().shape[0] \
        == len(inst.frame)  # singletons
    check_against_oracle(inst)


@pytest.mark.parametrize("seed", range(4))
def test_tool_is_infeasible_exactly_when_the_oracle_is(seed):
    """Windows a little below the least fractional one: no schedule exists."""
    from instances import singleton_instance
    from oracle import oracle_solve
    from test_oracle import check_against_oracle

    inst = singleton_instance(50 + seed, n=24, factor=0.97)
    assert not oracle_solve(inst.frame, inst.fleet_toml, inst.lam).feasible_loose
    assert check_against_oracle(inst) is None  # the tool raised InfeasibleError
