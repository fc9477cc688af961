import numpy as np
import pandas as pd
import pytest
from helpers import binding_instance

from offline_sched import load_systems, load_workload
from offline_sched.policies import (
    all_gpu,
    greedy,
    random_policy,
    round_robin,
    run_policy,
    threshold,
    threshold_feature,
)
from offline_sched.problem import build_problem


@pytest.fixture
def problem():
    return binding_instance(11, n=200, n_systems=2)


def test_greedy_takes_each_cheapest_eligible_system(problem):
    w = problem.weights(0.5)
    sched = greedy(problem, 0.5)
    chosen = w[problem.classes.query_class, sched.system_index]
    np.testing.assert_allclose(chosen, w.min(axis=1)[problem.classes.query_class])


def test_round_robin_cycles_and_respects_eligibility(problem):
    sched = round_robin(problem, 0.5)
    idx = sched.system_index
    elig = problem.eligible[problem.classes.query_class]
    assert elig[np.arange(idx.size), idx].all()
    ok = elig[np.arange(idx.size), np.arange(idx.size) % problem.n_systems]
    np.testing.assert_array_equal(idx[ok], (np.arange(idx.size) % problem.n_systems)[ok])


def test_random_is_seeded_and_eligible(problem):
    a = random_policy(problem, 0.5, seed=3).system_index
    b = random_policy(problem, 0.5, seed=3).system_index
    c = random_policy(problem, 0.5, seed=4).system_index
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    elig = problem.eligible[problem.classes.query_class]
    assert elig[np.arange(a.size), a].all()


def test_all_gpu_uses_only_gpu_systems_where_eligible(problem):
    sched = all_gpu(problem, 0.5)
    gpu = np.array([s.gpu for s in problem.fleet])
    assert gpu[sched.system_index].all()


@pytest.mark.parametrize("feature", ["input", "output", "product"])
def test_threshold_sweep_is_best_over_all_candidates(problem, feature):
    best = threshold(problem, 0.5, feature)
    f = threshold_feature(problem, feature)
    feasible_best = np.inf
    any_best = np.inf
    for t in np.r_[0, np.unique(f)]:
        s = threshold(problem, 0.5, feature, value=float(t))
        any_best = min(any_best, s.objective)
        if s.feasible:
            feasible_best = min(feasible_best, s.objective)
    target = feasible_best if np.isfinite(feasible_best) else any_best
    assert best.objective == pytest.approx(target, rel=1e-12)
    assert best.feasible == np.isfinite(feasible_best)


def test_threshold_routes_small_queries_to_the_small_system(fleet_file):
    wl = load_workload(pd.DataFrame({"input_tokens": [10, 20, 40, 100],
                                     "output_tokens": [5, 5, 5, 5]}))
    p = build_problem(wl, load_systems(fleet_file))
    s = run_policy("threshold-input@32", p, 0.5)
    assert list(s.assignment["system"]) == ["small", "small", "gpu", "gpu"]
    assert s.summary["threshold"] == 32


def test_unknown_policy_is_an_input_error(problem):
    from offline_sched import InputError
    with pytest.raises(InputError, match="unknown policy"):
        run_policy("fastest", problem, 0.5)


def test_solver_adopts_a_better_feasible_incumbent():
    from offline_sched.solver import SolveResult, Status, adopt_incumbent

    p = binding_instance(4, n=80, n_systems=2, slack=3.0)
    good = greedy(p, 0.5)
    assert good.feasible  # loose capacity: greedy is optimal
    worse_counts = round_robin(p, 0.5).counts
    w = p.weights(0.5)
    worse_value = float((w[worse_counts > 0] * worse_counts[worse_counts > 0]).sum())
    assert worse_value > good.objective
    res = SolveResult(worse_counts, Status.GAP, worse_value, good.objective - 1.0, 1.0, 0.1,
                      "lp+round")
    infeasible = np.zeros_like(worse_counts)  # places nothing: never adopted
    out = adopt_incumbent(res, p, w, [("nothing", infeasible), ("greedy", good.counts)])
    assert out.objective == pytest.approx(good.objective)
    assert (out.counts == good.counts).all()
    assert "incumbent:greedy" in out.method
    assert out.gap == pytest.approx(1.0 / good.objective)
    assert adopt_incumbent(res, p, w, [("nothing", infeasible)]) is res
