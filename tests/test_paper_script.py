"""The e-Energy paper's threshold script, exactly (issue 13): offline_sched.studies.paper_script."""

from __future__ import annotations

import csv
import importlib.util
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline_sched.errors import InputError
from offline_sched.studies.paper_script import (
    STUDY_COLUMNS,
    default_cells_path,
    load_paper_cells,
    paper_script_study,
    script_bucket,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
ENERGY = SHARED / "energy-inference"
GSM8K = SHARED / "workloads" / "gsm8k_train_llama2_tokens.csv"
DERIVE = REPO / "measurements" / "derive_paper_cells.py"


def _derive_module():
    spec = importlib.util.spec_from_file_location("derive_paper_cells", DERIVE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["derive_paper_cells"] = module
    spec.loader.exec_module(module)
    return module


def saving(frame, threshold):
    row = frame[(frame["kind"] == "threshold") & (frame["threshold"] == threshold)]
    assert len(row) == 1
    return float(row["energy_saving_vs_all_gpu_pct"].iloc[0])


# --------------------------------------------------------------------------- (a) issue figures


@pytest.fixture(scope="module")
def gsm8k():
    if not GSM8K.is_file():
        pytest.skip(f"shared workload not available: {GSM8K}")
    frame = pd.read_csv(GSM8K)
    assert len(frame) == 7473
    return frame


def test_issue_figures_pooled(gsm8k):
    f = paper_script_study(gsm8k["input_tokens"], gsm8k["output_tokens"])
    assert round(saving(f, 16), 3) == 0.001
    assert round(saving(f, 32), 3) == -0.021
    assert round(saving(f, 64), 2) == -13.35
    assert f.attrs["models"] == {"a100": "falcon-7b,llama-2-7b,mistral-7b",
                                 "m1-pro": "llama-2-7b,mistral-7b"}


def test_issue_figures_llama_only(gsm8k):
    f = paper_script_study(gsm8k["input_tokens"], pool_models=False)
    assert round(saving(f, 32), 3) == -0.052
    assert round(saving(f, 64), 2) == -14.67
    assert f.attrs["models"] == {"a100": "llama-2-7b", "m1-pro": "llama-2-7b"}


# --------------------------------------------------------------------------- (b) by hand


def hand_cells():
    """Two models per system with unequal row counts, so pooling by rows ≠ mean of means."""
    rows = []
    spec = {  # (system, model): {tokens: (rows, J/token, s/token)}
        ("a100", "llama-2-7b"): {8: (2, 4.0, 0.04), 16: (2, 3.0, 0.03), 32: (2, 2.0, 0.02)},
        ("a100", "mistral-7b"): {8: (6, 2.0, 0.02), 16: (2, 3.0, 0.01), 32: (2, 1.0, 0.01)},
        ("m1-pro", "llama-2-7b"): {8: (4, 1.0, 0.5), 16: (4, 2.0, 0.4), 32: (4, 3.0, 0.3)},
        ("m1-pro", "mistral-7b"): {8: (4, 3.0, 0.5), 16: (1, 7.0, 0.9), 32: (4, 3.0, 0.1)},
    }
    for (system, model), cells in spec.items():
        for tokens, (n, ept, rpt) in cells.items():
            rows.append({"system": system, "model": model, "sweep": "input", "tokens": tokens,
                         "rows": n, "energy_per_token_j": ept, "runtime_per_token_s": rpt})
    rows.append({"system": "a100", "model": "llama-2-7b", "sweep": "output", "tokens": 8,
                 "rows": 1, "energy_per_token_j": 99.0, "runtime_per_token_s": 9.0})
    return pd.DataFrame(rows)


# pooled by rows, worked out by hand from hand_cells():
#   a100 8: (2·4 + 6·2)/8 = 2.5   16: 3.0   32: (2·2 + 2·1)/4 = 1.5
#   m1   8: (4·1 + 4·3)/8 = 2.0   16: (4·2 + 1·7)/5 = 3.0   32: 3.0
POOLED_E = {"a100": {8: 2.5, 16: 3.0, 32: 1.5}, "m1-pro": {8: 2.0, 16: 3.0, 32: 3.0}}
#   a100 runtime 8: (2·.04 + 6·.02)/8 = .025  16: .02  32: .015
#   m1   runtime 8: .5  16: (4·.4 + .9)/5 = .5  32: (4·.3 + 4·.1)/8 = .2
POOLED_R = {"a100": {8: 0.025, 16: 0.02, 32: 0.015}, "m1-pro": {8: 0.5, 16: 0.5, 32: 0.2}}
LLAMA_E = {"a100": {8: 4.0, 16: 3.0, 32: 2.0}, "m1-pro": {8: 1.0, 16: 2.0, 32: 3.0}}
TIN = [3, 8, 11, 12, 20, 23, 40, 5000]
# nearest power of two in log scale, clamped to the measured 8..32:
#   3 → 4 → 8; 8; 11 (log2 3.46) → 8; 12 (3.58) → 16; 20 (4.32) → 16; 23 (4.52) → 32;
#   40 (5.32) → 32; 5000 → 4096 → 32
BUCKET = [8, 8, 8, 16, 16, 32, 32, 32]


def expected(table, thresholds):
    out = []
    for t in thresholds:
        total = 0.0
        for n, b in zip(TIN, BUCKET, strict=True):
            total += table["m1-pro" if n <= t else "a100"][b] * n
        out.append(total)
    return out


def test_hand_workload_pooled():
    with pytest.warns(UserWarning, match="1 queries below and 1 above"):
        f = paper_script_study(TIN, [1] * len(TIN), thresholds=[20, 10, 0, 10],
                               cells=hand_cells())
    assert list(f.columns) == STUDY_COLUMNS
    assert list(f["kind"]) == ["threshold"] * 3 + ["reference"] * 2
    assert list(f["policy"].iloc[3:]) == ["all-a100", "all-m1-pro"]
    assert f["threshold"].iloc[:3].tolist() == [0.0, 10.0, 20.0]
    e = f["energy_j"].to_numpy()
    want = expected(POOLED_E, [0, 10, 20, -1, 10 ** 9])
    np.testing.assert_allclose(e, want, rtol=1e-12)
    # by hand: all-A100 = 2.5·(3+8+11) + 3·(12+20) + 1.5·(23+40+5000) = 55 + 96 + 7594.5
    assert e[3] == pytest.approx(7745.5, rel=1e-12)
    np.testing.assert_allclose(f["energy_kwh"], np.array(want) / 3.6e6, rtol=1e-12)
    np.testing.assert_allclose(f["energy_saving_vs_all_gpu_pct"],
                               [100 * (7745.5 - v) / 7745.5 for v in want], rtol=1e-12)
    assert f["queries_m1-pro"].tolist() == [0, 2, 5, 0, 8]
    assert f["queries_a100"].tolist() == [8, 6, 3, 8, 0]
    rt = expected(POOLED_R, [0, 10, 20, -1, 10 ** 9])
    np.testing.assert_allclose(f["runtime_s"], rt, rtol=1e-12)
    np.testing.assert_allclose(f["mean_runtime_s"], np.array(rt) / 8, rtol=1e-12)
    np.testing.assert_allclose(f["runtime_change_vs_all_gpu_pct"],
                               [100 * (v - rt[3]) / rt[3] for v in rt], rtol=1e-12)
    # least energy among the thresholds is marked, references never
    assert f["best"].tolist() == [i == int(np.argmin(want[:3])) for i in range(3)] + [False] * 2
    assert f["objective"].isna().all() and f["makespan_s"].isna().all()
    assert f["feasible"].all()
    assert f.attrs["clamped_below"] == 1 and f.attrs["clamped_above"] == 1


def test_hand_workload_llama_only_and_output_ignored():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = paper_script_study(TIN, cells=hand_cells(), pool_models=False, thresholds=[10, 20])
        g = paper_script_study(TIN, [500] * len(TIN), cells=hand_cells(), pool_models=False,
                               thresholds=[10, 20])
    np.testing.assert_allclose(f["energy_j"], expected(LLAMA_E, [10, 20, -1, 10 ** 9]),
                               rtol=1e-12)
    pd.testing.assert_frame_equal(f, g)


def test_default_thresholds_and_tie_picks_smallest():
    # one 8-token query: every threshold ≥ 8 gives the same energy; the smallest is best
    f = paper_script_study([8], cells=hand_cells())
    thr = f.loc[f["kind"] == "threshold", "threshold"].tolist()
    assert thr == [2.0 ** k for k in range(3, 12)]
    assert f["best"].tolist() == [True] + [False] * 10


def test_cells_path_round_trip(tmp_path):
    path = tmp_path / "cells.csv"
    hand_cells().to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = paper_script_study(TIN, cells=path)
        b = paper_script_study(TIN, cells=hand_cells())
    pd.testing.assert_frame_equal(a, b)


# --------------------------------------------------------------------------- bucket rule


def test_bucket_matches_round_log2():
    n = np.arange(1, 200_001)
    np.testing.assert_array_equal(script_bucket(n), (2 ** np.round(np.log2(n))).astype(int))
    for x in (1, 2, 3, 5, 6, 11, 12, 22, 23, 45, 46, 181, 182, 2896, 2897, 10 ** 6 + 7):
        assert script_bucket([x])[0] == 2 ** round(math.log2(x))


# --------------------------------------------------------------------------- shipped table


def test_shipped_cells_load():
    t = load_paper_cells()
    inp = t[t["sweep"] == "input"]
    for (system, model), grp in inp.groupby(["system", "model"]):
        assert sorted(grp["tokens"]) == [2 ** k for k in range(3, 12)], (system, model)
    assert set(map(tuple, inp[["system", "model"]].drop_duplicates().to_numpy())) == {
        ("a100", "falcon-7b"), ("a100", "llama-2-7b"), ("a100", "mistral-7b"),
        ("m1-pro", "llama-2-7b"), ("m1-pro", "mistral-7b")}
    assert default_cells_path().with_suffix(".md").is_file()


def test_shipped_csv_equals_fresh_derivation():
    if not ENERGY.is_dir():
        pytest.skip(f"shared data not available: {ENERGY}")
    module = _derive_module()
    assert module.to_csv_text(module.derive(ENERGY)) == default_cells_path().read_text()


def test_shipped_cells_against_raw_rows():
    """Recompute three cells from the raw CSV with the csv module (independent arithmetic)."""
    raw = ENERGY / "e2dc" / "all-input-stats.csv"
    if not raw.is_file():
        pytest.skip(f"shared data not available: {raw}")
    want = {}
    with raw.open(newline="") as fh:
        for r in csv.DictReader(fh):
            if "inference" not in r["Phase"] or "0" in r["Phase"]:
                continue
            key = (r["System"], r["Model"], int(r["Number of Input Tokens"]))
            ept = (float(r["CPU Energy (J)"]) + float(r["GPU Energy (J)"])) / float(
                r["Total Number of Tokens"])
            want.setdefault(key, []).append(ept)
    t = load_paper_cells().set_index(["system", "model", "sweep", "tokens"])
    for (label, model_label, tokens), (system, model) in {
            ("M1-Pro", "Llama-2 (7B)", 1024): ("m1-pro", "llama-2-7b"),
            ("M1-Pro", "Mistral (7B)", 2048): ("m1-pro", "mistral-7b"),
            ("Swing AMD+A100", "Falcon (7B)", 32): ("a100", "falcon-7b")}.items():
        vals = want[(label, model_label, tokens)]
        cell = t.loc[(system, model, "input", tokens)]
        assert cell["rows"] == len(vals)
        assert cell["energy_per_token_j"] == pytest.approx(sum(vals) / len(vals), rel=1e-11)
    assert t.loc[("m1-pro", "llama-2-7b", "input", 1024), "rows"] == 22  # 25 minus reps 0, 10, 20


def test_derive_missing_shared_exits_2(tmp_path):
    module = _derive_module()
    assert module.main(["--shared", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2


# --------------------------------------------------------------------------- (d) validation


@pytest.mark.parametrize("tokens, match", [
    ([], "no queries"),
    ([[1, 2]], "1-D"),
    ([5, 0], r"input_tokens, row 2: value 0"),
    ([5, -3], r"row 2: value -3"),
    ([5, 1.5], r"row 2: value 1.5"),
    ([5, float("nan")], r"row 2: value nan"),
    (["7", "x"], r"row 2: value 'x'"),
    ([2 ** 31], r"row 1: value 2147483648"),
])
def test_bad_input_tokens(tokens, match):
    with pytest.raises(InputError, match=match):
        paper_script_study(tokens, cells=hand_cells())


def test_bad_output_tokens():
    with pytest.raises(InputError, match="output_tokens, row 2: value 0"):
        paper_script_study([8, 9], [3, 0], cells=hand_cells())
    with pytest.raises(InputError, match="output_tokens: 1 values for 2 queries"):
        paper_script_study([8, 9], [3], cells=hand_cells())


@pytest.mark.parametrize("thresholds, match", [
    ([], "no values"), ([8, float("nan")], "nan"), ([-1], "-1"), (["a"], "'a'")])
def test_bad_thresholds(thresholds, match):
    with pytest.raises(InputError, match=match):
        paper_script_study([8], thresholds=thresholds, cells=hand_cells())


def test_bad_cells_file_names_file_row_column_value(tmp_path):
    t = hand_cells().astype(str)
    t.loc[4, "energy_per_token_j"] = "-2.5"
    path = tmp_path / "cells.csv"
    t.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"cells\.csv, row 5, column energy_per_token_j: "
                                         r"value '-2\.5'"):
        load_paper_cells(path)
    t = hand_cells().astype(str)
    t.loc[2, "tokens"] = "16.5"
    with pytest.raises(InputError, match=r"row 3, column tokens: value '16\.5'"):
        paper_script_study([8], cells=t)
    t = hand_cells()
    t.loc[1, "sweep"] = "grid"
    with pytest.raises(InputError, match=r"row 2, column sweep: value 'grid'"):
        paper_script_study([8], cells=t)


def test_bad_cells_structure(tmp_path):
    with pytest.raises(InputError, match="missing column.*rows"):
        paper_script_study([8], cells=hand_cells().drop(columns="rows"))
    dup = pd.concat([hand_cells(), hand_cells().iloc[[0]]], ignore_index=True)
    with pytest.raises(InputError, match="duplicate cell"):
        paper_script_study([8], cells=dup)
    t = hand_cells()
    with pytest.raises(InputError, match="no input-sweep cells for system 'm1-pro'"):
        paper_script_study([8], cells=t[t["system"] != "m1-pro"])
    with pytest.raises(InputError, match="no input-sweep rows for model 'llama-2-7b'"):
        paper_script_study([8], cells=t[t["model"] != "llama-2-7b"], pool_models=False)
    gap = t[~((t["system"] == "a100") & (t["tokens"] == 16))]
    with pytest.raises(InputError, match="'a100' has no input-sweep cell at 16 tokens"):
        paper_script_study([12], cells=gap)
    with pytest.raises(InputError, match="cannot read"):
        load_paper_cells(tmp_path / "absent.csv")
