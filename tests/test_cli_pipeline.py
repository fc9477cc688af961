"""Pipeline-grade CLI (issue 10): never lose a file, nothing on stdout but what was asked."""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from offline_sched import load_workload, solve
from offline_sched.cli.main import cli
from offline_sched.errors import CostModelWarning, InputError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run():
    def invoke(*args, input=None):
        runner = CliRunner()
        return runner.invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)

    return invoke


def _sh(*args, stdin=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "offline_sched", *map(str, args)],
                          input=stdin, capture_output=True, text=True, cwd=cwd, timeout=300)


# ---------------------------------------------------------------- never lose a file


def test_out_equal_to_an_input_is_refused_and_the_input_kept(run, workload_file, fleet_file):
    before = workload_file.read_bytes()
    res = run("solve", workload_file, "-s", fleet_file, "--out", workload_file)
    assert res.exit_code == 2
    assert "also an input" in res.output
    assert workload_file.read_bytes() == before
    res = run("solve", workload_file, "-s", fleet_file, "--out", fleet_file)
    assert res.exit_code == 2 and "also an input" in res.output


def test_fit_out_equal_to_its_table_is_refused(run, tmp_path):
    table = tmp_path / "t.csv"
    table.write_bytes((ROOT / "measurements/a100/llama-2-7b.csv").read_bytes())
    before = table.read_bytes()
    res = run("fit", table, "--out", table)
    assert res.exit_code == 2 and "also an input" in res.output
    assert table.read_bytes() == before


@pytest.mark.parametrize("kind", ["dir", "empty", "under-file", "too-long", "unwritable"])
def test_bad_out_is_one_line_exit_2_before_solving(run, workload_file, fleet_file, tmp_path,
                                                   kind):
    if kind == "dir":
        out = tmp_path
    elif kind == "empty":
        out = ""
    elif kind == "under-file":
        out = workload_file / "a.csv"
    elif kind == "too-long":
        out = tmp_path / ("x" * 250 + ".csv")
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write anywhere")
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out = locked / "a.csv"
    t0 = time.perf_counter()
    res = run("solve", workload_file, "-s", fleet_file, "--out", out)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert "solving" not in res.output
    assert time.perf_counter() - t0 < 10


def test_dash_means_stdout(workload_file, fleet_file):
    proc = _sh("solve", workload_file, "-s", fleet_file, "--out", "-", "-q")
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_csv(io.StringIO(proc.stdout))
    assert list(frame.columns) == ["query_id", "system"] and len(frame) == 300
    assert "status=" in proc.stderr  # the summary goes to stderr when stdout carries data
    assert not Path("-").exists()


