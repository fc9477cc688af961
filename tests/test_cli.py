import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from offline_sched.cli.main import cli


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_solve_writes_assignment_and_prints_gap(run, workload_file, fleet_file, tmp_path):
    out = tmp_path / "a.csv"
    res = run("solve", workload_file, "--systems", fleet_file, "--lam", 0.3, "--out", out, "-q")
    assert res.exit_code == 0, res.output
    assert "gap=" in res.stdout
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["query_id", "system"]
    assert list(frame.query_id) == list(pd.read_csv(workload_file).query_id)
    assert set(frame.system) <= {"small", "gpu"}


def test_compare_writes_report(run, workload_file, fleet_file, tmp_path):
    out = tmp_path / "r.csv"
    res = run("compare", workload_file, "-s", fleet_file, "--out", out, "-q")
    assert res.exit_code == 0, res.output
    rep = pd.read_csv(out)
    for col in ["policy", "feasible", "objective", "energy_kwh", "runtime_s", "mean_runtime_s",
                "makespan_s", "energy_saving_vs_all_gpu_pct", "solve_s", "queries_small",
                "queries_gpu"]:
        assert col in rep.columns
    assert {"milp", "threshold-input", "threshold-output", "threshold-product", "all-gpu",
            "round-robin", "random", "greedy", "threshold-input@32"} <= set(rep.policy)
    assert (rep.queries_small + rep.queries_gpu == 300).all()
    milp = rep.set_index("policy").loc["milp"]
    feasible = rep[rep.feasible]
    assert (milp.objective <= feasible.objective + 1e-9).all()
    assert rep.set_index("policy").loc["all-gpu", "energy_saving_vs_all_gpu_pct"] == 0


def test_fit_and_fleets(run, tmp_path):
    table = tmp_path / "t.csv"
    rows = ["model,system,input_tokens,output_tokens,runtime_s,energy_j"]
    rows += [f"m,s,{i},{o},{0.1 * o + 0.01 * i},{i + 10 * o}" for i in (8, 64, 512)
             for o in (8, 64, 256)]
    table.write_text("\n".join(rows) + "\n")
    out = tmp_path / "c.csv"
    res = run("fit", table, "--form", "paper", "--out", out)
    assert res.exit_code == 0, res.output
    coef = pd.read_csv(out)
    for col in ["model", "system", "metric", "form", "coef_in", "coef_out", "coef_inout",
                "intercept", "r2", "mape", "n"]:
        assert col in coef.columns
    assert set(coef.metric) == {"energy", "runtime"}
    res = run("fleets")
    assert res.exit_code == 0 and "hybrid" in res.stdout and "m1-pro" in res.stdout


@pytest.mark.parametrize("content, fragment", [
    ("input_tokens,output_tokens\n5,3\n4,0\n", "row 2, column 'output_tokens', value '0'"),
    ("query_id,input_tokens,output_tokens\na,1,1\na,2,2\n", "duplicate query id"),
])
def test_bad_input_is_one_line_exit_2_and_no_output(run, tmp_path, fleet_file, content,
                                                    fragment):
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    out = tmp_path / "never.csv"
    res = run("solve", bad, "-s", fleet_file, "--out", out, "-q")
    assert res.exit_code == 2
    assert fragment in res.stderr and str(bad) in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.output
    assert not out.exists()
    assert not list(tmp_path.glob(".never.csv*"))


def test_usage_errors_exit_2(run, workload_file):
    assert run("solve", workload_file, "--lam", 1.5).exit_code == 2
    res = run("solve", workload_file, "--systems", "nope", "-q")
    assert res.exit_code == 2 and "unknown fleet 'nope'" in res.stderr


def test_infeasible_exit_3_with_reason(run, workload_file, fleet_file, tmp_path):
    small = tmp_path / "tight.toml"
    small.write_text(fleet_file.read_text().replace("window_s = 3600", "window_s = 1"))
    res = run("solve", workload_file, "-s", small, "--out", tmp_path / "x.csv", "-q")
    assert res.exit_code == 3
    assert "short by" in res.stderr
    assert not (tmp_path / "x.csv").exists()


def test_every_command_has_help_with_an_example(run):
    for name, cmd in cli.commands.items():
        res = run(name, "--help")
        assert res.exit_code == 0
        assert "Example" in res.stdout, name
        assert cmd.help


def test_python_dash_m_works(workload_file, fleet_file, tmp_path):
    out = tmp_path / "a.csv"
    proc = subprocess.run([sys.executable, "-m", "offline_sched", "solve", str(workload_file),
                           "-s", str(fleet_file), "-o", str(out), "-q"], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "gap=" in proc.stdout and out.exists()


def test_strict_range_refuses_extrapolation(run, tmp_path):
    wl = tmp_path / "w.csv"
    wl.write_text("input_tokens,output_tokens\n100,50\n3000,900\n")
    res = run("solve", wl, "--strict-range", "-o", tmp_path / "a.csv", "-q")
    assert res.exit_code == 2
    assert "outside the measured token range" in res.stderr and "row 2" in res.stderr
    res = run("solve", wl, "-o", tmp_path / "a.csv", "-q")
    assert res.exit_code == 0
    assert "lie outside the measured token range" in res.stderr


def test_fit_default_form_cv_mape(run, tmp_path):
    from conftest import REPO
    table = REPO / "measurements" / "m1-pro" / "llama-2-7b.csv"
    res = run("fit", table, "-o", tmp_path / "c.csv")
    assert res.exit_code == 0, res.output
    coef = pd.read_csv(tmp_path / "c.csv")
    assert set(coef.form) == {"default"}
    assert (coef.cv_mape < 0.10).all()  # a core check: no optional dependency needed


def test_fit_plots(run, tmp_path):
    pytest.importorskip("matplotlib")
    from conftest import REPO
    table = REPO / "measurements" / "m1-pro" / "llama-2-7b.csv"
    res = run("fit", table, "--plot", tmp_path / "plots", "-o", tmp_path / "c.csv")
    assert res.exit_code == 0, res.output
    assert list((tmp_path / "plots").glob("*.png"))


def test_compare_writes_parquet_by_suffix(run, workload_file, fleet_file, tmp_path):
    out = tmp_path / "r.parquet"
    res = run("compare", workload_file, "-s", fleet_file, "--out", out, "-q")
    assert res.exit_code == 0, res.output
    assert "milp" in set(pd.read_parquet(out).policy)


def test_token_counts_beyond_31_bits_are_refused(run, tmp_path):
    wl = tmp_path / "huge.csv"
    wl.write_text("query_id,input_tokens,output_tokens\na,5,10\nb,4294967301,10\n")
    res = run("solve", wl, "-o", tmp_path / "x.csv", "-q")
    assert res.exit_code == 2
    assert "row 2, column 'input_tokens'" in res.stderr and "must be <=" in res.stderr
