"""Command-line interface: ``offline-sched`` (also ``python -m offline_sched``).

Every command parses its options, calls one library function, writes its output atomically
and turns library errors into one line on stderr with a non-zero exit code:
0 success, 2 bad input or usage, 3 infeasible, 1 other failures.
"""

from __future__ import annotations

import sys
import time

import click
import pandas as pd

from .. import __version__
from ..io.atomic import write_frame
from .common import CliError, common_options, handle_errors, say
from .common import fmt as _fmt


def fleet_options(func):
    """Shared options of solve and compare: the common ones plus --lam and --solver."""
    opts = [
        click.option("--lam", "-l", type=click.FloatRange(0.0, 1.0), default=0.5,
                     show_default=True, help="Weight of energy in [0, 1]; 1-lam weighs runtime "
                     "(or accuracy)."),
        click.option("--solver", default="highs", show_default=True,
                     help="highs (fast, exact over query classes) or pulp (per-query CBC "
                     "reference; small batches only), or pulp:<PuLP solver>."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return common_options(func)


def _opt(value: object) -> str:
    return "-" if value is None else f"{value:g}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="offline-sched")
def cli() -> None:
    """Offline, energy-aware scheduling of a day's LLM queries over a heterogeneous fleet.

    \b
    Example:
      offline-sched compare examples/day.csv --systems hybrid --lam 0.5 --out report.csv
    """


@cli.command()
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
    marks = {}  # phase -> seconds since start: the summary line reports them

    def progress(msg: str, phase: str | None = None) -> None:
        now = time.perf_counter() - t0
        if phase is None:  # the dask engine's lines: mark its phases by their wording
            phase = "built" if "solving" in msg else "solved" if msg.startswith("writing") \
                else None
        if phase:
            marks[phase] = now
        say(f"[{now:7.2f} s] {msg}", quiet)

    if engine == "dask":
        if solver != "highs":
            raise CliError("--engine dask solves with --solver highs only", 2)
        from ..engines.dask import solve_dask

        sched = solve_dask(workload, systems, lam, out, time_limit=time_limit,
                           strict_range=strict_range, progress=progress).schedule
    else:
        progress(f"reading {workload} and building the problem ...")
        problem = problem_for(workload, systems, strict_range)
        progress(f"{problem.n_queries} queries in {problem.classes.n_classes} classes, "
                 f"{problem.n_systems} systems; solving ...", "built")
        sched = milp(problem, lam, solver=solver, time_limit=time_limit)
        progress(f"solved ({sched.info.get('method')}, gap {sched.info.get('gap', 0):.2g}); "
                 f"writing {out} ...", "solved")
        write_schedule(sched, out)
    progress("done", "done")
    s = sched.summary
    built, solved, done = (marks.get(k, float("nan")) for k in ("built", "solved", "done"))
    click.echo(f"{s['policy']}: {s['queries']} queries, "
               f"classes={sched.problem.classes.n_classes}, lam={lam:g}, "
               f"feasible={s['feasible']}, status={s['status']}, "
               f"objective={_fmt(s['objective'])}, gap={s['gap']:.2g}, "
               f"energy_kwh={_fmt(s['energy_kwh'])}, runtime_s={_fmt(s['runtime_s'])}, "
               f"makespan_s={_fmt(s['makespan_s'])}, build_s={built:.3g}, "
               f"solve_s={s['solve_s']:.3g}, write_s={done - solved:.3g}, "
               f"total_s={time.perf_counter() - t0:.3g}")
    _warn_guards(s)
    click.echo(sched.by_system.to_string(index=False, float_format=_fmt))
    click.echo(f"wrote {out}")


def _warn_guards(summary: dict) -> None:
    if summary.get("clipped"):
        click.echo(f"warning: {summary['clipped']} (query, system) predictions were clipped at "
                   "a cost-model floor", err=True)
    if summary.get("extrapolated"):
        click.echo(f"warning: {summary['extrapolated']} (query, system) predictions lie outside "
                   "the measured token range", err=True)


@cli.command()
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
    click.echo(frame[show].to_string(index=False, float_format=_fmt))
    _warn_guards(frame.iloc[0].to_dict())
    if not policies:
        from ..studies.compare import DEFAULT_POLICIES

        skipped = [n for n in DEFAULT_POLICIES if n not in set(frame["policy"])]
        if skipped:
            click.echo(f"note: skipped {', '.join(skipped)}: the threshold policies need one "
                       "gpu = true and one non-GPU system, all-gpu a gpu = true system",
                       err=True)
    click.echo(f"wrote {out}")


@cli.command("fit")
@click.argument("table", type=click.Path(dir_okay=False))
@click.option("--form", type=click.Choice(["default", "paper"]), default="default",
              show_default=True, help="default: physical prefill + per-step model, fitted to "
              "relative error with non-negative coefficients; paper: a0*in + a1*out + "
              "a2*in*out (OLS, no intercept).")
@click.option("--cv", "cv_folds", type=click.IntRange(min=0), default=9, show_default=True,
              help="Folds of the cross-validated MAPE (0: skip).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="Fitted-coefficients CSV (default: print it).")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), default=None,
              help="Also write predicted-vs-measured and residual PNGs to this folder "
              "(needs offline-sched[plot]).")
@handle_errors
def fit_cmd(table, form, cv_folds, out, plot_dir):
    """Fit energy and runtime models per (model, system) of a measurement table.

    Reports R2, MAPE, cross-validated MAPE, n and the measured token range per
    (model, system, metric).

    \b
    Example:
      offline-sched fit measurements/a100/llama-2-7b.csv --form default --out coef.csv
      offline-sched fit measurements/m1-pro/llama-2-7b.csv --plot fit-plots
    """
    from ..costs.fit import coefficients_frame, fit
    from ..costs.tables import read_table

    frame_in = read_table(table)
    models = fit(frame_in, form=form, cv_folds=cv_folds, source=table)
    frame = coefficients_frame(models)
    if out:
        write_frame(frame, out)
        cols = ["model", "system", "metric", "form", "r2", "mape", "cv_mape", "n",
                "input_min", "input_max", "output_min", "output_max"]
        click.echo(frame[cols].to_string(index=False, float_format=_fmt))
        click.echo(f"wrote {out}")
    else:
        click.echo(frame.to_csv(index=False), nl=False)
    if plot_dir:
        from ..plots.fit import plot_fit

        for path in plot_fit(models, frame_in, plot_dir):
            click.echo(f"wrote {path}", err=True)


@cli.command()
@handle_errors
def fleets():
    """List the bundled fleets with their systems.

    \b
    Example:
      offline-sched fleets
    """
    from ..fleet.systems import bundled_fleets, load_systems

    for name in bundled_fleets():
        fleet = load_systems(name)
        click.echo(f"{name}: {fleet.description} (objective {fleet.objective})")
        rows = pd.DataFrame([{
            "system": s.name, "model": s.model, "instances": s.instances, "gpu": s.gpu,
            "capacity_s": s.capacity_s, "max_in": _opt(s.max_input_tokens),
            "max_out": _opt(s.max_output_tokens), "max_total": _opt(s.max_total_tokens),
            "accuracy": _opt(s.accuracy),
            "share": f"[{s.min_share:g}, {s.max_share:g}]",
        } for s in fleet])
        click.echo("  " + rows.to_string(index=False).replace("\n", "\n  "))


from .measure import measure  # noqa: E402  (lazy inside: no torch import here)

cli.add_command(measure)
from .study import sweep, thresholds  # noqa: E402

cli.add_command(sweep)
cli.add_command(thresholds)


def main() -> None:  # pragma: no cover
    """Entry point for ``python -m offline_sched``."""
    cli(prog_name="offline-sched")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

