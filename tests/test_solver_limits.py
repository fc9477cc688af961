"""Issue 10's solver items and issue 14's fast infeasibility, as regression tests.

* PuLP/CBC statuses are mapped honestly: a time-limited CBC run is ``time-limit`` with an
  infinite gap, never ``optimal, gap 0``.
* HiGHS under a ``time_limit`` returns a schedule with an honest status and gap (how long it
  takes is measured in ``benchmarks/exactness.py``, not here: no test is timed).
* The infeasibility diagnosis does not depend on wall-clock time (no time limit is set on any
  HiGHS instance it makes, and it says the same thing twice).
* A ``min_share`` on a system that can take no query names that system.
* A job list whose GPU-only queries exceed the GPU capacity is refused before any LP, naming
  the group and the shortfall in seconds and replicas.
"""

from __future__ import annotations

import math
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline_sched import InfeasibleError, build_problem, load_systems, load_workload, solve

COEFFS = Path(__file__).resolve().parents[1] / "offline_sched" / "data" / "coefficients.csv"


def fleet4(window_s: float, gpu_factor: float = 1.0) -> str:
    """The four-pool fleet of the benchmarks (M1-Pro takes at most 512 output tokens)."""
    pools = [("m1-pro", "llama-2-7b", 200, False, "max_output_tokens = 512", "m1-pro"),
             ("a100-llama", "llama-2-7b", 50, True, "max_total_tokens = 4096", "a100"),
             ("a100-mistral", "mistral-7b", 50, True, "", "a100"),
             ("v100", "llama-2-7b", 900, True, "", "v100")]
    out = [f"window_s = {window_s!r}", 'objective = "energy-runtime"', "normalize = true"]
    for name, model, n, gpu, limit, cost in pools:
        n = n if not gpu else max(1, int(n * gpu_factor))
        out += ["[[system]]", f'name = "{name}"', f'model = "{model}"', f"instances = {n}",
                f"gpu = {str(gpu).lower()}", limit, f'cost_model = "{COEFFS}"',
                f'cost_system = "{cost}"', 'form = "default"']
    return "\n".join(out) + "\n"


def chat_day(n: int, seed: int = 0) -> pd.DataFrame:
    """Log-normal chat / long-context mixture: nearly all token pairs distinct."""
    rng = np.random.default_rng(seed)
    long = rng.random(n) < 0.35
    tin = np.where(long, rng.lognormal(np.log(1100), 0.5, n), rng.lognormal(np.log(80), 0.9, n))
    tout = np.where(long, rng.lognormal(np.log(140), 0.6, n), rng.lognormal(np.log(130), 0.7, n))
    return pd.DataFrame({"input_tokens": np.clip(np.rint(tin), 4, 3072).astype(int),
                         "output_tokens": np.clip(np.rint(tout), 4, 1024).astype(int)})


@pytest.fixture(scope="module")
def hard_problem(tmp_path_factory):
    """1,000 near-unique queries on fleet-4 with the window scaled so three pools bind."""
    path = tmp_path_factory.mktemp("fleet") / "fleet4.toml"
    path.write_text(fleet4(86400 * 1000 / 1e6))
    with warnings.catch_warnings():  # extrapolated-cost notes are not what is tested here
        warnings.simplefilter("ignore")
        return build_problem(load_workload(chat_day(1000)), load_systems(str(path)))


def test_pulp_time_limit_is_not_reported_optimal(hard_problem):
    from offline_sched.solver import HighsSolver, solve_pulp

    reference = HighsSolver(hard_problem, finish_s=1.0).solve(0.5)  # any schedule bounds it
    _, res = solve_pulp(hard_problem, 0.5, time_limit=2.0)
    if res.status == "optimal":  # CBC proved it: then it can be no worse than any schedule
        assert res.objective <= reference.objective * (1 + 1e-9)
        assert res.gap == 0.0
    else:
        assert res.status == "time-limit"
        assert math.isinf(res.gap) and res.lower_bound == -math.inf
        assert res.objective > reference.lower_bound - 1e-9  # still a real schedule's value


def test_highs_time_limit_is_honoured(hard_problem):
    from offline_sched.solver import HighsSolver

    res = HighsSolver(hard_problem, gap_tol=1e-12).solve(0.5, time_limit=1.0)
    assert res.status in ("time-limit", "optimal")
    assert res.gap >= 0 and res.lower_bound <= res.objective


def _lp_infeasible_problem():
    # fast system: 2 s for 10 one-second queries; slow one: 20 s, but 10 s per query there.
    # Every group fits at the queries' fastest speed (Hall passes); the LP has no solution.
    toml = ("window_s = 1.0\n"
            "[[system]]\nname = \"fast\"\nmodel = \"m\"\ninstances = 2\n"
            "runtime = { const = 1.0 }\nenergy = { const = 1.0 }\n"
            "[[system]]\nname = \"slow\"\nmodel = \"m\"\ninstances = 20\n"
            "runtime = { const = 10.0 }\nenergy = { const = 1.0 }\n")
    from offline_sched.fleet.toml import fleet_from_dict

    fleet = fleet_from_dict(tomllib.loads(toml))
    wl = load_workload(pd.DataFrame({"input_tokens": range(1, 11), "output_tokens": [5] * 10}))
    return build_problem(wl, fleet)


