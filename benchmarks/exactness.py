"""Exactness benchmark: the tool against per-query HiGHS (LP relaxation and MILP), per size.

Run from the repository root::

    python benchmarks/exactness.py --quick                 # 10^3..5·10^3, fleet-4, 1 run
    python benchmarks/exactness.py                         # 10^3..10^5, fleet-4 and fleet-8
    python benchmarks/exactness.py --sizes 2e3,5e3 --fleets 4 --repeats 3 --milp-limit 120

What it does, per fleet and size n:

1. **Workload.** A seeded day of n queries from a log-normal mixture (short prompts, chat,
   long-context, code; the shares and medians are those of the project's synthetic days),
   so token pairs are nearly all distinct below ~5·10^4 queries.
2. **Fleet.** ``benchmarks/fleet-4.toml`` (M1-Pro, two A100 pools, V100) or
   ``benchmarks/fleet-8.toml`` (eight pools) with the window shrunk by n / 10^6, so the same
   pools bind at every size. λ = 0.5.
3. **Tool.** ``offline_sched.solve(frame, fleet, 0.5)`` (wall time of the call, problem
   build included), with its status and certified gap.
4. **Per-query LP.** The LP relaxation of the per-query model (one column per eligible
   (query, system), one row per query, one capacity row per system), costs expanded per
   query from ``build_problem``'s class matrices, solved by HiGHS (highspy). Its time is the
   reference effort: the least a per-query exact method pays.
5. **Per-query MILP.** The same model with binary columns, ``scipy.optimize.milp`` (HiGHS)
   to a relative gap of 1e-6 within ``--milp-limit`` seconds, at sizes up to ``--milp-max``
   (larger ones are shown as ``—``).

6. **Time limit.** Once per size, the tool with ``--time-limit`` seconds (default 2): its
   wall time shows whether the limit is honoured.

Medians of ``--repeats`` runs (a MILP run that hit the limit is not repeated). The ``check``
column compares the tool with the MILP: the tool's objective must not exceed the MILP's best
by more than 1e-6 (relative) and the tool's bound must not exceed the MILP's best objective.
Targets: gap ≤ 1e-6 everywhere, tool ≤ 10× the LP time, ≥ 10× faster than the MILP wherever
the MILP finishes. No test depends on this script's timings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
FLEETS = {"4": HERE / "fleet-4.toml", "8": HERE / "fleet-8.toml"}
BASE_QUERIES = 1_000_000
LAM = 0.5
GAP = 1e-6
SIZES = "1e3,2e3,5e3,2e4,5e4,1e5"
QUICK_SIZES = "1e3,2e3,5e3"

# (share, input median, input σ, output median, output σ, input clip, output clip)
MIXTURE = (
    (0.15, 20, 0.6, 12, 0.7, (2, 128), (1, 64)),           # short prompts
    (0.45, 80, 0.9, 130, 0.7, (4, 2048), (4, 1024)),       # chat
    (0.30, 1100, 0.5, 140, 0.6, (256, 3072), (8, 1024)),   # long context
    (0.10, 300, 0.7, 380, 0.5, (16, 2048), (32, 2048)),    # code
)


def mixture_day(n: int, seed: int) -> pd.DataFrame:
    """n queries from the log-normal mixture above (seeded, vectorised)."""
    rng = np.random.default_rng(seed)
    share = np.array([m[0] for m in MIXTURE])
    kind = rng.choice(len(MIXTURE), size=n, p=share / share.sum())
    z_in, z_out = rng.standard_normal(n), rng.standard_normal(n)
    tin = np.empty(n, dtype=np.int64)
    tout = np.empty(n, dtype=np.int64)
    for k, (_, mi, si, mo, so, ci, co) in enumerate(MIXTURE):
        sel = kind == k
        tin[sel] = np.clip(np.rint(mi * np.exp(si * z_in[sel])), *ci)
        tout[sel] = np.clip(np.rint(mo * np.exp(so * z_out[sel])), *co)
    return pd.DataFrame({"query_id": np.char.add("q", np.arange(n).astype(str)),
                         "input_tokens": tin, "output_tokens": tout})


def scaled_fleet(src: Path, n: int, workdir: Path) -> Path:
    """Write the fleet with its window shrunk by n / 10^6 (cost models by absolute path)."""
    data = tomllib.loads(src.read_text())
    window = data["window_s"] * n / BASE_QUERIES
    lines = [f"description = {json.dumps(data['description'])}", f"window_s = {window!r}",
             f"objective = {json.dumps(data['objective'])}",
             f"normalize = {str(data['normalize']).lower()}"]
    for system in data["system"]:
        lines.append("\n[[system]]")
        for key, value in system.items():
            if key == "cost_model":
                value = str((src.parent / value).resolve())
            lines.append(f"{key} = {json.dumps(value)}")
    path = workdir / f"{src.stem}-{n}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def quiet_stdout():
    """Silence C-level stdout (highspy ≥ 1.16 prints a banner when first constructed)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def per_query_model(problem, lam: float):
    """The per-query model from the class matrices: (cost, A as CSC, row lo, row hi).

    Columns: eligible (query, system) pairs; rows: one equality per query, then one capacity
    row per system, then (with share bounds) one count row per system.
    """
    import scipy.sparse as sp

    qc = problem.classes.query_class
    n, n_s = problem.n_queries, problem.n_systems
    w = problem.weights(lam)[qc]
    elig = problem.eligible[qc]
    q, s = np.nonzero(elig)
    runtime = problem.runtime_s[qc][q, s]
    k = q.size
    rows = [q, n + s]
    vals = [np.ones(k), runtime]
    lo = [np.ones(n), np.full(n_s, -np.inf)]
    hi = [np.ones(n), problem.capacity_s.astype(float)]
    if problem.has_shares:
        rows.append(n + n_s + s)
        vals.append(np.ones(k))
        lo.append(problem.min_count.astype(float))
        hi.append(problem.max_count.astype(float))
    n_rows = n + n_s * (len(rows) - 1)
    a = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows),
                                              np.tile(np.arange(k), len(rows)))),
                      shape=(n_rows, k))
    return w[q, s], a, np.concatenate(lo), np.concatenate(hi)


