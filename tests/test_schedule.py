import numpy as np
import pandas as pd
import pytest

from offline_sched import build_problem, load_systems, load_workload
from offline_sched.io.atomic import atomic_path, write_csv
from offline_sched.policies import greedy
from offline_sched.schedule import Schedule, expand_counts


def test_expand_counts_fills_classes_in_input_order():
    qc = np.array([1, 0, 1, 1, 0, 2])
    counts = np.array([[1, 1], [2, 1], [0, 1]])
    idx = expand_counts(qc, counts)
    # class 1 is queries 0, 2, 3 -> first two on system 0, last on 1
    assert list(idx) == [0, 0, 0, 1, 1, 1]
    got = np.zeros_like(counts)
    np.add.at(got, (qc, idx), 1)
    np.testing.assert_array_equal(got, counts)


def test_evaluation_matches_a_hand_computation(fleet_file):
    wl = load_workload(pd.DataFrame({"query_id": ["a", "b", "c"], "input_tokens": [10, 20, 10],
                                     "output_tokens": [5, 600, 5]}))
    fleet = load_systems(fleet_file)
    p = build_problem(wl, fleet)
    s = Schedule(p, "manual", 0.5, system_index_=np.array([0, 1, 1]))
    small, gpu = fleet
    e = (small.cost.energy_j(10, 5) + gpu.cost.energy_j(20, 600) + gpu.cost.energy_j(10, 5))
    r_gpu = gpu.cost.runtime_s(20, 600) + gpu.cost.runtime_s(10, 5)
    assert s.summary["energy_j"] == pytest.approx(float(e))
    bs = s.by_system.set_index("system")
    assert bs.loc["gpu", "busy_s"] == pytest.approx(float(r_gpu))
    assert bs.loc["gpu", "makespan_s"] == pytest.approx(float(r_gpu) / gpu.instances)
    assert list(s.assignment.system) == ["small", "gpu", "gpu"]
    assert s.feasible
    bad = Schedule(p, "manual", 0.5, system_index_=np.array([0, 0, 0]))  # 600 > 512 on small
    assert not bad.feasible and "token limits" in bad.violations()[0]


def test_objective_is_normalised_weighted_sum(fleet_file, workload_file):
    p = build_problem(load_workload(workload_file), load_systems(fleet_file))
    s = greedy(p, 0.3)
    qc, idx = p.classes.query_class, s.system_index
    e = p.energy_j[qc, idx] / p.energy_scale
    r = p.runtime_s[qc, idx] / p.runtime_scale
    assert s.objective == pytest.approx(float(np.sum(0.3 * e + 0.7 * r)))
    assert p.energy_scale == pytest.approx(float(p.energy_j[p.eligible].max()))


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    write_csv(pd.DataFrame({"a": [1]}), target)
    assert target.read_text() == "a\n1\n"
