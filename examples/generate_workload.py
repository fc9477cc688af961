"""Generate a realistic day's job list (seeded mixture; see offline_sched.synth).

Usage:
    python examples/generate_workload.py --queries 20000 --seed 0 --out examples/day.csv
"""

from __future__ import annotations

import argparse

from offline_sched.io.atomic import atomic_path
from offline_sched.synth import synthetic_workload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="examples/day.csv",
                        help="output file (.csv or .parquet)")
    args = parser.parse_args()
    frame = synthetic_workload(args.queries, seed=args.seed)
    with atomic_path(args.out) as tmp:
        if args.out.endswith(".parquet"):
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
    print(f"wrote {args.out}: {len(frame)} queries "
          f"(median input {frame.input_tokens.median():.0f}, "
          f"median output {frame.output_tokens.median():.0f})")


if __name__ == "__main__":
    main()
