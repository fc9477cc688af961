import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import binding_instance

from offline_sched import build_problem
from offline_sched.errors import InputError
from offline_sched.fleet import Fleet
from offline_sched.policies import POLICIES, all_gpu, only_system, run_policy, threshold
from offline_sched.studies import (
    milp_frontier,
    parse_lams,
    second_metric,
    sweep,
    threshold_study,
    token_accuracy,
)
from offline_sched.studies.compare import REPORT_COLUMNS

LAMS = [0.0, 0.3, 0.7, 1.0]


@pytest.fixture(scope="module")
def problem():
    """Two systems (s0 GPU, s1 small with an output limit), capacity binding."""
    return binding_instance(11, n=150, n_systems=2)


@pytest.fixture(scope="module")
def swept(problem):
    return sweep(problem, LAMS, gap_tol=1e-9)


def with_accuracy(problem, acc=(0.5, 0.6)):
    fleet = Fleet(tuple(replace(s, accuracy=a) for s, a in zip(problem.fleet, acc, strict=True)),
                  name="acc", objective="energy-accuracy")
    return build_problem(problem.workload, fleet)


def test_sweep_has_one_row_per_lam_and_policy(problem, swept):
    policies = list(dict.fromkeys(swept["policy"]))
    assert {"milp", "threshold-input", "all-gpu", "round-robin", "random", "greedy",
            "only-s0", "only-s1"} <= set(policies)
    assert len(swept) == len(LAMS) * len(policies)
    assert not swept.duplicated(["lam", "policy"]).any()
    assert sorted(swept["lam"].unique()) == LAMS
    assert list(swept.columns[:len(REPORT_COLUMNS)]) == REPORT_COLUMNS
    assert (swept["queries_s0"] + swept["queries_s1"] == problem.n_queries).all()


def test_milp_beats_every_feasible_baseline_at_every_lam(swept):
    for lam, grp in swept.groupby("lam"):
        milp = grp.loc[grp["policy"] == "milp", "objective"].iloc[0]
        assert grp.loc[grp["policy"] == "milp", "feasible"].iloc[0]
        others = grp[(grp["policy"] != "milp") & grp["feasible"]]
        assert len(others) > 0
        assert (milp <= others["objective"] + 1e-9 * abs(milp) + 1e-12).all(), lam


def test_milp_frontier_is_monotone_in_lam(swept):
    front = milp_frontier(swept)
    assert list(front["lam"]) == LAMS
    e, r = front["energy_kwh"].to_numpy(), front["mean_runtime_s"].to_numpy()
    assert (np.diff(e) <= 1e-9 * e[:-1]).all()      # more weight on energy: never more energy
    assert (np.diff(r) >= -1e-9 * r[:-1]).all()     # ... and never less runtime
    assert e[0] > e[-1] and r[0] < r[-1]             # this instance has a real trade-off


def test_sweep_builds_one_highs_model(problem, monkeypatch):
    import offline_sched.studies.lam_sweep as study

    built = []
    real = study.HighsSolver

    def counting(*args, **kwargs):
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(study, "HighsSolver", counting)
    frame = sweep(problem, [0.2, 0.5, 0.8], ["milp", "greedy"])
    assert len(built) == 1
    assert len(frame) == 6


def test_sweep_rejects_bad_input(problem):
    with pytest.raises(InputError):
        sweep(problem, [])
    with pytest.raises(InputError):
        sweep(problem, [1.5])
    with pytest.raises(InputError, match="unknown policy"):
        sweep(problem, [0.5], ["nope"])
    with pytest.raises(InputError, match="no system"):
        sweep(problem, [0.5], ["only-nope"])


@pytest.mark.parametrize("lam", [0.5, 1.0])
def test_threshold_study_best_equals_the_policy_choice(problem, lam):
    study = threshold_study(problem, lam)
    for feature in ("input", "output", "product"):
        best = study[(study["feature"] == feature) & study["best"]]
        assert len(best) == 1
        policy = threshold(problem, lam, feature)
        assert best["threshold"].iloc[0] == policy.summary["threshold"]
        assert best["objective"].iloc[0] == pytest.approx(policy.objective, rel=1e-12)
        assert best["feasible"].iloc[0] == policy.feasible


def test_threshold_rows_match_the_policy_evaluation(problem):
    study = threshold_study(problem, 0.5, include_milp=False)
    rows = study[study["kind"] == "threshold"]
    sample = rows.iloc[np.linspace(0, len(rows) - 1, 12).astype(int)]
    for _, row in sample.iterrows():
        s = threshold(problem, 0.5, row["feature"], value=row["threshold"])
        summ = s.summary
        assert row["energy_j"] == pytest.approx(summ["energy_j"], rel=1e-9)
        assert row["runtime_s"] == pytest.approx(summ["runtime_s"], rel=1e-9)
        assert row["makespan_s"] == pytest.approx(summ["makespan_s"], rel=1e-9)
        assert row["feasible"] == summ["feasible"]
        assert row["queries_s1"] == s.counts[:, 1].sum()


