"""Scale benchmark: a whole day (10^6–10^7 queries) end to end, against the I/O floor and PuLP.

Run from the repository root (about 10 minutes with the defaults on a 2-core machine)::

    python benchmarks/scale.py                                  # 1e6 (CSV) and 1e7 (Parquet)
    python benchmarks/scale.py --sizes 1e6 --repeats 3 --pulp 2000,20000 --sweep 1e6

What it does, in one run:

1. **Workloads.** Seeded synthetic days (:func:`offline_sched.synth.synthetic_workload`, with
   ``query_id``): CSV up to 10^6 queries, Parquet above. The fleet is ``benchmarks/fleet-4.toml``
   (four systems; M1-Pro limited to 512 output tokens) with its capacity scaled by n / 10^6
   (``instances`` from 10^6 on, ``window_s`` below), so the A100 capacity binds at every size.
2. **Project.** ``offline-sched solve WORKLOAD --systems FLEET --lam 0.5 --out assignment.csv``
   in a subprocess, ``--repeats`` times. Its summary line gives the phases: *build* (read,
   validate, group, predict costs), *solve* (LP relaxation, rounding, polish) and *write*
   (expand to queries, write). *total* is the subprocess's wall time, interpreter start
   included; *peak RSS* is the subprocess's own (``os.wait4``), so every run is measured alone.
3. **I/O floor.** pandas alone, in a subprocess: ``pd.read_csv`` (``pd.read_parquet``) of the
   same file, then ``to_csv`` of a two-column frame (``query_id`` and one more column).
   *ratio* = total / floor (medians).
4. **Reference.** The seed's per-query PuLP/CBC formulation (``solve(..., solver="pulp")``)
   against the class-level HiGHS path (``gap_tol=1e-9``) on the same problem at ``--pulp``
   sizes, on the seed's ``hybrid`` fleet with its window scaled so the A100 capacity binds:
   objectives (must agree to 1e-9 relative) and the speed-up of the solve.
5. **λ sweep.** ``offline-sched sweep WORKLOAD --policy milp --lam 0:1:0.1`` (problem built
   once, the LP relaxation and its coarse model reused across λ) against 11 end-to-end solves.

Medians of ``--repeats`` runs are printed as one table; ``--json`` also saves every raw run.
No test depends on this script's timings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLEET = HERE / "fleet-4.toml"
BASE_QUERIES = 1_000_000
LAM = 0.5


def parse_sizes(text: str) -> list[int]:
    """``"1e6,1e7"`` → ``[1000000, 10000000]`` (empty text → [])."""
    return [int(float(t)) for t in text.split(",") if t.strip()]


def scaled_fleet(n: int, workdir: Path) -> Path:
    """Write fleet-4 with its capacity scaled by n / 10^6 (cost models by absolute path).

    From 10^6 queries on, every pool's ``instances`` is multiplied by n / 10^6 (a day stays a
    day); below, the window shrinks instead, as pools cannot have fractional replicas.
    """
    data = tomllib.loads(FLEET.read_text())
    factor = n / BASE_QUERIES
    window = data["window_s"] * min(factor, 1.0)
    lines = [f"description = {json.dumps(data['description'] + f' (scaled to {n} queries)')}",
             f"window_s = {window}", f"objective = {json.dumps(data['objective'])}",
             f"normalize = {str(data['normalize']).lower()}"]
    for system in data["system"]:
        lines.append("\n[[system]]")
        for key, value in system.items():
            if key == "instances":
                value = round(value * max(factor, 1.0))
            if key == "cost_model":
                value = str((FLEET.parent / value).resolve())
            lines.append(f"{key} = {json.dumps(value)}")
    path = workdir / f"fleet-4-{n}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def workload_file(n: int, workdir: Path, seed: int, fmt: str) -> Path:
    """Generate (once) the seeded workload of n queries as CSV or Parquet."""
    path = workdir / f"day-{n}-seed{seed}.{fmt}"
    if not path.exists():
        from offline_sched.synth import synthetic_workload

        frame = synthetic_workload(n, seed=seed)[["query_id", "input_tokens", "output_tokens"]]
        tmp = path.with_suffix(".tmp")
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        tmp.rename(path)
    return path


def run(cmd: list[str], timeout: float | None = None) -> dict:
    """Run a command; return wall time [s], its own peak RSS [MB], exit code and output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = {"wall_s": wall, "rss_mb": usage.ru_maxrss / 1024, "rc": proc.returncode,
                  "stdout": out.read().decode(), "stderr": err.read().decode()}
    if result["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result['rc']}):\n{result['stderr']}")
    return result


