"""``offline-sched compare``: every policy on one problem, written as a CSV report."""

from __future__ import annotations

import click

from ..io.atomic import write_frame
from .common import (
    CliError,
    check_outputs,
    echo_json,
    fleet_options,
    fmt,
    handle_errors,
    json_option,
    plan_options,
    run_inputs,
    say,
)


@click.command()
@click.argument("workload", type=click.Path(dir_okay=False, allow_dash=True))
@fleet_options
@click.option("--out", "-o", type=click.Path(allow_dash=True), default="report.csv",
              show_default=True, help="Report CSV (or .parquet), one row per policy; '-' for "
              "stdout.")
@click.option("--policy", "-p", "policies", multiple=True,
              help="Policy to include (repeatable); default: all that apply.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of `random`.")
@plan_options
@json_option
@handle_errors
def compare(workload, systems, lam, solver, time_limit, strict_range, file_format, columns,
            quiet, out, policies, seed, as_json, settings):
    """Compare the MILP with the seeds' heuristics and baselines; write a CSV report.

    If the MILP is infeasible the report is still written (every policy, the MILP row with
    feasible = False and its reason) and the exit code is 3. Planning in time (slots, idle
    power, a carbon or price signal) scores every policy as a plan with provisioning and adds
    the always-on, as-soon-as-possible and wait-awhile baselines.

    \b
    Example:
      offline-sched compare examples/day.csv --systems hybrid --lam 0.5 --out report.csv
      offline-sched compare examples/day.csv --json -q --out report.csv
      offline-sched compare examples/day.csv -s examples/hybrid-day.toml --minimise carbon
    """
    from ..api import problem_for
    from ..studies.compare import DEFAULT_POLICIES, compare_problem

    check_outputs(("--out", out), inputs=run_inputs(workload, systems, settings))
    to_err = out == "-"
    if as_json and to_err:
        raise CliError("--json prints to stdout, which '-' already uses for the report", 2)
    say(f"reading {workload} and building the problem ...", quiet)
    problem = problem_for(workload, systems, strict_range, fmt=file_format, columns=columns)
    say(f"{problem.n_queries} queries in {problem.classes.n_classes} classes; running "
        "policies ...", quiet)
    frame = compare_problem(problem, lam, list(policies) or None, infeasible="report",
                            seed=seed, solver=solver, time_limit=time_limit,
                            settings=settings)
    write_frame(frame, out)
    failed = frame[frame.get("status", "") == "infeasible"] if "status" in frame else frame[:0]
    if as_json:
        echo_json({"report": frame.to_dict(orient="records"), "out": str(out)})
    else:
        show = ["policy", "feasible", "objective", "energy_kwh", "mean_runtime_s", "makespan_s",
                "energy_saving_vs_all_gpu_pct", "solve_s"]
        if "slots" in frame.columns:  # planned in time
            show[4:4] = [c for c in ("static_energy_kwh", "carbon_kg", "cost",
                                     "instances_on_max") if frame[c].notna().any()]
        click.echo(frame[show].to_string(index=False, float_format=fmt), err=to_err)
    if not policies:
        skipped = [n for n in DEFAULT_POLICIES if n not in set(frame["policy"])]
        if skipped and not quiet:
            click.echo(f"note: skipped {', '.join(skipped)}: the threshold policies need one "
                       "gpu = true and one non-GPU system, all-gpu a gpu = true system",
                       err=True)
    if not quiet:
        click.echo(f"wrote {out}", err=to_err or as_json)
    if len(failed):
        raise CliError(f"wrote the report, but {failed['policy'].iloc[0]}: "
                       f"{failed['reason'].iloc[0]}", 3)
