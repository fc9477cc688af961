"""Reproduce the offline paper's multi-LLM routing study: energy vs accuracy over λ.

Wilkins, Keshav, Mortier, "Offline Energy-Optimal LLM Serving" (arXiv 2407.04014) route 200
Alpaca queries over Llama-2 7B / 13B / 70B with a MILP minimising
λ·energy − (1−λ)·accuracy·(τin+τout) (both normalised), shares γ = 0.05 / 0.2 / 0.75 and
accuracies 50.97 / 55.69 / 64.52 %, for λ = 0, 0.1, …, 1, against round-robin, random and
each single model. The fleet examples/fleets/multi-llm-paper.toml carries the paper's
coefficients and its published script's share constraint (each model ≥ γ/4 of the queries).

Alpaca is not in ../shared/, so this script uses the first 200 GSM8K train queries (the
paper's batch size) and the whole GSM8K train split (7,473 queries); without ../shared/ it
falls back to the bundled examples/day.csv (first 200 queries, and all of them).

It also computes what the published script's MILP can return: its objective gives x[k, i]
a coefficient summed over *all* queries (the inner loop ``for t_in, t_out in Q`` shadows
query i), so every query costs the same on a model, and any optimum sends the minimum share
to two models and the rest to the one with the least summed cost (which queries go where is
left to the solver's tie-breaking). ``multi_llm_script_counts.csv`` lists those per-model
counts next to the MILP's.

Outputs in docs/figures/: multi_llm_sweep_<workload>.csv, multi_llm_script_counts.csv and
the PNGs multi_llm_lambda_<workload>.png (energy, mean runtime, accuracy vs λ) and
multi_llm_tradeoff_<workload>.png (energy vs accuracy, MILP frontier).

Usage (one command):
    python examples/multi_llm_study.py [--shared ../shared/data] [--out docs/figures]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from offline_sched import build_problem, load_systems, load_workload
from offline_sched.io.atomic import write_csv
from offline_sched.plots.studies import plot_sweep, plot_sweep_lambda
from offline_sched.studies import sweep

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FLEET = REPO / "examples" / "fleets" / "multi-llm-paper.toml"
GAMMA = {"llama-7b": 0.05, "llama-13b": 0.2, "llama-70b": 0.75}
CONTEXT = 4096
PAPER_BATCH = 200
LAMS = np.round(np.linspace(0.0, 1.0, 21), 2)
POLICIES = ["milp", "round-robin", "random", "only-llama-7b", "only-llama-13b",
            "only-llama-70b"]


def load_workloads(shared: Path) -> dict[str, tuple[pd.DataFrame, str]]:
    """The paper-sized batch (first 200 queries) and the whole workload."""
    gsm = shared / "workloads" / "gsm8k_train_llama2_tokens.csv"
    if gsm.is_file():
        frame, label = pd.read_csv(gsm), "GSM8K train"
    else:
        frame, label = pd.read_csv(REPO / "examples" / "day.csv"), "examples/day.csv"
    frame = frame[(frame["input_tokens"] + frame["output_tokens"]) <= CONTEXT]
    tag = "gsm8k" if gsm.is_file() else "day"
    return {f"{tag}{PAPER_BATCH}": (frame.iloc[:PAPER_BATCH],
                                    f"{label}, first {PAPER_BATCH} queries (the paper's size)"),
            tag: (frame, f"{label}, all {len(frame)} queries")}


def script_counts(problem, lam: float) -> dict[str, int]:
    """Per-model query counts of the published script's MILP (see the module docstring).

    Its coefficients are unclipped paper-form predictions, min–max normalised over all
    (model, query) pairs; its share rows are count ≥ max(1, N·γ/4).
    """
    c = problem.classes
    tin, tout, cnt = c.input_tokens, c.output_tokens, c.count.astype(np.float64)
    energy = np.column_stack([s.cost.energy.raw(tin, tout) for s in problem.fleet])
    accuracy = np.column_stack([(tin + tout) * s.accuracy for s in problem.fleet])

    def norm(v: np.ndarray) -> np.ndarray:
        return (v - v.min()) / (v.max() - v.min())

    total = cnt @ (lam * norm(energy) - (1 - lam) * norm(accuracy))   # per model
    n = problem.n_queries
    low = {s.name: int(np.ceil(max(1.0, n * GAMMA[s.name] / 4))) for s in problem.fleet}
    best = problem.fleet.names[int(np.argmin(total))]
    counts = dict(low)
    counts[best] = n - sum(v for k, v in low.items() if k != best)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="shared data folder")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures")
    args = parser.parse_args()
    out = args.out
    fleet = load_systems(FLEET)
    counts = []
    for name, (frame, note) in load_workloads(args.shared).items():
        print(f"== {name}: {note}")
        problem = build_problem(load_workload(frame[["input_tokens", "output_tokens"]]), fleet)
        frame_sw = sweep(problem, LAMS, POLICIES)
        write_csv(frame_sw, out / f"multi_llm_sweep_{name}.csv", float_format="%.6g")
        plot_sweep_lambda(frame_sw, out / f"multi_llm_lambda_{name}.png",
                          title=f"{note}: Llama-2 7B/13B/70B, shares ≥ γ/4, paper coefficients")
        plot_sweep(frame_sw, out / f"multi_llm_tradeoff_{name}.png", metric="accuracy",
                   title=f"{note}: energy vs accuracy")
        milp = frame_sw[frame_sw["policy"] == "milp"].set_index("lam")
        for lam in LAMS:
            row = {"workload": name, "lam": lam}
            for sys_name, k in script_counts(problem, float(lam)).items():
                row[f"script_{sys_name}"] = k
                row[f"milp_{sys_name}"] = int(milp.loc[lam, f"queries_{sys_name}"])
            counts.append(row)
        show = frame_sw[frame_sw["lam"].isin([0.0, 0.5, 1.0])]
        cols = ["policy", "lam", "feasible", "energy_kwh", "mean_runtime_s", "token_accuracy",
                *(f"queries_{s}" for s in fleet.names)]
        print(show[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    table = pd.DataFrame(counts)
    write_csv(table, out / "multi_llm_script_counts.csv")
    agree = (table.filter(like="script_").to_numpy() == table.filter(like="milp_").to_numpy())
    print(f"per-model counts equal to the published script's at "
          f"{int(agree.all(axis=1).sum())} of {len(table)} (workload, λ)")
    print(f"wrote {out}/multi_llm_*.csv and multi_llm_*.png")


if __name__ == "__main__":
    main()