def field(summary: str, name: str) -> float:
    """A ``name=value`` number from ``offline-sched solve``'s summary line."""
    return float(re.search(rf"\b{name}=([^,\s]+)", summary).group(1))


def solve_once(workload: Path, fleet: Path, out: Path) -> dict:
    res = run([sys.executable, "-m", "offline_sched", "solve", str(workload), "--systems",
               str(fleet), "--lam", str(LAM), "--out", str(out)])
    line = next(x for x in res["stdout"].splitlines() if x.startswith("milp:"))
    return {"build_s": field(line, "build_s"), "solve_s": field(line, "solve_s"),
            "write_s": field(line, "write_s"), "total_s": res["wall_s"],
            "rss_mb": res["rss_mb"], "gap": field(line, "gap"),
            "classes": int(field(line, "classes")), "feasible": "feasible=True" in line}


FLOOR = """
import sys, pandas as pd
src, out = sys.argv[1], sys.argv[2]
df = pd.read_parquet(src) if src.endswith(".parquet") else pd.read_csv(src)
df[["query_id", "input_tokens"]].to_csv(out, index=False)
"""


def floor_once(workload: Path, out: Path) -> dict:
    res = run([sys.executable, "-c", FLOOR, str(workload), str(out)])
    return {"floor_s": res["wall_s"], "floor_rss_mb": res["rss_mb"]}


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


PULP_CHILD = """
import json, sys, time
from dataclasses import replace
from offline_sched import load_systems, load_workload, build_problem
from offline_sched.policies import milp
from offline_sched.fleet import Fleet
fleet = load_systems("hybrid")  # the seed's fleet; its window is sized for 20,000 queries
scale = int(sys.argv[2]) / 20000
fleet = Fleet(tuple(replace(s, window_s=s.window_s * scale) for s in fleet), name="hybrid",
              objective=fleet.objective, normalize=fleet.normalize)
p = build_problem(load_workload(sys.argv[1]), fleet)
out = {"classes": p.classes.n_classes}
for solver in ("highs", "pulp"):
    t = time.perf_counter()
    s = milp(p, float(sys.argv[3]), solver=solver, gap_tol=1e-9 if solver == "highs" else None)
    out[solver] = {"objective": s.objective, "solve_s": time.perf_counter() - t,
                   "gap": s.info["gap"], "feasible": s.feasible}
print(json.dumps(out))
"""


def pulp_reference(n: int, workdir: Path, seed: int) -> dict:
    """HiGHS (gap_tol 1e-9) and per-query PuLP/CBC on the same problem, in one subprocess.

    The fleet is the seed's ``hybrid`` (M1-Pro + A100) with its window scaled to n queries so
    the A100 capacity binds: on fleet-4, with three binding pools, CBC does not finish 2,000
    queries in ten minutes.
    """
    workload = workload_file(n, workdir, seed, "csv")
    res = run([sys.executable, "-c", PULP_CHILD, str(workload), str(n), str(LAM)])
    data = json.loads(res["stdout"].strip().splitlines()[-1])
    hi, pu = data["highs"], data["pulp"]
    return {"queries": n, "classes": data["classes"], "highs_s": hi["solve_s"],
            "pulp_s": pu["solve_s"], "speedup": pu["solve_s"] / hi["solve_s"],
            "highs_objective": hi["objective"], "pulp_objective": pu["objective"],
            "rel_diff": abs(hi["objective"] - pu["objective"]) / abs(pu["objective"]),
            "highs_gap": hi["gap"], "feasible": hi["feasible"] and pu["feasible"]}


def sweep_once(workload: Path, fleet: Path, out: Path) -> dict:
    res = run([sys.executable, "-m", "offline_sched", "sweep", str(workload), "--systems",
               str(fleet), "--policy", "milp", "--lam", "0:1:0.1", "--out", str(out), "-q"])
    import pandas as pd

    frame = pd.read_csv(out)
    return {"sweep_s": res["wall_s"], "sweep_rss_mb": res["rss_mb"],
            "lams": int(frame["lam"].nunique()), "max_gap": float(frame["gap"].max())}


