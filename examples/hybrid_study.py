"""Reproduce the e-Energy 2024 hybrid-cluster study (M1-Pro + A100), then show the MILP.

Wilkins, Keshav, Mortier, "Hybrid Heterogeneous Clusters Can Lower the Energy Consumption of
LLM Inference Workloads" (e-Energy 2024) send queries at or below a token threshold to Apple
M1-Pro laptops and the rest to A100 GPUs, and report a 32-token threshold cutting energy by
7.5 % against a workload-unaware baseline (everything on the A100).

For each workload (GSM8K train and the Azure 2023 conversation trace from ../shared/ when
present, else the bundled examples/day.csv) this script computes:

1. the paper's own method, exactly as its published script computes it
   (offline_sched.studies.paper_script.paper_script_study): energy per token of the input-sweep
   cell at the nearest power of two of the prompt length (models pooled) x prompt length,
   thresholds 8..2048, no capacity limit (not on Azure: its prompts run past the 2048-token
   cell); plus what each of the script's assumptions does to the saving
   (hybrid_paper_assumptions.csv);
2. our threshold study with the fitted per-query cost models (τin and τout), no capacity
   limit (examples/fleets/hybrid-unbounded.toml): best input / output / product
   thresholds, energy saving vs all-A100, runtime penalty, and the MILP;
3. the same under capacity limits: the bundled `hybrid` fleet's pools (24 M1-Pro, 3 A100)
   with a batch window in which the A100s alone are 10 % short of the all-A100 plan, so the
   MILP must offload: a λ sweep (MILP frontier vs every baseline) and the best thresholds.

Outputs in docs/figures/: hybrid_summary.csv, hybrid_paper_method.csv,
hybrid_paper_assumptions.csv, hybrid_sweep_<workload>.csv and the PNGs hybrid_paper_method.png,
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
from offline_sched.fleet import Fleet
from offline_sched.io.atomic import write_csv
from offline_sched.plots.studies import plot_sweep, plot_thresholds
from offline_sched.studies import best_thresholds, compare_problem, sweep, threshold_study
from offline_sched.studies.paper_script import (
    DEFAULT_THRESHOLDS,
    GPU_SYSTEM,
    SMALL_SYSTEM,
    load_paper_cells,
    paper_script_study,
    script_bucket,
    script_cells,
)

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
    """The paper script's threshold study (offline_sched.studies.paper_script).

    Energy of a query = the mean energy per token ((CPU + GPU energy) / total tokens of each
    measured row) of the input-sweep cell at the nearest power of two of its prompt length,
    models pooled as the script pools them, x its prompt length; the output is ignored;
    thresholds 8..2048, no capacity limit. Energies as published (idle included, M1 with its
    2 s sleep); runtime by the same arithmetic.
    """
    return paper_script_study(frame["input_tokens"], frame["output_tokens"])


def _idle_w() -> dict[tuple[str, str], float]:
    """Idle power of each (system, model) from the derived measurement tables (W)."""
    out = {}
    for path in sorted((REPO / "measurements").glob("*/*.csv")):
        t = pd.read_csv(path, usecols=["model", "system", "idle_power_w"], nrows=1)
        out[(t.at[0, "system"], t.at[0, "model"])] = float(t.at[0, "idle_power_w"])
    return out


def _net_of_idle(cells: pd.DataFrame) -> pd.DataFrame:
    """Cells with idle power x runtime removed from every row's energy.

    The mean over rows of (E - P·R)/tokens is mean(E/tokens) - P·mean(R/tokens), so the
    per-token cells suffice.
    """
    idle = _idle_w()
    p = np.array([idle[(s, m)] for s, m in zip(cells["system"], cells["model"], strict=True)])
    return cells.assign(energy_per_token_j=cells["energy_per_token_j"]
                        - p * cells["runtime_per_token_s"])


def _savings_output_charged(frame: pd.DataFrame, cells: pd.DataFrame, pool_models: bool
                            ) -> pd.Series:
    """Saving (%) per threshold when output tokens are charged too.

    A query costs the input-sweep cell's energy per token x its prompt length (the script)
    plus the output-sweep cell's energy per token at the nearest power of two of its output
    length x its output length (output cells 8..512 measured, clamped).
    """
    tin = frame["input_tokens"].to_numpy()
    tout = frame["output_tokens"].to_numpy()
    energy = {}
    for system in (GPU_SYSTEM, SMALL_SYSTEM):
        parts = []
        for part, n in (("input", tin), ("output", tout)):
            c = script_cells(cells, pool_models=pool_models, sweep=part).xs(system)
            b = np.clip(script_bucket(n), c.index.min(), c.index.max())
            parts.append(c["energy_per_token_j"].reindex(b).to_numpy() * n)
        energy[system] = parts[0] + parts[1]
    thresholds = np.asarray(DEFAULT_THRESHOLDS)
    total = np.array([np.where(tin <= t, energy[SMALL_SYSTEM], energy[GPU_SYSTEM]).sum()
                      for t in thresholds])
    ref = energy[GPU_SYSTEM].sum()
    return pd.Series(100 * (ref - total) / ref, index=thresholds.astype(float))


def assumption_rows(workload: str, frame: pd.DataFrame, problem) -> pd.DataFrame:
    """What each of the script's assumptions does to the saving (docs/reproduction.md).

    Variants of the script's arithmetic (pooled models or Llama-2 only; idle power included
    or removed; output tokens ignored or charged at the output sweep's per-token energy), then
    the per-query fitted models of ``problem`` (no capacity) at the same thresholds.
    """
    fitted = threshold_study(problem, lam=1.0, features=["input"], values=DEFAULT_THRESHOLDS,
                             include_milp=False)
    cells = load_paper_cells()
    rows = []
    for pool, idle, out in [(True, True, False), (False, True, False), (True, False, False),
                            (True, True, True), (False, False, True)]:
        table = cells if idle else _net_of_idle(cells)
        if out:
            sav = _savings_output_charged(frame, table, pool)
        else:
            study = paper_script_study(frame["input_tokens"], pool_models=pool, cells=table)
            thr = study[study["kind"] == "threshold"]
            sav = pd.Series(thr["energy_saving_vs_all_gpu_pct"].to_numpy(),
                            index=thr["threshold"].to_numpy())
        rows.append({"workload": workload,
                     "method": "paper script" if (pool, idle, out) == (True, True, False)
                     else "script arithmetic (variant)",
                     "models": "pooled" if pool else "llama-2-7b", "idle_included": idle,
                     "output_charged": out, "best_threshold": float(sav.idxmax()),
                     "saving_best_pct": float(sav.max()),
                     **{f"saving_t{int(t)}_pct": float(sav[t]) for t in (16, 32, 64)}})
    thr = fitted[fitted["kind"] == "threshold"].set_index("threshold")
    sav = thr["energy_saving_vs_all_gpu_pct"]
    rows.append({"workload": workload, "method": "fitted per-query models (tau_in and tau_out)",
                 "models": "llama-2-7b", "idle_included": True, "output_charged": True,
                 "best_threshold": float(sav.idxmax()), "saving_best_pct": float(sav.max()),
                 **{f"saving_t{int(t)}_pct": float(sav[t]) for t in (16, 32, 64)}})
    return pd.DataFrame(rows)


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
    summary, paper_tables, assumptions = [], [], []
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
        if name != "azure":
            assumptions.append(assumption_rows(name, frame, problem))
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
    if "day" not in workloads:  # the assumption table always shows the bundled day too
        day = pd.read_csv(REPO / "examples" / "day.csv")
        problem = build_problem(load_workload(day[["input_tokens", "output_tokens"]]), unbounded)
        assumptions.append(assumption_rows("day", day, problem))
    table = pd.concat(summary, ignore_index=True)
    write_csv(table, out / "hybrid_summary.csv", float_format="%.6g")
    if paper_tables:
        write_csv(pd.concat(paper_tables, ignore_index=True), out / "hybrid_paper_method.csv",
                  float_format="%.6g")
    if assumptions:
        write_csv(pd.concat(assumptions, ignore_index=True),
                  out / "hybrid_paper_assumptions.csv", float_format="%.6g")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {out}/hybrid_*.csv and hybrid_*.png")


if __name__ == "__main__":
    main()
