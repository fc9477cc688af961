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
    plan_options,
    run_inputs,
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
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output directory "
              "(--engine dask, --dispatch) that offline-sched did not write.")
@click.option("--plan", "plan_out", type=click.Path(allow_dash=True), default=None,
              help="Also write the executable per-replica plan (query_id, system, replica, "
              "slot, start_s, end_s), packed onto each system's replicas and verified.")
@click.option("--dispatch", "dispatch_dir", type=click.Path(file_okay=False), default=None,
              help="WORKLOAD is an OpenAI Batch API file: write one batch file per (system, "
              "replica) to this directory, plus plan.csv and manifest.json.")
@click.option("--tokenizer", type=click.Path(exists=True), default=None,
              help="Batch files: count input tokens with this local Hugging Face tokenizer "
              "directory or SentencePiece .model.")
@click.option("--output-tokens", "output_tokens", default=None, metavar="N|FILE",
              help="Batch files: output-token estimate for every request (N) or per "
              "custom_id (CSV/Parquet/JSONL); default body.max_tokens, an upper bound.")
@click.option("--by-slot", "by_slot_out", type=click.Path(allow_dash=True), default=None,
              help="Also write the per-slot table (slot, start_s, system, instances_on, "
              "queries, busy_s, energy_j, static_energy_j, carbon_g, cost) to this CSV.")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), default=None,
              help="Also draw replicas on per system per slot over the carbon (or price) "
              "curve to this PNG (needs offline-sched[plot]).")