def test_diagnosis_sets_no_time_limit_and_is_repeatable(monkeypatch):
    import offline_sched.solver.highs_model as hm
    from offline_sched.solver.diagnosis import diagnose_infeasibility, quick_infeasibility

    p = _lp_infeasible_problem()
    assert quick_infeasibility(p) is None  # the elastic LP must do the work
    options: list[str] = []
    real = hm.new_highs

    def recording():
        h = real()
        original = h.setOptionValue

        def set_option(name, value):
            options.append(name)
            return original(name, value)

        h.setOptionValue = set_option
        return h

    monkeypatch.setattr(hm, "new_highs", recording)
    first = diagnose_infeasibility(p)
    assert options, "the elastic LP should have been built"
    assert "time_limit" not in options
    assert first == diagnose_infeasibility(p)
    assert "short by" in first and ("'fast'" in first or "'slow'" in first)


def test_min_share_on_a_system_that_can_take_no_query_names_it(tmp_path):
    fleet = tmp_path / "f.toml"
    fleet.write_text(
        "window_s = 3600\n"
        "[[system]]\nname = \"big\"\nmodel = \"m\"\ninstances = 4\n"
        "runtime = { out = 0.01 }\nenergy = { out = 1.0 }\n"
        "[[system]]\nname = \"tiny-ctx\"\nmodel = \"m\"\ninstances = 1\nmax_output_tokens = 4\n"
        "min_share = 0.1\nruntime = { out = 0.01 }\nenergy = { out = 0.5 }\n")
    frame = pd.DataFrame({"input_tokens": [10] * 20, "output_tokens": range(10, 30)})
    with pytest.raises(InfeasibleError) as err:
        solve(frame, str(fleet), 0.5)
    text = str(err.value)
    assert "'tiny-ctx'" in text and "min_share" in text and "no query can run" in text


def test_gpu_only_queries_beyond_gpu_capacity_are_refused_before_any_lp(tmp_path, monkeypatch):
    from offline_sched.solver.relaxation import ClassRelaxation

    n = 200_000
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"input_tokens": rng.integers(1, 8193, n),
                          "output_tokens": rng.integers(1, 2049, n)})
    fleet = tmp_path / "f.toml"
    fleet.write_text(fleet4(86400 * n / 1e6, gpu_factor=1.0))

    def no_lp(*args, **kwargs):
        raise AssertionError("the LP relaxation must not be needed to see this")

    monkeypatch.setattr(ClassRelaxation, "solve", no_lp)
    with pytest.raises(InfeasibleError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solve(frame, str(fleet), 0.5)
    text = str(err.value)
    # outputs > 512 only the GPU pools can take; long inputs only a100-mistral and v100
    assert "'a100-mistral', 'v100'" in text and "short by" in text and "more replicas" in text


def _busy_lp(h, n: int = 400):
    """A small dense-ish LP on ``h`` (each cold solve takes a measurable moment)."""
    from offline_sched.solver.highs_model import highspy_module

    rng = np.random.default_rng(5)
    hs = highspy_module()
    h.addVars(n, np.zeros(n), np.ones(n))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), -rng.random(n))
    for _ in range(n // 2):  # loop over the rows of the small LP
        idx = np.sort(rng.choice(n, 40, replace=False)).astype(np.int32)
        h.addRow(-hs.kHighsInf, 1.0, idx.size, idx, rng.random(idx.size))


def test_a_reused_highs_instance_gets_each_runs_own_time_limit():
    """HiGHS's ``time_limit`` counts the instance's run clock over *all* its runs: once an
    instance had run longer than a limit, a later run under the same limit stopped at once
    ("Time limit reached"; the planner's Benders loop then failed on the windows benchmark).
    ``set_time_limit`` gives the next run its own seconds."""
    from offline_sched.solver.highs_model import model_status, new_highs, set_time_limit

    h = new_highs()
    _busy_lp(h)
    while h.getRunTime() < 0.2:  # cold solves until the clock is past the limit used below
        h.clearSolver()
        set_time_limit(h, None)
        h.run()
    assert model_status(h) == "optimal"
    h.changeColCost(0, -2.0)  # a warm re-solve: a few iterations, far below 0.05 s
    set_time_limit(h, 0.05)
    h.run()
    assert model_status(h) == "optimal"


def test_every_highs_time_limit_goes_through_set_time_limit():
    """No module sets HiGHS's ``time_limit`` option itself (it would be the clock's total);
    the child process of :mod:`mip_process` builds a fresh instance and may."""
    root = Path(__file__).resolve().parents[1] / "offline_sched"
    allowed = {root / "solver" / "highs_model.py", root / "solver" / "mip_process.py"}
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p not in allowed and 'setOptionValue("time_limit"' in p.read_text()]
    assert offenders == []


def test_a_mip_on_a_reused_instance_gets_its_limit_not_the_clocks_sum():
    """A MIP checks its own timer, from zero in every run: its limit must not carry the
    instance's earlier run time (a 0.2 s limit after a 1.5 s run would then be 1.7 s)."""
    import time as _time

    import highspy

    from offline_sched.solver.highs_model import model_status, new_highs, set_time_limit

    rng = np.random.default_rng(1)
    n, m = 120, 25
    h = new_highs()
    h.addVars(n, np.zeros(n), np.ones(n))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), -rng.integers(50, 100, n).astype(float))
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                            np.array([highspy.HighsVarType.kInteger] * n))
    for _ in range(m):  # loop over the rows of a hard multi-row knapsack
        w = rng.integers(20, 80, n).astype(float)
        h.addRow(-highspy.kHighsInf, w.sum() / 2, n, np.arange(n, dtype=np.int32), w)
    set_time_limit(h, 1.5, mip=True)
    h.run()
    assert model_status(h) == "time-limit" and h.getRunTime() >= 1.4  # still hard at 1.5 s
    h.clearSolver()
    set_time_limit(h, 0.2, mip=True)
    begin = _time.perf_counter()
    h.run()
    assert model_status(h) == "time-limit"
    assert _time.perf_counter() - begin < 1.0
