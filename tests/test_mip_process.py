"""MIPs in a child process: same optimum as brute force, and killed at the deadline."""

from __future__ import annotations

import itertools
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from offline_sched.planner.highs import highspy_module, new_highs
from offline_sched.solver import mip_process
from offline_sched.solver.mip_process import from_highs, solve_with_deadline


def _knapsack_model(rng: np.random.Generator, n: int, m: int):
    """A small multi-row 0/1 knapsack built row by row (HiGHS then holds it row-wise)."""
    hs = highspy_module()
    value = rng.integers(1, 20, n).astype(float)
    weight = rng.integers(1, 10, (m, n)).astype(float)
    weight[rng.random((m, n)) < 0.3] = 0.0
    cap = np.floor(weight.sum(axis=1) / 2)
    h = new_highs()
    h.addVars(n, np.zeros(n), np.ones(n))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), -value)  # maximise value
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                            np.array([hs.HighsVarType.kInteger] * n))
    for i in range(m):  # loop over the few rows
        idx = np.flatnonzero(weight[i]).astype(np.int32)
        h.addRow(-hs.kHighsInf, cap[i], idx.size, idx, weight[i, idx])
    return h, value, weight, cap


def _brute_force(value, weight, cap) -> float:
    best = 0.0
    for pick in itertools.product((0, 1), repeat=value.size):  # 2^n, n ≤ 10
        x = np.array(pick, dtype=float)
        if (weight @ x <= cap + 1e-9).all():
            best = max(best, float(value @ x))
    return -best


@pytest.mark.parametrize("seed", range(4))
def test_child_finds_the_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    h, value, weight, cap = _knapsack_model(rng, n=10, m=3)
    start = np.zeros(10) if seed % 2 else None  # the empty knapsack is a feasible start
    out = solve_with_deadline(from_highs(h, start, {"mip_rel_gap": 0.0}), 20.0)
    assert out.finished and out.values is not None
    x = np.rint(out.values)
    assert (weight @ x <= cap + 1e-9).all()
    assert float(-value @ x) == pytest.approx(_brute_force(value, weight, cap), abs=1e-9)
    assert out.objective == pytest.approx(float(-value @ x), abs=1e-9)


def test_row_wise_model_is_transposed_exactly():
    rng = np.random.default_rng(7)
    h, _, weight, _ = _knapsack_model(rng, n=9, m=4)
    model = from_highs(h, None, {})
    dense = np.zeros(weight.shape)
    for j in range(weight.shape[1]):  # loop over the columns of the small matrix
        lo, hi = model.start[j], model.start[j + 1]
        dense[model.index[lo:hi], j] = model.value[lo:hi]
    assert np.array_equal(dense, weight)
    assert model.integer.all()


def test_a_child_past_its_deadline_is_killed(monkeypatch):
    monkeypatch.setattr(mip_process, "CHILD_COMMAND",
                        (sys.executable, "-c", "import time; time.sleep(120)"))
    rng = np.random.default_rng(0)
    h, *_ = _knapsack_model(rng, n=5, m=2)
    begin = time.perf_counter()
    out = solve_with_deadline(from_highs(h, None, {}), 0.5)
    # without the kill this call would wait for the child's two minutes
    assert time.perf_counter() - begin < 30
    assert out.values is None and not out.finished and out.status == "killed"


def test_no_child_process_is_a_warning_not_an_error(monkeypatch):
    monkeypatch.setattr(mip_process, "CHILD_COMMAND", ("/nonexistent/python",))
    rng = np.random.default_rng(0)
    h, *_ = _knapsack_model(rng, n=5, m=2)
    with pytest.warns(RuntimeWarning, match="could not start a child process"):
        out = solve_with_deadline(from_highs(h, None, {}), 1.0)
    assert out.values is None and out.status == "not started"