def lp_time(model) -> tuple[float, float]:
    """Per-query LP relaxation with highspy: (seconds for pass + solve, optimum)."""
    import highspy

    cost, a, lo, hi = model
    with quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(a.shape[1])
    lp.col_upper_ = np.ones(a.shape[1])
    inf = highspy.kHighsInf
    lp.row_lower_ = np.where(np.isfinite(lo), lo, -inf)
    lp.row_upper_ = np.where(np.isfinite(hi), hi, inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data
    start = time.perf_counter()
    h.passModel(lp)
    h.run()
    elapsed = time.perf_counter() - start
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return elapsed, math.nan
    return elapsed, float(h.getInfo().objective_function_value)


def milp_run(model, limit_s: float) -> dict:
    """Per-query MILP with scipy.optimize.milp (HiGHS) to a 1e-6 gap within limit_s."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    cost, a, lo, hi = model
    start = time.perf_counter()
    with quiet_stdout():
        res = milp(cost, constraints=LinearConstraint(a, lo, hi),
                   integrality=np.ones(cost.size), bounds=Bounds(0, 1),
                   options={"time_limit": limit_s, "mip_rel_gap": GAP, "disp": False})
    elapsed = time.perf_counter() - start
    obj = float(res.fun) if res.x is not None else math.nan
    gap = float(getattr(res, "mip_gap", math.nan)) if res.x is not None else math.inf
    bound = float(getattr(res, "mip_dual_bound", math.nan))
    return {"milp_s": elapsed, "milp_gap": gap, "milp_objective": obj, "milp_bound": bound,
            "milp_finished": bool(res.status == 0 and gap <= GAP * (1 + 1e-9))}


def tool_run(frame: pd.DataFrame, fleet: Path, time_limit: float | None = None) -> dict:
    """offline_sched.solve end to end: wall time, status, gap, objective, bound."""
    from offline_sched import solve

    start = time.perf_counter()
    with quiet_stdout():
        sched = solve(frame, str(fleet), LAM, time_limit=time_limit)
    elapsed = time.perf_counter() - start
    info = sched.summary
    return {"tool_s": elapsed, "tool_solve_s": float(info["solve_s"]),
            "gap": float(info["gap"]), "status": str(info["status"]),
            "method": str(info.get("method", "")), "objective": float(sched.objective),
            "bound": float(info["lower_bound"])}


def one_size(fleet_key: str, n: int, args, workdir: Path, milp_ok: bool) -> dict:
    from offline_sched import build_problem, load_systems, load_workload

    frame = mixture_day(n, args.seed)
    fleet = scaled_fleet(FLEETS[fleet_key], n, workdir)
    with quiet_stdout():
        problem = build_problem(load_workload(frame), load_systems(str(fleet)))
    model = per_query_model(problem, LAM)
    tools, lps, milps = [], [], []
    for _ in range(args.repeats):
        tools.append(tool_run(frame, fleet))
        lps.append(lp_time(model))
        if milp_ok and (not milps or milps[-1]["milp_finished"]):
            milps.append(milp_run(model, args.milp_limit))
        print(f"  fleet-{fleet_key} {n}: tool {tools[-1]['tool_s']:.2f} s "
              f"({tools[-1]['status']}, gap {tools[-1]['gap']:.1e}), LP {lps[-1][0]:.2f} s"
              + (f", MILP {milps[-1]['milp_s']:.1f} s" if milps else ""), flush=True)
    limited = None
    if args.time_limit:  # is the limit honoured? (one run; wall time of the whole call)
        limited = tool_run(frame, fleet, args.time_limit)
        print(f"  fleet-{fleet_key} {n}: --time-limit {args.time_limit:g}: "
              f"{limited['tool_s']:.2f} s ({limited['status']}, gap {limited['gap']:.1e})",
              flush=True)
    row = {"fleet": f"fleet-{fleet_key}", "queries": n, "classes": problem.classes.n_classes,
           "tool_s": statistics.median(t["tool_s"] for t in tools),
           "tool_solve_s": statistics.median(t["tool_solve_s"] for t in tools),
           "gap": max(t["gap"] for t in tools), "status": tools[0]["status"],
           "method": tools[0]["method"], "objective": tools[0]["objective"],
           "bound": tools[0]["bound"], "lp_s": statistics.median(t[0] for t in lps),
           "lp_objective": lps[0][1], "tools": tools, "milps": milps, "limited": limited}
    if milps:
        fin = [m for m in milps if m["milp_finished"]]
        row.update(milp_finished=bool(fin) and len(fin) == len(milps),
                   milp_s=statistics.median(m["milp_s"] for m in milps),
                   milp_gap=milps[-1]["milp_gap"], milp_objective=milps[-1]["milp_objective"])
        best = min(m["milp_objective"] for m in milps)
        row["check"] = bool(row["objective"] <= best + GAP * abs(best)
                            and row["bound"] <= best + 1e-9 * abs(best))
    return row


def fmt_row(cells: list, widths: list[int]) -> str:
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))


def table(rows: list[dict], limit_s: float) -> list[str]:
    head = ["fleet", "queries", "classes", "tool s", "status", "gap", "LP s", "tool/LP",
            "MILP s", "MILP gap", "MILP/tool", "check"]
    widths = [8, 9, 9, 7, 8, 8, 7, 8, 9, 9, 9, 6]
    out = [fmt_row(head, widths)]
    for r in rows:
        if "milp_s" in r:
            milp = f"{r['milp_s']:.1f}" if r["milp_finished"] else f">{limit_s:g}"
            milp_gap = f"{r['milp_gap']:.1e}"
            ratio = f"{r['milp_s'] / r['tool_s']:.0f}x" + ("" if r["milp_finished"] else "+")
            check = "ok" if r["check"] else "FAIL"
        else:
            milp = milp_gap = ratio = check = "—"
        out.append(fmt_row([r["fleet"], f"{r['queries']:,}", f"{r['classes']:,}",
                            f"{r['tool_s']:.2f}", r["status"], f"{r['gap']:.1e}",
                            f"{r['lp_s']:.2f}", f"{r['tool_s'] / r['lp_s']:.1f}x", milp,
                            milp_gap, ratio, check], widths))
    return out


def targets(rows: list[dict]) -> list[str]:
    """Which rows miss which target."""
    miss = []
    for r in rows:
        tag = f"{r['fleet']} {r['queries']:,}"
        if r["gap"] > GAP:
            miss.append(f"{tag}: gap {r['gap']:.1e} > {GAP:g}")
        if r["tool_s"] > 10 * r["lp_s"]:
            miss.append(f"{tag}: tool {r['tool_s'] / r['lp_s']:.1f}x the LP time (> 10x)")
        if r.get("milp_finished") and r["milp_s"] < 10 * r["tool_s"]:
            miss.append(f"{tag}: only {r['milp_s'] / r['tool_s']:.1f}x faster than the MILP")
        if r.get("check") is False:
            miss.append(f"{tag}: tool disagrees with the MILP")
    return miss


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=None, help=f"queries per run (default {SIZES})")
    ap.add_argument("--fleets", default=None, help="fleets to run: 4, 8 or 4,8 (default)")
    ap.add_argument("--repeats", type=int, default=None, help="runs per size (default 3)")
    ap.add_argument("--milp-limit", type=float, default=None,
                    help="time limit of the per-query MILP [s] (default 120)")
    ap.add_argument("--milp-max", type=float, default=2e4,
                    help="largest size at which the per-query MILP is run (default 2e4)")
    ap.add_argument("--quick", action="store_true",
                    help=f"sizes {QUICK_SIZES}, fleet-4, 1 run, MILP limit 30 s "
                         "(explicit options still win)")
    ap.add_argument("--time-limit", type=float, default=2.0,
                    help="also run the tool once per size with this time limit and print its "
                         "wall time (0: skip; default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also save all runs here")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")  # extrapolated / clipped cost notes: not this benchmark's
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    fleets = args.fleets or ("4" if args.quick else "4,8")
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.milp_limit = args.milp_limit or (30.0 if args.quick else 120.0)
    sizes_n = sorted(int(float(t)) for t in sizes.split(",") if t.strip())
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; lam={LAM}; "
          f"window scaled by n/1e6; MILP limit {args.milp_limit:g} s", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for key in (k.strip() for k in fleets.split(",") if k.strip()):
            for n in sizes_n:
                rows.append(one_size(key, n, args, Path(tmp), n <= args.milp_max))
    print()
    print("\n".join(table(rows, args.milp_limit)))
    print(f"(medians of {args.repeats} runs; tool s = wall time of offline_sched.solve; "
          "LP s = per-query HiGHS LP; MILP s = per-query scipy/HiGHS MILP to 1e-6)")
    miss = targets(rows)
    print("targets met" if not miss else "targets missed:\n  " + "\n  ".join(miss))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
