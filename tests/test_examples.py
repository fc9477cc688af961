import subprocess
import sys

import pandas as pd
from conftest import REPO


def _run(*args, cwd):
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_generator_is_seeded_and_valid(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    _run(REPO / "examples" / "generate_workload.py", "--queries", 500, "--seed", 3, "--out", a,
         cwd=tmp_path)
    _run(REPO / "examples" / "generate_workload.py", "--queries", 500, "--seed", 3, "--out", b,
         cwd=tmp_path)
    fa, fb = pd.read_csv(a), pd.read_csv(b)
    pd.testing.assert_frame_equal(fa, fb)
    assert len(fa) == 500 and (fa.input_tokens >= 1).all() and (fa.output_tokens >= 1).all()
    assert (fa.input_tokens + fa.output_tokens <= 4096).all()
    assert fa.query_id.is_unique


def test_bundled_example_day_is_the_documented_generator_output(tmp_path):
    out = tmp_path / "day.csv"
    _run(REPO / "examples" / "generate_workload.py", "--out", out, cwd=tmp_path)
    assert out.read_bytes() == (REPO / "examples" / "day.csv").read_bytes()


def test_full_flow_runs_end_to_end(tmp_path):
    stdout = _run(REPO / "examples" / "full_flow.py", "--queries", 3000, "--out-dir",
                  tmp_path / "flow", cwd=tmp_path)
    report = pd.read_csv(tmp_path / "flow" / "report.csv")
    assignment = pd.read_csv(tmp_path / "flow" / "assignment.csv")
    assert len(assignment) == 3000
    milp = report.set_index("policy").loc["milp"]
    assert milp.feasible
    assert (milp.objective <= report[report.feasible].objective + 1e-9).all()
    assert "milp: feasible=True" in stdout