def test_symlink_target_written_in_place(run, workload_file, fleet_file, tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    res = run("solve", workload_file, "-s", fleet_file, "--out", link, "-q")
    assert res.exit_code == 0, res.output
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert pd.read_csv(real).shape == (300, 2)


def test_sigterm_during_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "out.csv"
    code = textwrap.dedent(f"""
        import time
        from offline_sched.io.atomic import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_text("partial")
            print("writing", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    assert list(tmp_path.iterdir()) == []  # neither the output nor a temporary file


def test_dask_out_never_replaces_a_foreign_directory(run, tmp_path):
    pytest.importorskip("dask")
    pytest.importorskip("pyarrow")
    data = tmp_path / "in"
    data.mkdir()
    pd.DataFrame({"input_tokens": [10, 20, 30], "output_tokens": [5, 6, 7]}).to_parquet(
        data / "p0.parquet")
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "precious.txt").write_text("do not delete")
    res = run("solve", data, "--engine", "dask", "--out", keep, "-q")
    assert res.exit_code == 2 and "did not write" in res.output
    assert (keep / "precious.txt").read_text() == "do not delete"
    res = run("solve", data, "--engine", "dask", "--out", data, "-q")  # the input folder
    assert res.exit_code == 2
    assert (data / "p0.parquet").exists()
    out = tmp_path / "out"
    assert run("solve", data, "--engine", "dask", "--out", out, "-q").exit_code == 0
    assert run("solve", data, "--engine", "dask", "--out", out, "-q").exit_code == 0  # ours
    res = run("solve", data, "--engine", "dask", "--out", keep, "--overwrite", "-q")
    assert res.exit_code == 0 and not (keep / "precious.txt").exists()


# ---------------------------------------------------------------- nothing on stdout but data


def test_fit_to_stdout_parses_as_csv():
    proc = _sh("fit", ROOT / "measurements/a100/llama-2-7b.csv", "--cv", "0")
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_csv(io.StringIO(proc.stdout))
    assert {"model", "system", "metric", "form"} <= set(frame.columns)
    assert "HiGHS" not in proc.stdout


def test_solve_quiet_prints_exactly_its_summary(workload_file, fleet_file, tmp_path):
    proc = _sh("solve", workload_file, "-s", fleet_file, "--out", tmp_path / "a.csv", "-q")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("milp: 300 queries") and "gap=" in lines[0]


def test_api_is_silent_and_warns(capfd):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sched = solve(ROOT / "examples/day.csv", "hybrid", 0.5)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert sched.summary["queries"] == 20000
    kinds = [w for w in caught if issubclass(w.category, CostModelWarning)]
    assert any("outside the measured token range" in str(w.message) for w in kinds)


def test_cli_prints_each_warning_once(run, tmp_path):
    res = run("compare", ROOT / "examples/day.csv", "--out", tmp_path / "r.csv", "-q")
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("warning:")]
    assert len(lines) == len(set(lines)) >= 1
    assert sum("measured token range" in ln for ln in lines) == 1


@pytest.mark.parametrize("command", ["solve", "compare", "fit", "fleets", "sweep",
                                     "thresholds", "measure"])
def test_every_command_has_quiet_and_verbose(run, command):
    res = run(command, "--help")
    assert "--quiet" in res.output and "--verbose" in res.output


def test_verbose_shows_progress_off_a_terminal(run, workload_file, fleet_file, tmp_path):
    res = run("sweep", workload_file, "-s", fleet_file, "--lam", "0,1", "--out",
              tmp_path / "s.csv", "-v")
    assert res.exit_code == 0, res.output
    assert "λ = 0 (1/2)" in res.output and "λ = 1 (2/2)" in res.output


# ---------------------------------------------------------------- conventions


def test_solve_json_summary(run, workload_file, fleet_file, tmp_path):
    res = run("solve", workload_file, "-s", fleet_file, "--out", tmp_path / "a.csv", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["summary"]["queries"] == 300 and doc["summary"]["status"] == "optimal"
    assert {r["system"] for r in doc["by_system"]} == {"small", "gpu"}


def test_compare_json_report(run, workload_file, fleet_file, tmp_path):
    res = run("compare", workload_file, "-s", fleet_file, "--out", tmp_path / "r.csv",
              "--json", "-q")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["report"][0]["policy"] == "milp"
    assert len(doc["report"]) == len(pd.read_csv(tmp_path / "r.csv"))


def test_stdin_workload_with_format(workload_file, fleet_file, tmp_path):
    frame = pd.read_csv(workload_file)
    jsonl = "".join(json.dumps(r) + "\n" for r in frame.to_dict(orient="records"))
    out = tmp_path / "a.csv"
    proc = _sh("solve", "-", "--format", "jsonl", "-s", fleet_file, "--out", out, "-q",
               stdin=jsonl)
    assert proc.returncode == 0, proc.stderr
    assert list(pd.read_csv(out)["query_id"]) == list(frame["query_id"])
    proc = _sh("solve", "-", "-s", fleet_file, "--out", out, "-q",
               stdin=workload_file.read_text())
    assert proc.returncode == 0, proc.stderr


def test_column_mapping_and_azure_names(run, fleet_file, tmp_path):
    trace = tmp_path / "azure.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\nt0,100,20\nt1,300,40\n")
    assert len(load_workload(trace)) == 2  # the Azure trace's names are recognised
    other = tmp_path / "other.csv"
    other.write_text("prompt,gen\n12,3\n40,9\n")
    res = run("solve", other, "-s", fleet_file, "--columns", "input_tokens=prompt,"
              "output_tokens=gen", "--out", tmp_path / "a.csv", "-q")
    assert res.exit_code == 0, res.output
    res = run("solve", other, "-s", fleet_file, "--columns", "input_tokens=nope",
              "--out", tmp_path / "a.csv")
    assert res.exit_code == 2 and "'nope'" in res.output


def test_json_array_file(tmp_path):
    path = tmp_path / "w.json"
    path.write_text(json.dumps([{"query_id": "007", "input_tokens": 5, "output_tokens": 2},
                                {"query_id": "8", "input_tokens": 6, "output_tokens": 3}]))
    wl = load_workload(path)
    assert list(wl.ids) == ["007", "8"]


def test_jsonl_ids_stay_strings_and_csv_na_ids_are_ids(tmp_path):
    path = tmp_path / "w.jsonl"
    path.write_text('{"query_id": "007", "input_tokens": 5, "output_tokens": 2}\n'
                    '{"query_id": "1.50", "input_tokens": 5, "output_tokens": 2}\n')
    assert list(load_workload(path).ids) == ["007", "1.50"]
    csv = tmp_path / "w.csv"
    csv.write_text("query_id,input_tokens,output_tokens,note,note.1\nNA,1,2,a,b\nnull,3,4,c,d\n"
                   "None,5,6,e,f\n")
    assert list(load_workload(csv).ids) == ["NA", "null", "None"]


def test_by_system_file(run, workload_file, fleet_file, tmp_path):
    bs = tmp_path / "bs.csv"
    res = run("solve", workload_file, "-s", fleet_file, "--out", tmp_path / "a.csv",
              "--by-system", bs, "-q")
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(bs)
    for col in ["system", "queries", "energy_j", "busy_s", "capacity_s", "makespan_s",
                "utilisation"]:
        assert col in frame.columns
    assert frame["queries"].sum() == 300


def test_compare_infeasible_milp_still_writes_the_report(run, workload_file, tmp_path):
    fleet = tmp_path / "tight.toml"
    fleet.write_text(textwrap.dedent("""
        window_s = 1
        [[system]]
        name = "small"
        model = "m"
        instances = 1
        energy = { in = 0.5, out = 20.0 }
        runtime = { in = 0.002, out = 1.2 }
        [[system]]
        name = "gpu"
        model = "m"
        instances = 1
        gpu = true
        energy = { in = 0.3, out = 25.0 }
        runtime = { in = 0.001, out = 0.08 }
    """))
    out = tmp_path / "r.csv"
    res = run("compare", workload_file, "-s", fleet, "--out", out, "-q")
    assert res.exit_code == 3, res.output
    rep = pd.read_csv(out)
    milp = rep[rep["policy"] == "milp"].iloc[0]
    assert not milp["feasible"] and milp["status"] == "infeasible"
    assert "short by" in milp["reason"]
    assert len(rep) > 3 and not rep["feasible"].any()


# ---------------------------------------------------------------- errors quote what was written


def test_values_are_quoted_as_written(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text(f"input_tokens,output_tokens\n5,2\n{2**63 + 5},3\n")
    with pytest.raises(InputError, match=f"row 2, column 'input_tokens', value '{2**63 + 5}'"):
        load_workload(path)
    path.write_text("input_tokens,output_tokens\n5,2\n6,1e+23\n")
    with pytest.raises(InputError, match=r"row 2, column 'output_tokens', value '1e\+23'"):
        load_workload(path)


def test_malformed_rows_are_named(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("input_tokens,output_tokens\n5,2\n6,3,9,9\n")
    with pytest.raises(InputError, match="line 3"):
        load_workload(path)
    jl = tmp_path / "w.jsonl"
    jl.write_text('{"input_tokens": 5, "output_tokens": 2}\n{"input_tokens": 5,\n')
    with pytest.raises(InputError, match="line 2"):
        load_workload(jl)


def test_compressed_suffix_names_its_package(tmp_path):
    path = tmp_path / "w.csv.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd rest")
    try:
        import zstandard  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="needs the zstandard package"):
            load_workload(path)
    else:
        with pytest.raises(InputError):
            load_workload(path)
