"""``offline-sched measure`` click command: options, table output, errors, Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from offline_sched.cli.measure import measure
from offline_sched.costs.tables import read_table
from offline_sched.errors import MeasurementError

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--model", "tiny-llama", "--random-weights", "--device", "cpu"]


def test_help_has_an_example():
    result = CliRunner().invoke(measure, ["--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "offline-sched measure --model tiny-llama --random-weights" in result.output
    for option in ("--inputs", "--outputs", "--batch-size", "--no-kv-cache", "--system"):
        assert option in result.output


def test_done_when_command_writes_a_table_fit_accepts(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from offline_sched import fit

    out = tmp_path / "t.csv"
    result = CliRunner().invoke(measure, [*TINY, "--inputs", "8,64", "--outputs", "4,32",
                                          "--repeats", "2", "--idle-seconds", "0",
                                          "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote 8 rows to {out}" in result.output
    table = read_table(out)
    assert len(table) == 8 and set(table.output_tokens) == {4, 32}
    models = fit(out)
    (key, model), = models.items()
    assert key[0] == "tiny-llama" and model.runtime.stats.n == 8


def test_bad_token_list_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(measure, [*TINY, "--inputs", "8,x", "--outputs", "4",
                                          "--out", str(tmp_path / "t.csv")])
    assert result.exit_code == 2
    assert "'x' is not an integer" in result.output
    assert not (tmp_path / "t.csv").exists()


def test_input_error_exits_2_with_one_line(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    result = CliRunner().invoke(measure, ["--model", "tiny-llama", "--device", "cpu",
                                          "--inputs", "8", "--outputs", "4",
                                          "--out", str(tmp_path / "t.csv")])
    assert result.exit_code == 2
    assert "Error: preset tiny-llama has no pretrained weights; add --random-weights" \
        in result.output
    assert "Traceback" not in result.output


def test_measurement_error_exits_1(tmp_path, monkeypatch):
    def broken(spec, out, progress=None):
        raise MeasurementError("NVML unavailable (is the NVIDIA driver loaded?)")

    monkeypatch.setattr("offline_sched.cli.measure.run_sweep", broken)
    result = CliRunner().invoke(measure, [*TINY, "--inputs", "8", "--outputs", "4",
                                          "--out", str(tmp_path / "t.csv")])
    assert result.exit_code == 1
    assert "Error: NVML unavailable" in result.output


def test_ctrl_c_keeps_written_rows(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    out = tmp_path / "k.csv"
    code = ("import sys; from offline_sched.cli.measure import measure; "
            "measure(sys.argv[1:], prog_name='offline-sched measure')")
    args = [*TINY, "--inputs", "8", "--outputs", "16", "--repeats", "100000", "--warmup", "0",
            "--meter", "none", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_text().count("\n") >= 4:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:  # a run that ignored the signal must not outlive the test
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    kept = re.search(r"interrupted: kept (\d+) complete rows", stderr)
    assert kept, stderr
    table = read_table(out)
    assert len(table) == int(kept.group(1)) >= 3
    assert out.read_text().endswith("\n")


def test_import_does_not_need_torch():
    code = ("import sys, offline_sched.cli.measure, offline_sched.measure; "
            "heavy = {'torch', 'transformers', 'pynvml'} & set(sys.modules); "
            "assert not heavy, heavy")
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_missing_torch_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    result = CliRunner().invoke(measure, [*TINY, "--inputs", "8", "--outputs", "4",
                                          "--out", str(tmp_path / "t.csv")])
    assert result.exit_code == 1
    assert "pip install 'offline-sched[measure]'" in result.output
