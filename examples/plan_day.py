"""Plan the bundled day for energy and for carbon, side by side (README, "Planning the day").

The bundled job list (examples/day.csv, 20,000 queries) on the bundled hybrid fleet with idle
power, in hourly slots over the GB grid's carbon intensity of 2020-05-15
(examples/hybrid-day.toml). Run from the repository root::

    python examples/plan_day.py                       # the table
    python examples/plan_day.py --plot docs/figures   # also the two plan figures

Prints energy (static included), carbon, cost and replicas on per hour for both plans.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pandas as pd

from offline_sched import solve
from offline_sched.errors import CostModelWarning
from offline_sched.planner.report import replicas_on

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", type=Path, default=None, help="folder for the PNGs")
    parser.add_argument("--lam", type=float, default=0.5)
    args = parser.parse_args()
    plans = {}
    with warnings.catch_warnings():  # the extrapolation warning is the README's business
        warnings.simplefilter("ignore", CostModelWarning)
        for metric in ("energy", "carbon"):
            plans[metric] = solve(HERE / "day.csv", HERE / "hybrid-day.toml", args.lam,
                                  minimise=metric)
    rows = {}
    for metric, sched in plans.items():
        s = sched.summary
        rows[f"minimise {metric}"] = {
            "energy_kwh": s["energy_kwh"], "static_kwh": float(s["static_energy_j"]) / 3.6e6,
            "carbon_kg": float(s["carbon_g"]) / 1e3, "mean_runtime_s": s["mean_runtime_s"],
            "gap": s["gap"], "status": s["status"]}
    pd.set_option("display.width", 200)
    print(pd.DataFrame(rows).T.to_string(float_format=lambda v: f"{v:.4g}"))
    for metric, sched in plans.items():
        print(f"\nreplicas on per hour, minimise {metric}:")
        print(replicas_on(sched.by_slot).to_string())
    if args.plot:
        from offline_sched.plots.plan import plot_plan

        args.plot.mkdir(parents=True, exist_ok=True)
        for metric, sched in plans.items():
            path = plot_plan(sched, args.plot / f"plan_day_{metric}.png")
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
