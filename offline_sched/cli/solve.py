"""``offline-sched solve``: the optimal assignment of every query, with its certified gap."""

from __future__ import annotations

import time

import click

from ..progress import Phase
from .common import (
    CliError,
    check_outputs,
    echo_json,
    fleet_options,
    fmt,
    handle_errors,
    json_option,
    say,
)


@click.command()
@click.argument("workload", type=click.Path(allow_dash=True))
@fleet_options
@click.option("--out", "-o", type=click.Path(allow_dash=True), default="assignment.csv",
              show_default=True, help="Assignment file (query_id,system): .csv, or "
              ".parquet/.pq for Parquet; '-' for stdout. With --engine dask, a name not "
              "ending in .csv is a directory of Parquet parts.")
@click.option("--by-system", "by_system_out", type=click.Path(allow_dash=True), default=None,
              help="Also write the per-system table (system, queries, energy_j, busy_s, "
              "capacity_s, makespan_s, utilisation) to this CSV.")
@click.option("--engine", type=click.Choice(["pandas", "dask"]), default="pandas",
              show_default=True, help="pandas: in-process. dask: group and expand on Dask "
              "(WORKLOAD may be a directory of Parquet files; needs offline-sched[dask]).")
@click.option("--overwrite", is_flag=True, help="With --engine dask: replace a non-empty "
              "output directory that offline-sched did not write.")
@json_option
@handle_errors
def solve(workload, systems, lam, solver, time_limit, strict_range, file_format, columns,
          quiet, out, by_system_out, engine, overwrite, as_json):
    """Assign every query to a system, minimising lam*energy + (1-lam)*runtime.

    Writes the assignment and prints a summary with the certified gap. WORKLOAD '-' reads
    standard input (CSV unless --format says otherwise).

    \b
    Example:
      offline-sched solve examples/day.csv --systems hybrid --lam 0.5 --out assignment.csv
      cat day.csv | offline-sched solve - --json --out assignment.csv
      offline-sched solve day-parquet/ --engine dask --out assignment.parquet
    """
    from ..api import problem_for
    from ..io.assignment import write_schedule
    from ..io.atomic import write_frame
    from ..policies import milp

    if engine == "dask":
        if solver != "highs":
            raise CliError("--engine dask solves with --solver highs only", 2)
        if workload == "-":
            raise CliError("--engine dask reads Parquet files, not standard input", 2)
    else:
        check_outputs(("--out", out), inputs=[workload, systems])
    check_outputs(("--by-system", by_system_out), inputs=[workload, systems, out])
    t0 = time.perf_counter()
    marks: dict[Phase, float] = {}  # phase -> seconds since start: the summary reports them

    def progress(phase: Phase, msg: str) -> None:
        now = time.perf_counter() - t0
        marks.setdefault(phase, now)
        say(f"[{now:7.2f} s] {msg}", quiet)

    if engine == "dask":
        from ..engines.dask import solve_dask

        sched = solve_dask(workload, systems, lam, out, time_limit=time_limit,
                           strict_range=strict_range, progress=progress,
                           overwrite=overwrite).schedule
    else:
        progress(Phase.READ, f"reading {workload} and building the problem ...")
        problem = problem_for(workload, systems, strict_range, fmt=file_format, columns=columns)
        progress(Phase.SOLVE, f"{problem.n_queries} queries in {problem.classes.n_classes} "
                 f"classes, {problem.n_systems} systems; solving ...")
        sched = milp(problem, lam, solver=solver, time_limit=time_limit)
        res = sched.result
        progress(Phase.WRITE, f"solved ({res.method if res else '-'}, gap "
                 f"{res.gap if res else 0:.2g}); writing {out} ...")
        write_schedule(sched, out)
    if by_system_out:
        write_frame(sched.by_system, by_system_out)
    progress(Phase.DONE, "done")
    s = dict(sched.summary)
    built, written, done = (marks.get(k, float("nan"))
                            for k in (Phase.SOLVE, Phase.WRITE, Phase.DONE))
    s.update(classes=sched.problem.classes.n_classes, build_s=built,
             write_s=done - written, total_s=time.perf_counter() - t0)
    to_err = out == "-" or by_system_out == "-"  # stdout carries data: summary to stderr
    if as_json:
        if to_err:
            raise CliError("--json prints to stdout, which '-' already uses for data", 2)
        echo_json({"summary": s, "by_system": sched.by_system.to_dict(orient="records"),
                   "out": str(out), "by_system_out": by_system_out})
        return
    click.echo(f"{s['policy']}: {s['queries']} queries, "
               f"classes={s['classes']}, lam={lam:g}, "
               f"feasible={s['feasible']}, status={s['status']}, "
               f"objective={fmt(s['objective'])}, gap={s['gap']:.2g}, "
               f"energy_kwh={fmt(s['energy_kwh'])}, runtime_s={fmt(s['runtime_s'])}, "
               f"makespan_s={fmt(s['makespan_s'])}, build_s={built:.3g}, "
               f"solve_s={s['solve_s']:.3g}, write_s={s['write_s']:.3g}, "
               f"total_s={s['total_s']:.3g}", err=to_err)
    if not quiet:
        click.echo(sched.by_system.to_string(index=False, float_format=fmt), err=to_err)
        click.echo(f"wrote {out}" + (f" and {by_system_out}" if by_system_out else ""),
                   err=to_err)