@plan_options
@json_option
@handle_errors
def solve(workload, systems, lam, solver, time_limit, strict_range, file_format, columns,
          quiet, out, by_system_out, engine, overwrite, plan_out, dispatch_dir, tokenizer,
          output_tokens, by_slot_out, plot_out, as_json, settings):
    """Assign every query to a system, minimising lam*energy + (1-lam)*runtime.

    Writes the assignment and prints a summary with the certified gap. WORKLOAD '-' reads
    standard input (CSV unless --format says otherwise). With slots, idle power or a carbon
    or price signal (options or the fleet file) it plans the day: replicas on per system and
    slot, and each query's slot (a ``slot`` column in the assignment).

    \b
    Example:
      offline-sched solve examples/day.csv --systems hybrid --lam 0.5 --out assignment.csv
      cat day.csv | offline-sched solve - --json --out assignment.csv
      offline-sched solve day-parquet/ --engine dask --out assignment.parquet
      offline-sched solve examples/day.csv --plan plan.csv
      offline-sched solve batch.jsonl --tokenizer tok/ --dispatch dispatch/
      offline-sched solve examples/day.csv -s examples/hybrid-day.toml --minimise carbon \
          --by-slot by_slot.csv --plot plan.png
    """
    from ..api import problem_for, solve_problem
    from ..io.assignment import write_schedule
    from ..io.atomic import write_frame

    inputs = [*run_inputs(workload, systems, settings), tokenizer, output_tokens]
    if engine == "dask":
        if solver != "highs":
            raise CliError("--engine dask solves with --solver highs only", 2)
        if workload == "-":
            raise CliError("--engine dask reads Parquet files, not standard input", 2)
        if settings.asked or by_slot_out or plot_out:
            raise CliError("planning in time (--slot-s, --carbon, --price, --start, "
                           "--minimise, --time-format, --by-slot, --plot) works with "
                           "--engine pandas", 2)
    tables = (("--by-system", by_system_out), ("--plan", plan_out),
              ("--by-slot", by_slot_out), ("--plot", plot_out))
    if engine == "dask":  # --out is the dask engine's (Parquet parts), checked there
        check_outputs(*tables, inputs=[*inputs, out])
    else:  # one check: same file twice, or more than one on stdout, are refused too
        check_outputs(("--out", out), *tables, inputs=inputs)
    if as_json and "-" in (out, by_system_out, plan_out, by_slot_out):
        raise CliError("--json prints to stdout, which '-' already uses for data", 2)
    if plot_out:
        from ..plots.common import figure_class

        figure_class()  # matplotlib missing: say so before any work
    batch = None
    if engine == "dask" and (plan_out or dispatch_dir):
        raise CliError("--plan and --dispatch work with --engine pandas", 2)
    if dispatch_dir:
        from ..io.dispatch_files import check_target

        check_target(dispatch_dir, overwrite=overwrite)
    t0 = time.perf_counter()
    marks: dict[Phase, float] = {}  # phase -> seconds since start: the summary reports them

    def progress(phase: Phase, msg: str) -> None:
        now = time.perf_counter() - t0
        marks.setdefault(phase, now)
        say(f"[{now:7.2f} s] {msg}", quiet)

    if engine == "dask":
        from ..engines.dask import solve_dask
        from ..fleet import load_systems
        from ..planner.settings import fleet_plans

        if fleet_plans(load_systems(systems)):
            raise CliError(f"{systems}: the fleet plans in time (slot_s, [grid], idle power, "
                           "start-up energy or min_instances), which --engine dask does not; "
                           "use --engine pandas", 2)

        sched = solve_dask(workload, systems, lam, out, time_limit=time_limit,
                           strict_range=strict_range, progress=progress,
                           overwrite=overwrite).schedule
    else:
        progress(Phase.READ, f"reading {workload} and building the problem ...")
        from ..io.batch import is_batch_file, read_batch

        source = workload
        if dispatch_dir or tokenizer or output_tokens or is_batch_file(workload):
            est = int(output_tokens) if output_tokens and output_tokens.isdigit() \
                else output_tokens
            batch = read_batch(workload, tokenizer=tokenizer, output_tokens=est)
            source = batch.to_workload()
        problem = problem_for(source, systems, strict_range, fmt=file_format, columns=columns)
        progress(Phase.SOLVE, f"{problem.n_queries} queries in {problem.classes.n_classes} "
                 f"classes, {problem.n_systems} systems; solving ...")
        sched = solve_problem(problem, lam, settings=settings, solver=solver,
                              time_limit=time_limit)
        if plan_out or dispatch_dir:
            from ..dispatch.plan import executable_schedule

            progress(Phase.EXPAND, "packing onto replicas ...")
            sched = executable_schedule(sched)
        res = sched.result
        progress(Phase.WRITE, f"solved ({res.method if res else '-'}, gap "
                 f"{res.gap if res else 0:.2g}); writing {out} ...")
        write_schedule(sched, out)
        if plan_out:
            from ..dispatch.plan import write_plan

            write_plan(sched.plan, plan_out)
        if dispatch_dir and batch is not None:
            from ..io.dispatch_files import write_dispatch

            names = {s.name: s.serve_model for s in sched.problem.fleet if s.serve_model}
            write_dispatch(dispatch_dir, batch, sched.plan.frame, serve_model=names,
                           overwrite=overwrite)
    if by_system_out:
        write_frame(sched.by_system, by_system_out)
    if by_slot_out:
        write_frame(sched.by_slot, by_slot_out)
    if plot_out:
        from ..plots.plan import plot_plan

        plot_plan(sched, plot_out)
    progress(Phase.DONE, "done")
    s = dict(sched.summary)
    built, written, done = (marks.get(k, float("nan"))
                            for k in (Phase.SOLVE, Phase.WRITE, Phase.DONE))
    s.update(classes=sched.problem.classes.n_classes, build_s=built,
             write_s=done - written, total_s=time.perf_counter() - t0)
    to_err = "-" in (out, by_system_out, plan_out, by_slot_out)  # stdout has data: summary
    planned = sched.planned is not None                           # to stderr
    if as_json:
        doc = {"summary": s, "by_system": sched.by_system.to_dict(orient="records"),
               "out": str(out), "by_system_out": by_system_out}
        if planned:
            doc.update(by_slot=sched.by_slot.to_dict(orient="records"),
                       by_slot_out=by_slot_out)
        echo_json(doc)
        return
    click.echo(f"{s['policy']}: {s['queries']} queries, "
               f"classes={s['classes']}, lam={lam:g}, "
               f"feasible={s['feasible']}, status={s['status']}, "
               f"objective={fmt(s['objective'])}, gap={s['gap']:.2g}, "
               f"energy_kwh={fmt(s['energy_kwh'])}, runtime_s={fmt(s['runtime_s'])}, "
               f"makespan_s={fmt(s['makespan_s'])}, "
               + (f"slots={s['slots']}, minimise={s['minimise']}, static_energy_kwh="
                  f"{fmt(s['static_energy_kwh'])}, carbon_kg={fmt(s['carbon_kg'])}, "
                  f"cost={fmt(s['cost'])}, instances_on_max={s['instances_on_max']}, "
                  if planned else "")
               + f"build_s={built:.3g}, "
               f"solve_s={s['solve_s']:.3g}, write_s={s['write_s']:.3g}, "
               f"total_s={s['total_s']:.3g}", err=to_err)
    if not quiet:
        click.echo(sched.by_system.to_string(index=False, float_format=fmt), err=to_err)
        if planned:
            from ..planner.report import replicas_on

            click.echo("replicas on per slot:\n" + replicas_on(sched.by_slot).to_string(),
                       err=to_err)
        extra = [p for p in (by_system_out, plan_out, dispatch_dir, by_slot_out, plot_out)
                 if p]
        click.echo(f"wrote {out}" + (f" and {', '.join(map(str, extra))}" if extra else ""),
                   err=to_err)
        if "packing_loss_s" in s:
            click.echo(f"plan: {s['replicas_used']} replicas, packing_loss_s="
                       f"{s['packing_loss_s']:.6g}, moved={s['moved']} (gap is against the "
                       "pooled-capacity bound)", err=to_err)
