"""Paths the other tests do not reach: core use without extras, repairs, infeasibility text."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import binding_instance, metric

from offline_sched import InfeasibleError, build_problem, load_workload
from offline_sched.costs.model import CostModel
from offline_sched.fleet import Fleet, System
from offline_sched.solver.diagnosis import diagnose_infeasibility
from offline_sched.solver.rounding import fill

ROOT = Path(__file__).resolve().parents[1]


def test_solve_and_compare_without_optional_extras(tmp_path):
    """Block pyarrow, matplotlib, dask, torch, transformers, pynvml: the core still works."""
    code = textwrap.dedent(f"""
        import sys
        BLOCK = ("pyarrow", "matplotlib", "dask", "distributed", "torch", "transformers",
                 "pynvml", "scipy")
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCK:
                    raise ImportError(f"blocked {{name}}")
                return None
        sys.meta_path.insert(0, Blocker())
        import warnings
        warnings.simplefilter("ignore")
        from offline_sched import solve, compare
        s = solve({str(ROOT / "examples/day.csv")!r}, "hybrid", 0.5)
        r = compare({str(ROOT / "examples/day.csv")!r}, "hybrid", 0.5)
        assert s.feasible and "milp" in set(r["policy"])
        assert not any(m.split(".")[0] in BLOCK for m in sys.modules)
        print("ok", s.summary["status"])
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok")


def test_fill_moves_queries_to_cheaper_systems_within_capacity():
    p = binding_instance(7, n=120, n_systems=3, slack=2.0)
    w = p.weights(0.5)
    worst = np.zeros(p.eligible.shape, dtype=np.int64)
    choice = np.argmax(np.where(p.eligible, w, -np.inf), axis=1)  # the dearest system each
    worst[np.arange(choice.size), choice] = p.classes.count
    better = fill(p, w, worst)
    assert (better.sum(axis=1) == p.classes.count).all()
    assert (better[~p.eligible] == 0).all()
    busy = np.einsum("cs,cs->s", better, np.where(p.eligible, p.runtime_s, 0.0))
    before = np.einsum("cs,cs->s", worst, np.where(p.eligible, p.runtime_s, 0.0))
    # capacity holds wherever it held before (fill only moves into room)
    assert (busy[before <= p.capacity_s] <= p.capacity_s[before <= p.capacity_s] + 1e-6).all()
    value = lambda c: float((w[c > 0] * c[c > 0]).sum())  # noqa: E731
    assert value(better) < value(worst)


def test_no_eligible_system_is_named():
    cm = CostModel("m", "s", runtime=metric("runtime", 0.01, 0.1, 0.0),
                   energy=metric("energy", 1.0, 2.0, 0.0))
    fleet = Fleet((System("a", "m", cm, instances=2, max_input_tokens=100),
                   System("b", "m", cm, instances=2, max_input_tokens=200)), name="f")
    wl = load_workload(pd.DataFrame({"query_id": ["x", "long"], "input_tokens": [50, 500],
                                     "output_tokens": [5, 5]}))
    with pytest.raises(InfeasibleError, match=r"1 queries fit no system.*query long.*row 2"):
        build_problem(wl, fleet)


def test_share_bound_infeasibility_is_explained():
    cm = CostModel("m", "s", runtime=metric("runtime", 0.0, 1.0, 0.0),
                   energy=metric("energy", 1.0, 2.0, 0.0))
    fleet = Fleet((System("a", "m", cm, instances=1, window_s=1000, min_share=0.9),
                   System("b", "m", cm, instances=1, window_s=1000, min_share=0.0)), name="f")
    wl = load_workload(pd.DataFrame({"input_tokens": [1] * 10, "output_tokens": [200] * 10}))
    p = build_problem(wl, fleet)  # 9 queries of 200 s must go to a (1000 s): impossible
    text = diagnose_infeasibility(p)
    assert text.startswith("infeasible:")
    assert "share" in text or "'a'" in text


def test_pulp_time_limit_is_not_reported_optimal(monkeypatch):
    """CBC stopped by its time limit keeps status Optimal in PuLP; sol_status tells."""
    import pulp

    from offline_sched.solver import Status, solve_pulp

    p = binding_instance(11, n=40, n_systems=3)
    _, res = solve_pulp(p, 0.5)
    assert res.status == Status.OPTIMAL and res.gap == 0.0
    real = pulp.LpProblem.solve

    def stopped_early(self, *args, **kwargs):  # what CBC reports on a time limit
        out = real(self, *args, **kwargs)
        self.sol_status = pulp.LpSolutionIntegerFeasible
        return out

    monkeypatch.setattr(pulp.LpProblem, "solve", stopped_early)
    _, res = solve_pulp(p, 0.5, time_limit=5)
    assert res.status == Status.TIME_LIMIT
    assert res.gap == float("inf") and res.lower_bound == -float("inf")


def test_min_share_on_a_system_that_takes_no_query_names_it():
    cm = CostModel("m", "s", runtime=metric("runtime", 0.0, 1.0, 0.0),
                   energy=metric("energy", 1.0, 2.0, 0.0))
    fleet = Fleet((System("big", "m", cm, instances=1, window_s=1e6),
                   System("tiny", "m", cm, instances=1, window_s=1e6, max_input_tokens=5,
                          min_share=0.5)), name="f")
    wl = load_workload(pd.DataFrame({"input_tokens": [10] * 4, "output_tokens": [3] * 4}))
    with pytest.raises(InfeasibleError, match="'tiny' must take at least 2 queries"):
        from offline_sched import solve
        solve(wl, fleet, 0.5)


def test_a_prediction_equal_to_its_floor_is_not_clipped():
    m = metric("runtime", 0.0, 1.0, 0.0)
    floor = m.floor_value
    values, clipped = m.guarded(np.array([1.0, 1.0]), np.array([floor, floor / 2]))
    assert not clipped[0] and clipped[1]
    assert values[1] == floor
