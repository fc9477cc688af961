"""``offline-sched solve``: the optimal assignment of every query, with its certified gap."""

from __future__ import annotations

import time

import click

from ..progress import Phase
from .common import CliError, fleet_options, fmt, handle_errors, say, warn_guards


@click.command()
@click.argument("workload", type=click.Path())
@fleet_options
@click.option("--out", "-o", type=click.Path(), default="assignment.csv",
              show_default=True, help="Assignment file (query_id,system): .csv, or "
              ".parquet/.pq for Parquet. With --engine dask, a name not ending in .csv is a "
              "directory of Parquet parts.")
@click.option("--engine", type=click.Choice(["pandas", "dask"]), default="pandas",
              show_default=True, help="pandas: in-process. dask: group and expand on Dask "
              "(WORKLOAD may be a directory of Parquet files; needs offline-sched[dask]).")
@handle_errors
def solve(workload, systems, lam, solver, time_limit, strict_range, quiet, out, engine):
    """Assign every query to a system, minimising lam*energy + (1-lam)*runtime.

    Writes the assignment and prints a summary with the certified gap.

    \b
    Example:
      offline-sched solve examples/day.csv --systems hybrid --lam 0.5 --out assignment.csv
      offline-sched solve day-parquet/ --engine dask --out assignment.parquet
    """
    from ..api import problem_for
    from ..io.assignment import write_schedule
    from ..policies import milp

    t0 = time.perf_counter()
    marks: dict[Phase, float] = {}  # phase -> seconds since start: the summary reports them

    def progress(phase: Phase, msg: str) -> None:
        now = time.perf_counter() - t0
        marks.setdefault(phase, now)
        say(f"[{now:7.2f} s] {msg}", quiet)

    if engine == "dask":
        if solver != "highs":
            raise CliError("--engine dask solves with --solver highs only", 2)
        from ..engines.dask import solve_dask

        sched = solve_dask(workload, systems, lam, out, time_limit=time_limit,
                           strict_range=strict_range, progress=progress).schedule
    else:
        progress(Phase.READ, f"reading {workload} and building the problem ...")
        problem = problem_for(workload, systems, strict_range)
        progress(Phase.SOLVE, f"{problem.n_queries} queries in {problem.classes.n_classes} "
                 f"classes, {problem.n_systems} systems; solving ...")
        sched = milp(problem, lam, solver=solver, time_limit=time_limit)
        res = sched.result
        progress(Phase.WRITE, f"solved ({res.method if res else '-'}, gap "
                 f"{res.gap if res else 0:.2g}); writing {out} ...")
        write_schedule(sched, out)
    progress(Phase.DONE, "done")
    s = sched.summary
    built, written, done = (marks.get(k, float("nan"))
                            for k in (Phase.SOLVE, Phase.WRITE, Phase.DONE))
    click.echo(f"{s['policy']}: {s['queries']} queries, "
               f"classes={sched.problem.classes.n_classes}, lam={lam:g}, "
               f"feasible={s['feasible']}, status={s['status']}, "
               f"objective={fmt(s['objective'])}, gap={s['gap']:.2g}, "
               f"energy_kwh={fmt(s['energy_kwh'])}, runtime_s={fmt(s['runtime_s'])}, "
               f"makespan_s={fmt(s['makespan_s'])}, build_s={built:.3g}, "
               f"solve_s={s['solve_s']:.3g}, write_s={done - written:.3g}, "
               f"total_s={time.perf_counter() - t0:.3g}")
    warn_guards(s)
    click.echo(sched.by_system.to_string(index=False, float_format=fmt))
    click.echo(f"wrote {out}")
