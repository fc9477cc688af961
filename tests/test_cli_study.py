import pandas as pd
import pytest
from click.testing import CliRunner

from offline_sched.cli.study import sweep, thresholds
from offline_sched.studies.compare import REPORT_COLUMNS


@pytest.fixture
def invoke():
    runner = CliRunner()

    def run(command, *args):
        return runner.invoke(command, [str(a) for a in args], catch_exceptions=False)

    return run


def test_sweep_writes_one_row_per_lam_and_policy_and_a_png(invoke, workload_file, fleet_file,
                                                            tmp_path):
    pytest.importorskip("matplotlib")
    out, png = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    res = invoke(sweep, workload_file, "-s", fleet_file, "--lam", "0:1:0.5", "--out", out,
                 "--plot", png, "-q")
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert list(frame.columns[:len(REPORT_COLUMNS)]) == REPORT_COLUMNS
    policies = frame["policy"].unique()
    assert {"milp", "threshold-input", "all-gpu", "only-small", "only-gpu"} <= set(policies)
    assert len(frame) == 3 * len(policies)
    assert sorted(frame["lam"].unique()) == [0.0, 0.5, 1.0]
    assert not frame.duplicated(["lam", "policy"]).any()
    for _, grp in frame.groupby("lam"):
        milp = grp.loc[grp["policy"] == "milp", "objective"].iloc[0]
        feasible = grp[grp["feasible"] & (grp["policy"] != "milp")]
        assert (milp <= feasible["objective"] + 1e-6 * abs(milp)).all()
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000
    assert f"wrote {out}" in res.output
    assert "energy_kwh" in res.output  # the MILP frontier table


def test_sweep_policy_subset_and_comma_lams(invoke, workload_file, fleet_file, tmp_path):
    out = tmp_path / "s.csv"
    res = invoke(sweep, workload_file, "-s", fleet_file, "--lam", "0.2,0.8", "-p", "milp",
                 "-p", "only-gpu", "--out", out, "-q")
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert list(frame["policy"]) == ["milp", "only-gpu", "milp", "only-gpu"]
    assert list(frame["lam"]) == [0.2, 0.2, 0.8, 0.8]


@pytest.mark.parametrize("lam", ["0:1", "1:0:0.1", "x", "0,2"])
def test_sweep_bad_lam_is_a_one_line_usage_error(invoke, workload_file, fleet_file, tmp_path,
                                                 lam):
    out = tmp_path / "s.csv"
    res = invoke(sweep, workload_file, "-s", fleet_file, "--lam", lam, "--out", out)
    assert res.exit_code == 2
    assert "--lam" in res.output and len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def test_infeasible_fleet_exits_3_and_writes_nothing(invoke, workload_file, tmp_path):
    from conftest import FLEET_TOML

    fleet = tmp_path / "tiny.toml"
    fleet.write_text(FLEET_TOML.replace("window_s = 3600", "window_s = 1"))
    out = tmp_path / "s.csv"
    res = invoke(sweep, workload_file, "-s", fleet, "--lam", "0.5", "--out", out)
    assert res.exit_code == 3
    assert "infeasible" in res.output
    assert not out.exists()
    res = invoke(thresholds, workload_file, "-s", fleet, "--out", out)
    assert res.exit_code == 3
    assert not out.exists()


def test_thresholds_writes_study_and_png(invoke, workload_file, fleet_file, tmp_path):
    pytest.importorskip("matplotlib")
    from offline_sched import compare

    out, png = tmp_path / "t.csv", tmp_path / "t.png"
    res = invoke(thresholds, workload_file, "-s", fleet_file, "--lam", "0.5", "--out", out,
                 "--plot", png, "-q")
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert {"threshold", "reference", "milp"} == set(frame["kind"])
    assert set(frame.loc[frame["kind"] == "reference", "policy"]) == {"all-gpu", "all-small"}
    report = compare(workload_file, fleet_file, 0.5,
                     policies=["threshold-input", "threshold-output", "threshold-product"])
    for _, row in report.iterrows():
        feature = row["policy"].split("-", 1)[1]
        best = frame[(frame["feature"] == feature) & frame["best"]]
        assert best["threshold"].iloc[0] == row["threshold"]
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000
    assert "threshold-input" in res.output and f"wrote {out}" in res.output


def test_thresholds_one_feature(invoke, workload_file, fleet_file, tmp_path):
    out = tmp_path / "t.csv"
    res = invoke(thresholds, workload_file, "-s", fleet_file, "-f", "output", "--out", out,
                 "-q")
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert set(frame.loc[frame["kind"] == "threshold", "feature"]) == {"output"}


def test_thresholds_needs_a_hybrid_fleet(invoke, workload_file, tmp_path):
    from conftest import FLEET_TOML

    fleet = tmp_path / "gpus.toml"
    fleet.write_text(FLEET_TOML.replace('name = "small"', 'name = "small"\ngpu = true'))
    res = invoke(thresholds, workload_file, "-s", fleet, "--out", tmp_path / "t.csv")
    assert res.exit_code == 2
    assert "non-GPU" in res.output


def test_bad_fleet_and_missing_workload_exit_2(invoke, workload_file, tmp_path):
    res = invoke(sweep, workload_file, "-s", "no-such-fleet", "--out", tmp_path / "s.csv")
    assert res.exit_code == 2 and "unknown fleet" in res.output
    res = invoke(thresholds, tmp_path / "missing.csv", "--out", tmp_path / "t.csv")
    assert res.exit_code == 2


@pytest.mark.parametrize("command", [sweep, thresholds])
def test_help_has_an_example(invoke, command):
    res = invoke(command, "--help")
    assert res.exit_code == 0
    assert "Example" in res.output


def test_thresholds_paper_script_method(invoke, tmp_path):
    """--method paper-script runs the script's arithmetic, with and without model pooling."""
    import numpy as np

    from offline_sched import load_workload
    from offline_sched.studies.paper_script import paper_script_study

    gsm = tmp_path / "w.csv"
    rng = np.random.default_rng(3)
    pd.DataFrame({"input_tokens": rng.integers(6, 400, 300),
                  "output_tokens": rng.integers(1, 300, 300)}).to_csv(gsm, index=False)
    pooled, llama = tmp_path / "pooled.csv", tmp_path / "llama.csv"
    r = invoke(thresholds, gsm, "--method", "paper-script", "--out", pooled)
    assert r.exit_code == 0, r.output
    r = invoke(thresholds, gsm, "--method", "paper-script", "--no-pool-models", "--out", llama)
    assert r.exit_code == 0, r.output
    a, b = pd.read_csv(pooled), pd.read_csv(llama)
    steps = a[a["kind"] == "threshold"]["threshold"].tolist()
    assert steps == [2.0 ** k for k in range(3, 12)]  # the script's powers of two
    wl = load_workload(gsm)
    want = paper_script_study(wl.input_tokens, wl.output_tokens, pool_models=False)
    assert np.allclose(b["energy_j"], want["energy_j"])
    assert not np.allclose(a["energy_j"], b["energy_j"])  # pooling changes the cells
    r = invoke(thresholds, gsm, "--method", "paper-script", "--feature", "output",
               "--out", tmp_path / "x.csv")
    assert r.exit_code == 2 and "input length only" in r.output
