"""CLI output safety and one-line errors: inputs named only in the fleet file, stdout use,
usage errors, and signal or workload values named as written."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from offline_sched.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "offline_sched" / "data"
CARBON = DATA / "grid" / "carbon_gb_2020-05-15.csv"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def day(tmp_path):
    """A 20-query job list, a planned fleet whose files sit beside it, and a carbon copy."""
    pd.read_csv(ROOT / "examples" / "day.csv").head(20).to_csv(tmp_path / "w.csv",
                                                               index=False)
    shutil.copy(DATA / "coefficients.csv", tmp_path / "coef.csv")
    shutil.copy(CARBON, tmp_path / "carbon.csv")
    text = (ROOT / "examples" / "hybrid-day.toml").read_text()
    text = text.replace("../offline_sched/data/coefficients.csv", "coef.csv")
    text = text.replace("../offline_sched/data/grid/carbon_gb_2020-05-15.csv", "carbon.csv")
    text = text.replace("window_s = 72000", "window_s = 14400")
    (tmp_path / "f.toml").write_text(text)
    return tmp_path


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("warning")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("named", ["carbon.csv", "coef.csv"])
@pytest.mark.parametrize("option", ["--out", "--by-slot", "--plan"])
def test_an_output_never_replaces_a_file_the_fleet_file_names(day, named, option):
    before = (day / named).read_bytes()
    args = ["solve", day / "w.csv", "-s", day / "f.toml", "-q"]
    args += [option, day / named] if option == "--out" else ["--out", day / "o.csv", option,
                                                              day / named]
    res = run(*args)
    assert res.exit_code == 2
    assert "is also an input" in _one_error_line(res.stderr)
    assert (day / named).read_bytes() == before
    assert not (day / "o.csv").exists()


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_compare_and_sweep_refuse_a_fleet_named_file_as_output(day, command):
    before = (day / "coef.csv").read_bytes()
    res = run(command, day / "w.csv", "-s", day / "f.toml", "-q", "--out", day / "coef.csv")
    assert res.exit_code == 2
    assert "is also an input" in _one_error_line(res.stderr)
    assert (day / "coef.csv").read_bytes() == before


@pytest.mark.parametrize("command", ["solve", "compare"])
def test_json_with_data_on_stdout_is_refused_before_any_work(day, command):
    res = run(command, day / "w.csv", "-s", day / "f.toml", "-q", "--out", "-", "--json")
    assert res.exit_code == 2
    assert res.stdout == ""  # no table printed before the refusal
    assert "--json" in _one_error_line(res.stderr)


def test_plan_to_stdout_with_json_leaves_the_assignment_untouched(day):
    (day / "out.csv").write_text("KEEP\n")
    res = run("solve", day / "w.csv", "-s", day / "f.toml", "-q", "--out", day / "out.csv",
              "--plan", "-", "--json")
    assert res.exit_code == 2
    assert (day / "out.csv").read_text() == "KEEP\n"
    assert not Path("-").exists()


def test_plan_dash_is_standard_output(day, monkeypatch):
    monkeypatch.chdir(day)
    res = run("solve", "w.csv", "-s", "f.toml", "-q", "--out", "o.csv", "--plan", "-")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines()[0].startswith("query_id,system,replica")
    assert not (day / "-").exists()


def test_two_outputs_on_stdout_are_refused(day):
    res = run("solve", day / "w.csv", "-s", day / "f.toml", "-q", "--out", "-", "--by-slot",
              "-")
    assert res.exit_code == 2
    assert "only one output may go to stdout" in _one_error_line(res.stderr)
    assert res.stdout == ""


@pytest.mark.parametrize("args", [["--slot-s", "0"], ["--minimise", "money"],
                                  ["--no-such-option"]])
def test_usage_errors_are_one_line_exit_2(day, args):
    res = run("solve", day / "w.csv", "-s", day / "f.toml", "-q", *args)
    assert res.exit_code == 2
    line = _one_error_line(res.stderr)
    assert line.startswith("Error: ") and "solve --help" in line


def test_an_unquoted_toml_date_time_is_a_start(day):
    text = (day / "f.toml").read_text().replace('start = "2020-05-15T00:00"',
                                                "start = 2020-05-15T00:00:00")
    (day / "g.toml").write_text(text)
    quoted = run("solve", day / "w.csv", "-s", day / "f.toml", "-q", "--out", day / "a.csv",
                 "--minimise", "carbon", "--json")
    bare = run("solve", day / "w.csv", "-s", day / "g.toml", "-q", "--out", day / "b.csv",
               "--minimise", "carbon", "--json")
    assert quoted.exit_code == bare.exit_code == 0, bare.stderr
    assert '"carbon_g"' in bare.stdout
    assert (day / "a.csv").read_text() == (day / "b.csv").read_text()


def test_an_empty_deadline_cell_is_named_as_empty(day):
    frame = pd.read_csv(day / "w.csv")
    frame["deadline_s"] = ["14400"] * 3 + [""] + ["14400"] * (len(frame) - 4)
    frame.to_csv(day / "wl.csv", index=False)
    res = run("solve", day / "wl.csv", "-s", day / "f.toml", "-q", "--out", day / "o.csv")
    assert res.exit_code == 2
    line = _one_error_line(res.stderr)
    assert "row 4, column 'deadline_s', value '' (empty)" in line
    assert "<NA>" not in line


def _carbon_with(day, line_no: int, old: bytes, new: bytes) -> Path:
    lines = CARBON.read_bytes().splitlines(keepends=True)
    lines[line_no - 1] = lines[line_no - 1].replace(old, new)
    path = day / "bad.csv"
    path.write_bytes(b"".join(lines))
    return path


@pytest.mark.parametrize("case, expect", [
    ("bytes", "row 3 (file line 4)"),
    ("zone", "row 3, column 'Time', value '2020-05-15 01:00:00+02:00'"),
    ("folder", "is a directory"),
])
def test_bad_signal_files_name_the_row_and_value(day, case, expect):
    if case == "bytes":
        path = _carbon_with(day, 4, b",", b",\xff")
    elif case == "zone":
        path = _carbon_with(day, 4, b",", b"+02:00,")
    else:
        path = day / "dir.csv"
        path.mkdir()
    res = run("solve", day / "w.csv", "-s", day / "f.toml", "-q", "--out", day / "o.csv",
              "--carbon", path, "--start", "2020-05-15T00:00")
    assert res.exit_code == 2
    assert expect in _one_error_line(res.stderr)
    assert not (day / "o.csv").exists()


def test_a_fleet_file_with_a_bad_system_key_is_a_one_line_error(day):
    (day / "bad.toml").write_text("window_s = 100.0\nsystem = 5\n")
    res = run("solve", day / "w.csv", "-s", day / "bad.toml", "-q", "--out", day / "o.csv")
    assert res.exit_code == 2
    assert "bad.toml" in _one_error_line(res.stderr)


def test_no_arguments_prints_the_help_not_an_error():
    res = run()
    assert "Usage:" in res.output and "Commands:" in res.output
    assert "Error:" not in res.output
