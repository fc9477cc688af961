"""``offline-sched compare``: every policy on one problem, written as a CSV report."""

from __future__ import annotations

import click

from ..io.atomic import write_frame
from .common import fleet_options, fmt, handle_errors, say, warn_guards


@click.command()
@click.argument("workload", type=click.Path(dir_okay=False))
@fleet_options
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="report.csv",
              show_default=True, help="Report CSV, one row per policy.")
@click.option("--policy", "-p", "policies", multiple=True,
              help="Policy to include (repeatable); default: all that apply.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of `random`.")
@handle_errors
def compare(workload, systems, lam, solver, time_limit, strict_range, quiet, out, policies,
            seed):
    """Compare the MILP with the seeds' heuristics and baselines; write a CSV report.

    \b
    Example:
      offline-sched compare examples/day.csv --systems hybrid --lam 0.5 --out report.csv
    """
    from ..api import problem_for
    from ..studies.compare import compare_problem

    say(f"reading {workload} and building the problem ...", quiet)
    problem = problem_for(workload, systems, strict_range)
    say(f"{problem.n_queries} queries in {problem.classes.n_classes} classes; running "
        "policies ...", quiet)
    frame = compare_problem(problem, lam, list(policies) or None, seed=seed, solver=solver,
                            time_limit=time_limit)
    write_frame(frame, out)
    show = ["policy", "feasible", "objective", "energy_kwh", "mean_runtime_s", "makespan_s",
            "energy_saving_vs_all_gpu_pct", "solve_s"]
    click.echo(frame[show].to_string(index=False, float_format=fmt))
    warn_guards(frame.iloc[0].to_dict())
    if not policies:
        from ..studies.compare import DEFAULT_POLICIES

        skipped = [n for n in DEFAULT_POLICIES if n not in set(frame["policy"])]
        if skipped:
            click.echo(f"note: skipped {', '.join(skipped)}: the threshold policies need one "
                       "gpu = true and one non-GPU system, all-gpu a gpu = true system",
                       err=True)
    click.echo(f"wrote {out}")