def fmt_row(cells: list, widths: list[int]) -> str:
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1e6,1e7", help="queries per run, e.g. 1e6,1e7")
    ap.add_argument("--repeats", type=int, default=3, help="runs per size (medians)")
    ap.add_argument("--pulp", default="2000,20000", help="sizes for the PuLP/CBC reference")
    ap.add_argument("--sweep", default="1e6", help="size of the λ sweep ('' to skip)")
    ap.add_argument("--parquet-from", type=float, default=5e6,
                    help="sizes from this one on are generated as Parquet")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path,
                    default=Path(tempfile.gettempdir()) / "offline-sched-bench",
                    help="generated workloads and outputs (kept between runs)")
    ap.add_argument("--json", type=Path, default=None, help="also save all runs here")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {"sizes": [], "pulp": [], "sweep": None}

    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; "
          f"lam={LAM}; fleet {FLEET.name} scaled to each size", flush=True)
    for n in parse_sizes(args.sizes):
        fmt = "parquet" if n >= args.parquet_from else "csv"
        workload = workload_file(n, args.workdir, args.seed, fmt)
        fleet = scaled_fleet(n, args.workdir)
        runs, floors = [], []
        for _ in range(args.repeats):
            runs.append(solve_once(workload, fleet, args.workdir / f"assignment-{n}.csv"))
            floors.append(floor_once(workload, args.workdir / f"floor-{n}.csv"))
            print(f"  {n}: total {runs[-1]['total_s']:.2f} s, floor {floors[-1]['floor_s']:.2f} s",
                  flush=True)
        row = {"queries": n, "format": fmt, "classes": runs[0]["classes"],
               **{k: median(runs, k) for k in ("build_s", "solve_s", "write_s", "total_s",
                                               "rss_mb", "gap")},
               "floor_s": median(floors, "floor_s"), "runs": runs, "floors": floors,
               "feasible": all(r["feasible"] for r in runs)}
        row["ratio"] = row["total_s"] / row["floor_s"]
        report["sizes"].append(row)
    for n in parse_sizes(args.pulp):
        print(f"  PuLP/CBC reference at {n} queries ...", flush=True)
        report["pulp"].append(pulp_reference(n, args.workdir, args.seed))
    if args.sweep:
        n = parse_sizes(args.sweep)[0]
        workload = workload_file(n, args.workdir, args.seed, "csv")
        fleet = scaled_fleet(n, args.workdir)
        print(f"  λ sweep at {n} queries ...", flush=True)
        sweeps = [sweep_once(workload, fleet, args.workdir / f"sweep-{n}.csv")
                  for _ in range(args.repeats)]
        single = next((r["total_s"] for r in report["sizes"] if r["queries"] == n), None)
        if single is None:
            single = median([solve_once(workload, fleet, args.workdir / "a.csv")
                             for _ in range(args.repeats)], "total_s")
        report["sweep"] = {"queries": n, "sweep_s": median(sweeps, "sweep_s"),
                           "single_solve_s": single, "lams": sweeps[0]["lams"],
                           "max_gap": max(s["max_gap"] for s in sweeps),
                           "rss_mb": median(sweeps, "sweep_rss_mb"), "runs": sweeps}

    print()
    head = ["queries", "classes", "build s", "solve s", "total s", "I/O-floor s", "ratio",
            "gap", "peak RSS"]
    widths = [10, 9, 8, 8, 8, 11, 6, 8, 9]
    print(fmt_row(head, widths))
    for r in report["sizes"]:
        print(fmt_row([f"{r['queries']:,}", f"{r['classes']:,}", f"{r['build_s']:.2f}",
                       f"{r['solve_s']:.2f}", f"{r['total_s']:.2f}", f"{r['floor_s']:.2f}",
                       f"{r['ratio']:.2f}", f"{r['gap']:.1e}", f"{r['rss_mb']:.0f} MB"],
                      widths))
    print(f"(medians of {args.repeats} runs; input CSV below {args.parquet_from:.0e} queries, "
          "Parquet from there; output CSV)")
    if report["pulp"]:
        print()
        print(fmt_row(["queries", "classes", "HiGHS s", "PuLP/CBC s", "speed-up",
                       "objective (HiGHS)", "rel. diff"], [10, 9, 8, 11, 9, 18, 9]))
        for r in report["pulp"]:
            print(fmt_row([f"{r['queries']:,}", f"{r['classes']:,}", f"{r['highs_s']:.3f}",
                           f"{r['pulp_s']:.1f}", f"{r['speedup']:.0f}x",
                           f"{r['highs_objective']:.10g}", f"{r['rel_diff']:.1e}"],
                          [10, 9, 8, 11, 9, 18, 9]))
    if report["sweep"]:
        s = report["sweep"]
        print()
        print(f"λ sweep, {s['queries']:,} queries, {s['lams']} values of λ: "
              f"{s['sweep_s']:.2f} s in one run (model built once) vs "
              f"{s['lams']} x {s['single_solve_s']:.2f} s = "
              f"{s['lams'] * s['single_solve_s']:.1f} s for separate solves "
              f"({s['lams'] * s['single_solve_s'] / s['sweep_s']:.1f}x less); "
              f"max gap {s['max_gap']:.1e}; peak RSS {s['rss_mb']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
