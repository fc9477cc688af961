"""Tests of the committed measurement tables derived from the public energy-inference data."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline_sched.costs.tables import read_table

REPO = Path(__file__).resolve().parents[1]
MEASUREMENTS = REPO / "measurements"
SHARED = REPO.parent / "shared" / "data" / "energy-inference"
SCRIPT = MEASUREMENTS / "derive_tables.py"
TABLES = sorted(MEASUREMENTS.glob("*/*.csv"))

REQUIRED_TABLES = ["a100/llama-2-7b", "m1-pro/llama-2-7b", "a100/mistral-7b",
                   "m1-pro/mistral-7b", "a100/llama-2-13b", "a100/llama-2-70b"]
METADATA = ["hardware", "device_count", "dtype", "batch_size", "kv_cache", "repeat", "sweep",
            "idle_power_w", "energy_raw_j", "runtime_raw_s", "source"]


def load_script():
    spec = importlib.util.spec_from_file_location("derive_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["derive_tables"] = module
    spec.loader.exec_module(module)
    return module


def table(name: str) -> pd.DataFrame:
    return read_table(MEASUREMENTS / f"{name}.csv")


def test_required_tables_exist():
    names = {f"{p.parent.name}/{p.stem}" for p in TABLES}
    assert set(REQUIRED_TABLES) <= names


@pytest.mark.parametrize("path", TABLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_table_passes_schema(path):
    frame = read_table(path)
    assert len(frame) > 0
    for col in METADATA:
        assert col in frame.columns, col
        assert frame[col].notna().all(), col
    assert (frame["system"] == path.parent.name).all()
    assert (frame["model"] == path.stem).all()
    assert (frame["repeat"] >= 1).all()  # warm-up iteration 0 dropped
    assert (frame["batch_size"] == 1).all()
    assert not frame["kv_cache"].astype(bool).any()
    assert set(frame["sweep"]) <= {"input", "output"}
    assert (frame["output_tokens"] <= frame["output_token_limit"]).all()
    assert np.isfinite(frame["energy_j"]).all()


def test_derive_reproduces_committed_tables(tmp_path):
    if not SHARED.is_dir():
        pytest.skip(f"shared data not available: {SHARED}")
    module = load_script()
    written = module.write_tables(module.derive(SHARED), tmp_path)
    produced = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in written}
    committed = {p.relative_to(MEASUREMENTS).as_posix(): p.read_bytes() for p in TABLES}
    assert sorted(produced) == sorted(committed)
    for name, data in produced.items():
        assert data == committed[name], f"{name} differs from a fresh derivation"


def test_missing_shared_folder_exits_2(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--shared", str(tmp_path / "nope"),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not found" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a100_llama_matches_published_means():
    # Data README sanity table (mean GPU+CPU energy, Llama-2-7B, iteration 0 excluded).
    frame = table("a100/llama-2-7b")
    inp = frame[(frame["sweep"] == "input") & (frame["input_tokens_nominal"] == 32)]
    out = frame[(frame["sweep"] == "output") & (frame["output_token_limit"] == 512)]
    assert inp["energy_raw_j"].mean() == pytest.approx(166.0, rel=0.10)
    assert out["energy_raw_j"].mean() == pytest.approx(6000.0, rel=0.10)
    assert out["runtime_raw_s"].mean() == pytest.approx(19.1, rel=0.10)
    # Nominal 32 is prompt C, 38 Llama-2 tokens; the A100 corrections leave energy unchanged.
    assert set(inp["input_tokens"]) == {38}
    assert np.allclose(frame["energy_j"], frame["energy_raw_j"])
    assert set(frame.loc[frame["sweep"] == "input", "input_tokens"]) == {
        9, 21, 38, 78, 154, 267, 541, 986, 2117}


def test_m1_sleep_removed():
    frame = table("m1-pro/llama-2-7b")
    assert np.allclose(frame["runtime_raw_s"] - frame["runtime_s"], 2.0)
    removed = frame["energy_raw_j"] - frame["energy_j"]
    # A sleeping process on a near-idle GPU is sampled at ~0.1 W for < 1 s (7-digit output).
    assert (removed >= 0).all() and (removed < 1.0).all() and removed.mean() > 0.01
    out8 = frame[(frame["sweep"] == "output") & (frame["output_token_limit"] == 8)]
    assert out8["runtime_raw_s"].mean() == pytest.approx(4.45, rel=0.10)
    assert out8["runtime_s"].mean() == pytest.approx(2.45, rel=0.10)
    assert frame["output_tokens"].max() <= 512


def test_palmetto_negative_cpu_clipped():
    frame = table("v100/mistral-7b")
    negative = frame["energy_cpu_raw_j"] < 0
    assert negative.any()
    assert np.allclose(frame.loc[negative, "energy_j"], frame.loc[negative, "energy_gpu_raw_j"])
    assert (frame["energy_j"] >= frame["energy_raw_j"]).all()


def test_multi_gpu_replicas_keep_device_count():
    for name, count in [("a100/llama-2-70b", 4), ("a100/mixtral-8x7b", 3),
                        ("a100/falcon-40b", 3), ("a100/llama-2-13b", 1)]:
        frame = table(name)
        assert set(frame["device_count"]) == {count}
        assert np.allclose(frame["idle_power_w"], 54.0 * count)
