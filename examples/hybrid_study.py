"""Reproduce the e-Energy 2024 hybrid-cluster study (M1-Pro + A100), then show the MILP.

Wilkins, Keshav, Mortier, "Hybrid Heterogeneous Clusters Can Lower the Energy Consumption of
LLM Inference Workloads" (e-Energy 2024) send queries at or below a token threshold to Apple
M1-Pro laptops and the rest to A100 GPUs, and report a 32-token threshold cutting energy by
7.5 % against a workload-unaware baseline (everything on the A100).

For each workload (GSM8K train and the Azure 2023 conversation trace from ../shared/ when
present, else the bundled examples/day.csv) this script computes:

1. the paper's own method (its published script): energy per token of the nearest
   power-of-two prompt length in the input sweep x prompt length, thresholds 8..2048, no
   capacity limit (GSM8K only: it has no answer for prompts past 2048 tokens);
2. our threshold study with the fitted per-query cost models (τin and τout), no capacity
   limit (examples/fleets/hybrid-unbounded.toml): best input / output / product
   thresholds, energy saving vs all-A100, runtime penalty, and the MILP;
3. the same under capacity limits: the bundled `hybrid` fleet's pools (24 M1-Pro, 3 A100)
   with a batch window in which the A100s alone are 10 % short of the all-A100 plan, so the
   MILP must offload: a λ sweep (MILP frontier vs every baseline) and the best thresholds.

Outputs in docs/figures/: hybrid_summary.csv, hybrid_paper_method.csv,
hybrid_sweep_<workload>.csv and the PNGs hybrid_paper_method.png,
hybrid_thresholds_<workload>.png, hybrid_sweep_<workload>.png.

Usage (one command):
    python examples/hybrid_study.py [--shared ../shared/data] [--out docs/figures]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from offline_sched import build_problem, load_systems, load_workload
from offline_sched.atomic import write_csv
from offline_sched.report import compare_problem
from offline_sched.study import best_thresholds, sweep, threshold_study
from offline_sched.study_plots import plot_sweep, plot_thresholds
from offline_sched.systems import Fleet

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
UNBOUNDED = REPO / "examples" / "fleets" / "hybrid-unbounded.toml"
CONTEXT = 4096          # Llama-2 context window: input + output tokens
OVERRUN = 1.10          # capacity study: the all-A100 plan needs 10 % more than the A100s have
LAMS = np.round(np.linspace(0.0, 1.0, 11), 2)


def load_workloads(shared: Path) -> dict[str, tuple[pd.DataFrame, str]]:
    """GSM8K and the Azure conversation trace when present, else the bundled day."""
    out = {}
    gsm = shared / "workloads" / "gsm8k_train_llama2_tokens.csv"
    if gsm.is_file():
        frame = pd.read_csv(gsm)
        out["gsm8k"] = (frame, f"GSM8K train, {len(frame)} queries (Llama-2 tokens)")
    azure = shared / "workloads" / "AzureLLMInferenceTrace_conv.csv"
    if azure.is_file():
        raw = pd.read_csv(azure).rename(columns={"ContextTokens": "input_tokens",
                                                 "GeneratedTokens": "output_tokens"})
        too_long = (raw["input_tokens"] + raw["output_tokens"]) > CONTEXT
        frame = raw.loc[~too_long, ["input_tokens", "output_tokens"]].reset_index(drop=True)
        by_input = int((raw["input_tokens"] > CONTEXT).sum())
        out["azure"] = (frame, f"Azure conv 2023, {len(frame)} of {len(raw)} queries "
                               f"({int(too_long.sum())} dropped: input + output > {CONTEXT}, "
                               f"beyond Llama-2's context; {by_input} of them by the input "
                               "alone)")
    if not out:
        frame = pd.read_csv(REPO / "examples" / "day.csv")
        out["day"] = (frame, f"bundled synthetic day (examples/day.csv), {len(frame)} queries; "
                             "../shared/data not found")
    return out


def paper_method(frame: pd.DataFrame) -> pd.DataFrame:
    """The paper script's threshold study (plots/heterogeneous-datacenter, e2dc-artifacts).

    Energy of a query = mean energy per token (energy / (input + output tokens)) of the
    input-sweep cell at the nearest power of two of its prompt length x its prompt length;
    the output is ignored. Energies as published (``energy_raw_j``: idle included, M1 with
    its 2 s sleep). Runtime per query = the cell's mean published runtime (the script
    multiplies it by the prompt length as well; we do not).
    """
    def cells(system: str) -> pd.DataFrame:
        t = pd.read_csv(REPO / "measurements" / system / "llama-2-7b.csv")
        t = t[t["sweep"] == "input"].assign(
            ept=lambda d: d["energy_raw_j"] / (d["input_tokens"] + d["output_tokens"]))
        return t.groupby("input_tokens_nominal")[["ept", "runtime_raw_s"]].mean()

    m1, a100 = cells("m1-pro"), cells("a100")
    length = frame["input_tokens"].to_numpy()
    bucket = np.clip(2 ** np.round(np.log2(length)), 8, 2048).astype(int)
    e_m1 = m1["ept"].reindex(bucket).to_numpy() * length
    e_a100 = a100["ept"].reindex(bucket).to_numpy() * length
    r_m1 = m1["runtime_raw_s"].reindex(bucket).to_numpy()
    r_a100 = a100["runtime_raw_s"].reindex(bucket).to_numpy()
    thresholds = 2 ** np.arange(3, 12)
    small = length[None, :] <= thresholds[:, None]               # (thresholds, queries)
    energy = np.where(small, e_m1, e_a100).sum(axis=1)
    runtime = np.where(small, r_m1, r_a100).sum(axis=1)
    n = len(frame)
    rows = pd.DataFrame({"kind": "threshold", "policy": "threshold-input (paper script)",
                         "feature": "input", "threshold": thresholds.astype(float),
                         "energy_j": energy, "runtime_s": runtime,
                         "queries_m1-pro": small.sum(axis=1)})
    refs = pd.DataFrame({"kind": "reference", "policy": ["all-a100", "all-m1-pro"],
                         "feature": "", "threshold": np.nan,
                         "energy_j": [e_a100.sum(), e_m1.sum()],
                         "runtime_s": [r_a100.sum(), r_m1.sum()], "queries_m1-pro": [0, n]})
    out = pd.concat([rows, refs], ignore_index=True)
    out["feasible"] = True
    out["energy_kwh"] = out["energy_j"] / 3.6e6
    out["mean_runtime_s"] = out["runtime_s"] / n
    out["best"] = False
    out.loc[out.loc[out["kind"] == "threshold", "energy_j"].idxmin(), "best"] = True
    return with_changes(out, refs.iloc[0])


def with_changes(frame: pd.DataFrame, ref: pd.Series) -> pd.DataFrame:
    """Add energy saving and runtime change (%) against the all-A100 row ``ref``."""
    return frame.assign(
        energy_saving_vs_all_gpu_pct=100 * (ref["energy_j"] - frame["energy_j"]) / ref["energy_j"],
        runtime_change_vs_all_gpu_pct=100 * (frame["runtime_s"] - ref["runtime_s"])
        / ref["runtime_s"])


def capacity_fleet(unbounded: Fleet, problem) -> tuple[Fleet, float]:
    """The bundled hybrid pools with a window in which the A100s are OVERRUN short."""
    bundled = {s.name: s for s in load_systems("hybrid")}
    a100 = unbounded.names.index("a100")
    need = float(np.where(problem.eligible[:, a100], problem.runtime_s[:, a100], 0.0)
                 @ problem.classes.count)
    window = need / bundled["a100"].instances / OVERRUN
    systems = tuple(replace(s, instances=bundled[s.name].instances, window_s=window)
                    for s in unbounded)
    fleet = Fleet(systems, name="hybrid-capacity", objective=unbounded.objective,
                  normalize=unbounded.normalize, description="bundled pools, A100s 10 % short")
    return fleet, window


def summary_rows(workload: str, setting: str, frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["policy", "threshold", "feasible", "energy_kwh", "mean_runtime_s",
            "energy_saving_vs_all_gpu_pct", "runtime_change_vs_all_gpu_pct", "queries_m1-pro"]
    out = best_thresholds(frame)[cols].copy() if "best" in frame else frame[cols].copy()
    out.insert(0, "setting", setting)
    out.insert(0, "workload", workload)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="shared data folder")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures")
    args = parser.parse_args()
    out = args.out
    workloads = load_workloads(args.shared)
    unbounded = load_systems(UNBOUNDED)
    summary, paper_tables = [], []
    for name, (frame, note) in workloads.items():
        print(f"== {name}: {note}")
        workload = load_workload(frame[["input_tokens", "output_tokens"]])
        # 1. the paper's method (its lookup table reaches 2048-token prompts)
        if name != "azure":
            pm = paper_method(frame)
            paper_tables.append(pm.assign(workload=name))
            summary.append(summary_rows(name, "paper script (no capacity)", pm))
            if name in ("gsm8k", "day"):
                plot_thresholds(pm, out / "hybrid_paper_method.png",
                                title=f"{name}, the paper script's method:\nenergy/token of the "
                                      "nearest power-of-two prompt x prompt length")
        # 2. our threshold study, no capacity limit (the paper's setting)
        problem = build_problem(workload, unbounded)
        print(f"   {problem.extrapolated} (query, system) predictions extrapolate beyond the "
              f"measured token range; {problem.clipped} clipped at a floor")
        study = threshold_study(problem, lam=1.0)
        summary.append(summary_rows(name, "fitted models, no capacity", study))
        plot_thresholds(study, out / f"hybrid_thresholds_{name}.png",
                        title=f"{name}: M1-Pro below / A100 above the threshold, fitted models, "
                              "no capacity limit, λ = 1")
        # 3. under capacity: bundled pools, A100s 10 % short of the all-A100 plan
        fleet, window = capacity_fleet(unbounded, problem)
        cap = build_problem(workload, fleet)
        print(f"   capacity study: window {window:.0f} s, capacities "
              + ", ".join(f"{s.name}={s.capacity_s:.0f} s" for s in fleet))
        cap_study = threshold_study(cap, lam=1.0)
        summary.append(summary_rows(name, "fitted models, capacity (A100 10 % short)",
                                    cap_study))
        report = compare_problem(cap, 1.0)
        extra = with_changes(report[report["policy"].isin(["round-robin", "random", "greedy"])],
                             cap_study.loc[cap_study["policy"] == "all-a100"].iloc[0])
        summary.append(summary_rows(name, "fitted models, capacity (A100 10 % short)", extra))
        sw = sweep(cap, LAMS)
        write_csv(sw, out / f"hybrid_sweep_{name}.csv")
        plot_sweep(sw, out / f"hybrid_sweep_{name}.png",
                   title=f"{name}: 24 M1-Pro + 3 A100, A100s 10 % short; λ = 0 … 1")
    table = pd.concat(summary, ignore_index=True)
    write_csv(table, out / "hybrid_summary.csv", float_format="%.6g")
    if paper_tables:
        write_csv(pd.concat(paper_tables, ignore_index=True), out / "hybrid_paper_method.csv",
                  float_format="%.6g")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {out}/hybrid_*.csv and hybrid_*.png")


if __name__ == "__main__":
    main()
