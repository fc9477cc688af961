import pytest
from helpers import binding_instance

from offline_sched import InfeasibleError, build_problem
from offline_sched.policies import milp
from offline_sched.solver import HighsSolver, relative_gap


@pytest.mark.parametrize("seed", range(8))
def test_fast_path_equals_per_query_pulp(seed):
    try:
        p = binding_instance(seed, shares=seed % 2 == 1)
        fast = milp(p, lam=0.3 + 0.05 * seed)
    except InfeasibleError:
        pytest.skip("random instance infeasible")  # both paths must then agree:
    ref = milp(p, lam=0.3 + 0.05 * seed, solver="pulp")
    assert fast.feasible and ref.feasible
    assert fast.summary["objective"] == pytest.approx(ref.summary["objective"], rel=1e-6)
    assert fast.summary["gap"] <= 1e-6


def test_capacity_binds_and_is_respected():
    p = binding_instance(3, n=200)
    sched = milp(p, lam=0.5)
    busy = sched.by_system["busy_s"].to_numpy()
    assert (busy <= p.capacity_s * (1 + 1e-9)).all()
    from offline_sched.policies import greedy
    # the unconstrained optimum breaks some capacity, so the constraint really binds
    assert not greedy(p, 0.5).feasible
    assert sched.objective >= greedy(p, 0.5).objective - 1e-9


def test_lambda_sweep_reuses_model_and_matches_fresh_solves():
    p = binding_instance(5, n=300)
    engine = HighsSolver(p)
    for lam in (0.0, 0.25, 0.5, 0.75, 1.0):
        warm = engine.solve(lam)
        fresh = HighsSolver(p).solve(lam)
        assert warm.objective == pytest.approx(fresh.objective, rel=1e-9, abs=1e-9)
        assert warm.lower_bound <= warm.objective + 1e-9


def test_infeasible_capacity_is_explained():
    p = binding_instance(2, n=100)
    from dataclasses import replace

    from offline_sched.fleet import Fleet
    from offline_sched.problem import build_problem as bp
    tiny = Fleet(tuple(replace(s, window_s=1e-3) for s in p.fleet), name="tiny")
    q = bp(p.workload, tiny)
    with pytest.raises(InfeasibleError) as err:
        milp(q, lam=0.5)
    msg = str(err.value)
    assert "capacity of" in msg and "short by" in msg


def test_relative_gap():
    assert relative_gap(10.0, 9.0) == pytest.approx(0.1)
    assert relative_gap(10.0, 10.5) == 0.0


def test_share_counts_round_strictly_unless_that_contradicts():
    import numpy as np

    from offline_sched.problem import share_counts
    lo, hi = share_counts(np.array([0.0125, 0.05]), np.array([1.0, 1.0]), 200)
    assert list(lo) == [3, 10] and list(hi) == [200, 200]
    lo, hi = share_counts(np.zeros(3), np.array([0.05, 0.2, 0.75]), 7473)
    assert hi.sum() >= 7473 and list(hi) == [374, 1495, 5605]


def test_exact_shares_that_sum_to_one_are_met_within_one_query():
    from dataclasses import replace

    from offline_sched.fleet import Fleet
    p = binding_instance(9, n=97, n_systems=3, slack=10.0, limits=False)
    shares = (0.05, 0.2, 0.75)
    fleet = Fleet(tuple(replace(s, max_share=g, window_s=1e9)
                        for s, g in zip(p.fleet, shares, strict=True)),
                  name="exact")
    q = build_problem(p.workload, fleet)
    sched = milp(q, lam=0.5)
    per = sched.by_system["queries"].to_numpy()
    assert sched.feasible and per.sum() == 97
    assert all(abs(k - g * 97) < 1 for k, g in zip(per, shares, strict=True))


def test_time_limit_before_the_lp_returns_a_feasible_greedy_schedule(monkeypatch):
    import math

    from offline_sched.errors import SolverError
    from offline_sched.solver.relaxation import ClassRelaxation

    p = binding_instance(6, n=50, slack=50.0)  # loose: greedy is feasible

    def expire(self, *args, **kwargs):
        raise SolverError("time limit")

    monkeypatch.setattr(ClassRelaxation, "solve", expire)
    res = HighsSolver(p).solve(0.5, time_limit=0.5)
    assert res.status == "time-limit" and math.isinf(res.gap)
    assert (res.counts.sum(axis=1) == p.classes.count).all()
    with pytest.raises(SolverError):
        HighsSolver(p).solve(0.5)  # without a time limit the failure is not hidden
