"""The paths that make a whole day fast: relaxation, expansion, class tables, fast output."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import binding_instance, random_fleet

from offline_sched import build_problem, load_systems, load_workload
from offline_sched.engines.classtable import class_table_from_counts
from offline_sched.fleet import Fleet
from offline_sched.io.assignment import generated_ids, write_assignment, write_schedule
from offline_sched.policies import milp
from offline_sched.problem import AssignmentProblem
from offline_sched.schedule import expand_counts
from offline_sched.solver.class_model import ClassModel as _Model
from offline_sched.solver.relaxation import SIFT_MIN_FREE, ClassRelaxation
from offline_sched.solver.rounding import make_room as _make_room
from offline_sched.synth import synthetic_workload
from offline_sched.workload import class_keys


def big_instance(seed: int, shares: bool = False) -> AssignmentProblem:
    """More classes than the first exact LP takes, with binding capacity."""
    rng = np.random.default_rng(seed)
    n = 6000
    frame = pd.DataFrame({"input_tokens": rng.integers(1, 400, n),
                          "output_tokens": rng.integers(1, 300, n)})
    fleet = random_fleet(rng, 3, window_s=1.0, shares=shares)
    p0 = build_problem(load_workload(frame), fleet)
    fastest = np.where(p0.eligible, p0.runtime_s, np.inf).min(axis=1) @ p0.classes.count
    window = 0.5 * fastest / sum(s.instances for s in fleet)
    for _ in range(40):  # the smallest window (×1.2) with a feasible LP: capacity binds
        problem = build_problem(p0.workload, Fleet(tuple(replace(s, window_s=window)
                                                         for s in fleet), name="big"))
        cap = problem.capacity_s * (1 - 1e-10)
        model = _Model(problem, problem.classes.count, cap, problem.min_count,
                       problem.max_count)
        if model.run() == "optimal":
            break
        window *= 1.2
    assert problem.classes.n_classes > SIFT_MIN_FREE
    return problem


def full_lp_objective(p: AssignmentProblem, w: np.ndarray, cap: np.ndarray) -> float:
    model = _Model(p, p.classes.count, cap, p.min_count, p.max_count)
    model.set_costs(w)
    assert model.run() == "optimal"
    return float(model.h.getInfo().objective_function_value)


@pytest.mark.parametrize("seed,shares", [(0, False), (1, True), (2, False)])
def test_sifted_relaxation_is_the_full_lp(seed, shares):
    p = big_instance(seed, shares)
    cap = p.capacity_s * (1 - 1e-10)
    relax = ClassRelaxation(p, cap)
    for lam in (0.2, 0.8):  # the second λ re-uses the coarse model
        w = p.weights(lam)
        res = relax.solve(w)
        value = float(np.sum(np.where(res.counts > 0, w, 0.0) * res.counts))
        exact = full_lp_objective(p, w, p.capacity_s * (1 - 1e-10) + 1e-7)
        assert value == pytest.approx(exact, rel=1e-8)
        assert res.lower_bound <= value + 1e-9 * abs(value)
        assert res.lower_bound == pytest.approx(value, rel=1e-7)
        assert np.allclose(res.counts.sum(axis=1), p.classes.count)
        rt = np.where(p.eligible, p.runtime_s, 0.0)
        assert (np.einsum("cs,cs->s", res.counts, rt) <= cap * (1 + 1e-9) + 1e-6).all()
        frac = (np.abs(res.counts - np.rint(res.counts)) > 1e-7).any(axis=1).sum()
        assert frac <= 2 * p.n_systems  # a basic solution: few fractional classes
        assert (res.reduced[p.eligible] >= -1e-7).all()


def test_fast_path_is_certified_and_feasible_on_a_big_instance():
    p = big_instance(3)
    sched = milp(p, 0.5)
    assert sched.feasible
    assert sched.summary["gap"] <= 1e-6
    assert sched.summary["lower_bound"] <= sched.objective


def test_expand_counts_part_by_part_equals_whole():
    rng = np.random.default_rng(4)
    qc = rng.integers(0, 50, 3000)
    size = np.bincount(qc, minlength=50)
    counts = np.zeros((50, 3), dtype=np.int64)
    counts[:, 0] = size
    counts[:10, 0] = size[:10] // 3  # ten split classes
    counts[:10, 2] = size[:10] - counts[:10, 0]
    whole = expand_counts(qc, counts)
    start = np.zeros(50, dtype=np.int64)
    parts = []
    for rows in np.array_split(np.arange(qc.size), 7):
        parts.append(expand_counts(qc[rows], counts, start))
        start += np.bincount(qc[rows], minlength=50)
    assert (np.concatenate(parts) == whole).all()
    assert (np.bincount(qc * 3 + whole, minlength=150).reshape(50, 3) == counts).all()
    for c in range(10):  # input order within a class: system 0 first, then system 2
        seq = whole[qc == c]
        assert (np.diff(seq) >= 0).all()


def test_class_table_builds_the_same_problem_and_schedule():
    frame = synthetic_workload(2000, seed=2)
    wl = load_workload(frame)
    fleet = load_systems("hybrid")
    fleet = Fleet(tuple(replace(s, window_s=s.window_s / 10) for s in fleet), name="h")
    counts = pd.Series(class_keys(wl.input_tokens, wl.output_tokens)).value_counts()
    table = class_table_from_counts(counts.sample(frac=1.0, random_state=0), "<parts>")
    a, b = build_problem(wl, fleet), build_problem(table, fleet)
    assert len(table) == len(wl) == b.n_queries
    for field in ("energy_j", "runtime_s", "eligible", "capacity_s", "min_count"):
        assert np.array_equal(getattr(a, field), getattr(b, field), equal_nan=True)
    assert np.array_equal(a.classes.count, b.classes.count)
    assert (milp(a, 0.5).counts == milp(b, 0.5).counts).all()


def test_predictions_match_the_cost_models():
    p = binding_instance(1, n=300)
    fleet = load_systems("hybrid")
    q = build_problem(p.workload, fleet)
    c = q.classes
    for s, system in enumerate(fleet):
        pred = system.cost.predict(c.input_tokens, c.output_tokens)
        assert np.allclose(q.runtime_s[:, s], pred.runtime_s, rtol=1e-12, atol=0)
        assert np.allclose(q.energy_j[:, s], pred.energy_j, rtol=1e-12, atol=0)


@pytest.mark.parametrize("ids", [
    ["a", "b", "c"], ["a,1", 'say "hi"', "c"], pd.array(["x", "y", "z"], dtype="string")])
def test_csv_assignment_is_what_pandas_writes(tmp_path, ids):
    idx = np.array([1, 0, 1], dtype=np.int16)
    for names in (["s0", "s1"], ["s,0", "s1"]):
        write_assignment(tmp_path / "a.csv", ids, idx, names)
        pd.DataFrame({"query_id": list(ids), "system": np.array(names, dtype=object)[idx]}
                     ).to_csv(tmp_path / "b.csv", index=False)
        assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_parquet_assignment_and_generated_ids(tmp_path):
    pytest.importorskip("pyarrow")
    p = binding_instance(2, n=200)
    sched = milp(p, 0.5)
    write_schedule(sched, tmp_path / "a.parquet")
    back = pd.read_parquet(tmp_path / "a.parquet")
    assert list(back.columns) == ["query_id", "system"]
    assert list(back["query_id"]) == list(generated_ids(0, 200))
    assert list(back["system"]) == list(sched.assignment["system"])


def test_cli_writes_parquet_with_progress(tmp_path, workload_file, fleet_file):
    pytest.importorskip("pyarrow")
    from click.testing import CliRunner

    from offline_sched.cli.main import cli

    out = tmp_path / "assignment.parquet"
    res = CliRunner().invoke(cli, ["solve", str(workload_file), "--systems", str(fleet_file),
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "s] solving" not in res.output or "gap=" in res.output
    back = pd.read_parquet(out)
    assert list(back["query_id"][:2]) == ["job-0", "job-1"]
    assert len(back) == 300


def test_make_room_places_left_over_queries_feasibly():
    p = binding_instance(1, n=150, n_systems=3, limits=False)
    sched = milp(p, 0.5)
    counts = sched.counts.copy()
    rt = np.where(p.eligible, p.runtime_s, 0.0)
    c = int(np.argmax(p.runtime_s.min(axis=1)))  # the longest query: the hardest to fit
    s0 = int(np.argmax(counts[c]))
    counts[c, s0] -= 1
    placed = _make_room(p, p.weights(0.5), counts, np.array([c]), np.array([1]))
    assert placed is not None
    assert (placed.sum(axis=1) == p.classes.count).all()
    assert (np.einsum("cs,cs->s", placed, rt) <= p.capacity_s * (1 + 1e-9) + 1e-6).all()