def test_ctrl_c_while_waiting_leaves_no_child_running(monkeypatch):
    monkeypatch.setattr(mip_process, "CHILD_COMMAND",
                        (sys.executable, "-c", "import time; time.sleep(120)"))
    started = []
    real_popen = mip_process.subprocess.Popen

    def popen(*args, **kwargs):
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    def interrupted_join(self, timeout=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(mip_process.subprocess, "Popen", popen)
    monkeypatch.setattr(mip_process.threading.Thread, "join", interrupted_join)
    rng = np.random.default_rng(0)
    h, *_ = _knapsack_model(rng, n=5, m=2)
    with pytest.raises(KeyboardInterrupt):
        solve_with_deadline(from_highs(h, None, {}), 60.0)
    assert started and started[0].poll() is not None  # killed and reaped, not orphaned


STALLING_CHILD = """
import pickle, struct, sys, time
sys.stdin.buffer.read()
body = pickle.dumps(("sol", -3.0, [1.0, 0.0, 1.0, 0.0, 0.0]))
sys.stdout.buffer.write(struct.pack("<Q", len(body)) + body)
sys.stdout.buffer.flush()
time.sleep(120)
"""


def test_a_child_that_stops_improving_is_killed_at_its_stall_limit(monkeypatch):
    """One improving plan, then nothing: with stall_s the wait ends that long after it (the
    plan is kept); without, only at the deadline."""
    monkeypatch.setattr(mip_process, "CHILD_COMMAND", (sys.executable, "-c", STALLING_CHILD))
    rng = np.random.default_rng(0)
    h, *_ = _knapsack_model(rng, n=5, m=2)
    begin = time.perf_counter()
    out = solve_with_deadline(from_highs(h, None, {}), 60.0, stall_s=0.5)
    assert time.perf_counter() - begin < 20  # not the 60 s deadline
    assert out.status == "stalled" and not out.finished
    assert out.objective == -3.0 and list(out.values) == [1.0, 0.0, 1.0, 0.0, 0.0]
    begin = time.perf_counter()
    out = solve_with_deadline(from_highs(h, None, {}), 1.5)  # no stall limit: the deadline
    assert time.perf_counter() - begin >= 1.5
    assert out.status == "killed" and out.objective == -3.0


def test_the_child_starts_without_the_package(monkeypatch, tmp_path):
    """The child runs the bare file: neither offline_sched nor pandas/PuLP is imported there
    (each cost ~0.4 s of every child's start), and it still solves the model."""
    seen = tmp_path / "modules.txt"
    wrapper = (  # records any forbidden import as it happens (the child may be killed
        # as soon as it has reported its end)
        "import runpy, sys\n"
        f"log = open({str(seen)!r}, 'w', buffering=1)\n"
        "class Spy:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('offline_sched', 'pandas', 'pulp'):\n"
        "            log.write(name + '\\n')\n"
        "        return None\n"
        "sys.meta_path.insert(0, Spy())\n"
        f"runpy.run_path({mip_process.CHILD_COMMAND[-1]!r}, run_name='__main__')\n")
    monkeypatch.setattr(mip_process, "CHILD_COMMAND", (sys.executable, "-P", "-c", wrapper))
    rng = np.random.default_rng(3)
    h, value, weight, cap = _knapsack_model(rng, n=8, m=2)
    out = solve_with_deadline(from_highs(h, None, {"mip_rel_gap": 0.0}), 20.0)
    assert out.finished
    assert out.objective == pytest.approx(_brute_force(value, weight, cap), abs=1e-9)
    assert seen.read_text() == ""


def _echo_model(h):
    """The stalling child's one plan made the model's start (cost · start = -3)."""
    return replace(from_highs(h, None, {}), cost=np.array([-1.0, -5.0, -2.0, -5.0, -5.0]),
                   start_values=np.array([1.0, 0.0, 1.0, 0.0, 0.0]))


def test_the_start_echoed_back_does_not_start_the_stall_clock(monkeypatch):
    """HiGHS reports the start it was given as its first improving plan; a child that sends
    only that (objective = cost · start) and then searches on is not stopped by the stall
    rule, only by the deadline (the stall counts from the first plan that beats the start)."""
    monkeypatch.setattr(mip_process, "CHILD_COMMAND", (sys.executable, "-c", STALLING_CHILD))
    rng = np.random.default_rng(0)
    h, *_ = _knapsack_model(rng, n=5, m=2)
    echo = _echo_model(h)
    begin = time.perf_counter()
    out = solve_with_deadline(echo, 1.5, stall_s=0.2)
    assert time.perf_counter() - begin >= 1.5  # not stopped 0.2 s after the echo
    assert out.status == "killed" and out.objective == -3.0


LATE_PLAN_CHILD = """
import pickle, struct, sys, time
sys.stdin.buffer.read()
time.sleep(1.0)
body = pickle.dumps(("sol", -4.0, [1.0, 1.0, 0.0, 0.0, 0.0]))
sys.stdout.buffer.write(struct.pack("<Q", len(body)) + body)
sys.stdout.buffer.flush()
time.sleep(120)
"""


def test_a_plan_found_late_earns_a_longer_stall_wait(monkeypatch):
    """The stall wait is at least as long as the last plan took to find: a plan after ~1 s
    is waited on for ~1 s more, not only the 0.2 s of stall_s."""
    monkeypatch.setattr(mip_process, "CHILD_COMMAND", (sys.executable, "-c", LATE_PLAN_CHILD))
    rng = np.random.default_rng(0)
    h, *_ = _knapsack_model(rng, n=5, m=2)
    begin = time.perf_counter()
    out = solve_with_deadline(from_highs(h, None, {}), 60.0, stall_s=0.2)
    took = time.perf_counter() - begin
    assert out.status == "stalled" and out.objective == -4.0
    assert 1.9 <= took < 20  # ~1 s to the plan, then ~1 s of wait (flat 0.2 s: ~1.2 s)


@pytest.fixture
def children(monkeypatch) -> list:
    """The child processes ``solve_with_deadline`` starts, as they are started."""
    procs: list = []
    real_popen = mip_process.subprocess.Popen

    def popen(*args, **kwargs):
        procs.append(real_popen(*args, **kwargs))
        return procs[-1]

    monkeypatch.setattr(mip_process.subprocess, "Popen", popen)
    return procs


def test_meanwhile_runs_while_the_child_solves_and_its_plans_still_count(children):
    """The caller's own work runs once, while the child is alive (it is still starting: its
    imports alone take longer than handing it the model), and the child's optimum still
    arrives (it fails if ``meanwhile`` is ignored or run after the child was reaped)."""
    rng = np.random.default_rng(3)
    h, value, weight, cap = _knapsack_model(rng, n=10, m=3)
    alive = []

    def work() -> None:
        alive.append(children[0].poll() is None)
        time.sleep(0.3)

    out = solve_with_deadline(from_highs(h, None, {"mip_rel_gap": 0.0}), 20.0, meanwhile=work)
    assert alive == [True]
    assert out.finished and out.values is not None
    assert float(-value @ np.rint(out.values)) == pytest.approx(
        _brute_force(value, weight, cap), abs=1e-9)


def test_meanwhile_that_fails_leaves_no_child_running(children):
    """An error in the caller's work propagates, and the child is killed and reaped."""
    rng = np.random.default_rng(4)
    h, *_ = _knapsack_model(rng, n=10, m=3)

    def boom() -> None:
        raise RuntimeError("caller failed")

    with pytest.raises(RuntimeError, match="caller failed"):
        solve_with_deadline(from_highs(h, None, {}), 20.0, meanwhile=boom)
    assert children and children[0].poll() is not None


def test_no_better_plan_within_first_plan_s_stops_the_child(monkeypatch):
    """Only the echo of the start within ``first_plan_s``: stopped then (status stalled, the
    start kept), not at the deadline; a plan that beats the start in time lifts the rule
    (the stall rule then applies)."""
    monkeypatch.setattr(mip_process, "CHILD_COMMAND", (sys.executable, "-c", STALLING_CHILD))
    rng = np.random.default_rng(0)
    h, *_ = _knapsack_model(rng, n=5, m=2)
    echo = _echo_model(h)
    begin = time.perf_counter()
    out = solve_with_deadline(echo, 30.0, stall_s=0.2, first_plan_s=0.5)
    took = time.perf_counter() - begin
    assert 0.5 <= took < 10 and out.status == "stalled" and out.objective == -3.0
    monkeypatch.setattr(mip_process, "CHILD_COMMAND", (sys.executable, "-c", LATE_PLAN_CHILD))
    begin = time.perf_counter()  # a plan at ~1 s: no stop at 1.5 s, the deadline (3 s) counts
    out = solve_with_deadline(from_highs(h, None, {}), 3.0, first_plan_s=1.5)
    took = time.perf_counter() - begin
    assert 3.0 <= took < 10 and out.status == "killed" and out.objective == -4.0


def test_meanwhile_that_returns_true_stops_the_child_at_once(monkeypatch):
    """The caller's plan is good enough: the child (which would sleep for two minutes after
    its one plan) is killed as soon as ``meanwhile`` returns True, status ``enough``, and the
    plan it sent before is still returned; a ``meanwhile`` returning anything else changes
    nothing (the deadline then ends the wait)."""
    monkeypatch.setattr(mip_process, "CHILD_COMMAND", (sys.executable, "-c", STALLING_CHILD))
    rng = np.random.default_rng(0)
    h, *_ = _knapsack_model(rng, n=5, m=2)

    def good_enough() -> bool:
        time.sleep(1.0)  # the child's plan arrives meanwhile
        return True

    begin = time.perf_counter()
    out = solve_with_deadline(from_highs(h, None, {}), 60.0, meanwhile=good_enough)
    assert time.perf_counter() - begin < 20  # not the 60 s deadline
    assert out.status == "enough" and not out.finished
    assert out.objective == -3.0 and list(out.values) == [1.0, 0.0, 1.0, 0.0, 0.0]
    begin = time.perf_counter()
    out = solve_with_deadline(from_highs(h, None, {}), 1.5, meanwhile=lambda: 1)
    assert time.perf_counter() - begin >= 1.5 and out.status == "killed"
