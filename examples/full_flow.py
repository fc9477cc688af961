"""The whole flow in one script: tables → fit → fleet → solve → compare.

    python examples/full_flow.py [--queries 20000] [--lam 0.5] [--out-dir out/flow]

1. draws a day's job list (seeded mixture, offline_sched.synth);
2. fits the default cost model to two bundled measurement tables (M1-Pro and A100,
   Llama-2-7B) and writes the fitted-coefficients CSV;
3. writes a fleet TOML that uses those coefficients, sized like the bundled ``hybrid`` fleet
   (24 M1-Pro + 3 A100 in a 20-hour window per 20,000 queries, so the A100 capacity binds);
4. solves the MILP and writes the assignment;
5. compares every policy and writes the report.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from offline_sched import compare, fit, solve
from offline_sched.costs.fit import coefficients_frame
from offline_sched.io.atomic import write_csv
from offline_sched.synth import synthetic_workload

REPO = Path(__file__).resolve().parents[1]

FLEET = """\
description = "fitted in examples/full_flow.py"
window_s = 72000
[[system]]
name = "m1-pro"
model = "llama-2-7b"
instances = {m1}
max_output_tokens = 512
cost_model = "coefficients.csv"
form = "default"
[[system]]
name = "a100"
model = "llama-2-7b"
instances = {a100}
gpu = true
max_total_tokens = 4096
cost_model = "coefficients.csv"
form = "default"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20000)
    parser.add_argument("--lam", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default="out/flow")
    args = parser.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    workload = synthetic_workload(args.queries, seed=args.seed)
    write_csv(workload, out / "workload.csv")

    tables = pd.concat([pd.read_csv(REPO / "measurements" / sys_ / "llama-2-7b.csv")
                        for sys_ in ("m1-pro", "a100")])
    models = fit(tables, form="default", cv_folds=9)
    coef = coefficients_frame(models)
    write_csv(coef, out / "coefficients.csv")
    print(coef[["model", "system", "metric", "r2", "cv_mape", "n"]].to_string(index=False))

    scale = max(1, math.ceil(args.queries / 20000))  # capacity grows at least as the load
    (out / "fleet.toml").write_text(FLEET.format(m1=24 * scale, a100=3 * scale))

    sched = solve(out / "workload.csv", out / "fleet.toml", lam=args.lam)
    write_csv(sched.assignment, out / "assignment.csv")
    s = sched.summary
    print(f"\nmilp: feasible={s['feasible']} gap={s['gap']:.2g} energy_kwh={s['energy_kwh']:.4g} "
          f"solve_s={s['solve_s']:.3g}")
    print(sched.by_system.to_string(index=False))

    report = compare(out / "workload.csv", out / "fleet.toml", lam=args.lam)
    write_csv(report, out / "report.csv")
    print()
    print(report[["policy", "feasible", "objective", "energy_kwh", "mean_runtime_s",
                  "energy_saving_vs_all_gpu_pct"]].to_string(index=False))
    print(f"\nwrote {out}/workload.csv, coefficients.csv, fleet.toml, assignment.csv, report.csv")


if __name__ == "__main__":
    main()