def test_threshold_study_reference_and_milp_rows(problem):
    study = threshold_study(problem, 1.0, values=[8, 32, 128])
    assert sorted(study.loc[study["kind"] == "threshold", "threshold"].unique()) == [8, 32, 128]
    ref = study.set_index("policy")
    gpu = all_gpu(problem, 1.0).summary
    assert ref.loc["all-s0", "energy_j"] == pytest.approx(gpu["energy_j"], rel=1e-9)
    assert ref.loc["all-s0", "energy_saving_vs_all_gpu_pct"] == 0
    small = threshold(problem, 1.0, "input", value=1e12).summary
    assert ref.loc["all-s1", "energy_j"] == pytest.approx(small["energy_j"], rel=1e-9)
    milp = ref.loc["milp"]
    assert milp["feasible"]
    feasible = study[(study["kind"] == "threshold") & study["feasible"]]
    assert (milp["objective"] <= feasible["objective"] + 1e-6 * abs(milp["objective"])).all()


def test_threshold_study_needs_a_hybrid_fleet():
    p = binding_instance(3, n=40, n_systems=2)
    gpu_only = Fleet(tuple(replace(s, gpu=True) for s in p.fleet), name="gpus")
    with pytest.raises(InputError, match="non-GPU"):
        threshold_study(build_problem(p.workload, gpu_only))
    with pytest.raises(InputError, match="feature"):
        threshold_study(p, features=["tokens"])


def test_only_system_policies(problem):
    s = only_system(problem, 0.5, "s1")
    elig = problem.eligible[:, 1]
    assert (s.counts[elig, 1] == problem.classes.count[elig]).all()
    assert s.summary["fallback"] == problem.classes.count[~elig].sum()
    assert run_policy("only-s1", problem, 0.5).summary["energy_j"] == s.summary["energy_j"]
    before = dict(POLICIES)
    assert run_policy("only-s0", problem, 0.5).counts[:, 0].sum() == problem.n_queries
    assert POLICIES == before  # the registry is static


def test_token_accuracy_and_second_metric(problem):
    acc = with_accuracy(problem)
    assert token_accuracy(only_system(acc, 0.5, "s0")) == pytest.approx(0.5)
    assert np.isnan(token_accuracy(only_system(problem, 0.5, "s0")))
    assert second_metric(acc) == "token_accuracy"
    assert second_metric(problem) == "mean_runtime_s"
    frame = sweep(acc, [0.0, 1.0], ["milp", "only-s0"])
    assert second_metric(frame) == "token_accuracy"
    front = milp_frontier(frame)
    assert front["token_accuracy"].iloc[0] >= front["token_accuracy"].iloc[-1]


@pytest.mark.parametrize("text,expected", [
    ("0:1:0.25", [0.0, 0.25, 0.5, 0.75, 1.0]),
    ("0:1:0.1", [round(0.1 * i, 12) for i in range(11)]),
    ("0.5", [0.5]),
    ("0, 0.5,1", [0.0, 0.5, 1.0]),
])
def test_parse_lams(text, expected):
    assert parse_lams(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["1:0:0.1", "0:1:0", "0:1", "a", "0:2:1", "0.5,1.5", "", "nan"])
def test_parse_lams_rejects(text):
    with pytest.raises(InputError, match="--lam"):
        parse_lams(text)


def test_plots_write_pngs(problem, swept, tmp_path):
    pytest.importorskip("matplotlib")
    from offline_sched.plots.studies import plot_sweep, plot_sweep_lambda, plot_thresholds

    paths = [plot_sweep(swept, tmp_path / "a.png"),
             plot_sweep_lambda(swept, tmp_path / "b.png"),
             plot_thresholds(threshold_study(problem, 1.0), tmp_path / "c.png", title="t")]
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.png", "b.png", "c.png"]


def test_plots_need_matplotlib(swept, tmp_path, monkeypatch):
    from offline_sched.plots.studies import plot_sweep

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(InputError, match=r"pip install 'offline-sched\[plot\]'"):
        plot_sweep(swept, tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_plot_rejects_empty_frame(tmp_path):
    pytest.importorskip("matplotlib")
    from offline_sched.plots.studies import plot_thresholds

    with pytest.raises(InputError):
        plot_thresholds(pd.DataFrame(columns=["kind", "feature", "threshold", "energy_kwh",
                                              "mean_runtime_s", "feasible"]),
                        tmp_path / "x.png")
