"""Study commands: ``offline-sched sweep`` (λ trade-off) and ``offline-sched thresholds``.

Registered on the main group by :mod:`offline_sched.cli.main`. Like every command they
parse their options, call one library function (:func:`offline_sched.studies.sweep`,
:func:`offline_sched.studies.threshold_study`), write their outputs atomically and turn
library errors into one line with the error's exit code (2 bad input, 3 infeasible).

This module does not import :mod:`offline_sched.cli.main` (which imports it), so it carries its
own small error wrapper.
"""

from __future__ import annotations

import click

from ..io.atomic import write_frame
from .common import (
    check_outputs,
    common_options,
    handle_errors,
    plan_options,
    run_inputs,
    say,
)
from .common import fmt as _fmt


@click.command("sweep")
@click.argument("workload", type=click.Path(dir_okay=False, allow_dash=True))
@common_options
@click.option("--lam", "-l", "lam_text", default="0:1:0.1", show_default=True,
              help="λ values: start:stop:step (stop included) or a comma list, in [0, 1].")
@click.option("--policy", "-p", "policies", multiple=True,
              help="Policy to include (repeatable); default: all that apply, plus "
              "only-<system> for each system.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of `random`.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="sweep.csv",
              show_default=True, help="CSV, one row per (λ, policy).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also draw energy vs runtime (or accuracy) to this PNG "
              "(needs offline-sched[plot]).")
@click.option("--metric", type=click.Choice(["auto", "runtime", "accuracy"]), default="auto",
              show_default=True, help="Second axis of the plot (auto: accuracy for "
              "energy-accuracy fleets).")
@plan_options
@handle_errors
def sweep(workload, systems, time_limit, strict_range, file_format, columns, quiet, lam_text,
          policies, seed, out, plot_path, metric, settings):
    """Sweep λ: every policy at every λ, one CSV row per (λ, policy).

    The MILP's model is built once and re-solved per λ. The plot shows energy against mean
    runtime (or accuracy): the MILP's Pareto frontier as a line, the baselines as points.

    \b
    Example:
      offline-sched sweep examples/day.csv --systems hybrid --lam 0:1:0.1 \\
          --out sweep.csv --plot sweep.png
      offline-sched sweep jobs.csv -s multi-llm --lam 0,0.5,1 --metric accuracy
    """
    from ..api import problem_for
    from ..studies import milp_frontier, parse_lams, second_metric
    from ..studies import sweep as run_sweep

    lams = parse_lams(lam_text)
    check_outputs(("--out", out), ("--plot", plot_path),
                  inputs=run_inputs(workload, systems, settings))
    say(f"reading {workload} and building the problem ...", quiet)
    problem = problem_for(workload, systems, strict_range, fmt=file_format, columns=columns)
    say(f"{problem.n_queries} queries in {problem.classes.n_classes} classes; sweeping "
         f"{len(lams)} λ values ...", quiet)

    def progress(i: int, n: int, lam: float) -> None:
        say(f"  λ = {lam:g} ({i + 1}/{n})", quiet)

    frame = run_sweep(problem, lams, list(policies) or None, seed=seed,
                      time_limit=time_limit, progress=progress, settings=settings)
    if plot_path:
        from ..plots.studies import plot_sweep

        plot_sweep(frame, plot_path,
                   metric=second_metric(problem) if metric == "auto" else metric)
    write_frame(frame, out)
    if "milp" in set(frame["policy"]):
        front = milp_frontier(frame, second_metric(problem))
        click.echo(front.to_string(index=False, float_format=_fmt))
    if plot_path:
        click.echo(f"wrote {plot_path}")
    click.echo(f"wrote {out} ({len(frame)} rows)")


@click.command("thresholds")
@click.argument("workload", type=click.Path(dir_okay=False, allow_dash=True))
@common_options
@click.option("--lam", "-l", type=click.FloatRange(0.0, 1.0), default=1.0, show_default=True,
              help="λ of the objective that picks the best threshold (1: energy only, as in "
              "the e-Energy paper).")
@click.option("--feature", "-f", "features", multiple=True,
              type=click.Choice(["input", "output", "product"]),
              help="Threshold feature (repeatable); default: all three.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="thresholds.csv",
              show_default=True, help="CSV, one row per (feature, threshold) plus the "
              "reference and MILP rows.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also draw energy and mean runtime against each threshold to this PNG "
              "(needs offline-sched[plot]).")
@click.option("--method", type=click.Choice(["model", "paper-script"]), default="model",
              show_default=True, help="model: the fleet's per-query cost models. "
              "paper-script: the e-Energy paper's published threshold script (per-token "
              "energy of the measured input-sweep cells, output length ignored).")
@click.option("--pool-models/--no-pool-models", default=True, show_default=True,
              help="paper-script: pool every model measured on each system (as the script "
              "does) or use the Llama-2 rows only.")
@handle_errors
def thresholds(workload, systems, time_limit, strict_range, file_format, columns, quiet, lam,
               features, out, plot_path, method, pool_models):
    """The e-Energy threshold study: energy and runtime as the token threshold moves.

    Queries at or below the threshold go to the small (non-GPU) system, the rest to the GPU
    system; every threshold the workload suggests is scored, next to the all-small and
    all-GPU schedules and the MILP.

    \b
    Example:
      offline-sched thresholds examples/day.csv --systems hybrid \\
          --out thresholds.csv --plot thresholds.png
      offline-sched thresholds examples/day.csv --method paper-script --out script.csv
    """
    from ..api import problem_for
    from ..policies import FEATURES
    from ..studies import best_thresholds, threshold_study

    check_outputs(("--out", out), ("--plot", plot_path), inputs=run_inputs(workload, systems))
    say(f"reading {workload} and building the problem ...", quiet)
    problem = problem_for(workload, systems, strict_range, fmt=file_format, columns=columns)
    say(f"{problem.n_queries} queries in {problem.classes.n_classes} classes; scoring "
         "thresholds ...", quiet)
    default = ["input"] if method == "paper-script" else list(FEATURES)
    frame = threshold_study(problem, lam, list(features) or default, time_limit=time_limit,
                            method=method, pool_models=pool_models)
    if plot_path:
        from ..plots.studies import plot_thresholds

        title = (f"{problem.workload.source}: the e-Energy script's arithmetic"
                 + ("" if pool_models else " (Llama-2 only)") if method == "paper-script"
                 else f"{problem.workload.source} on {problem.fleet.name}, λ = {lam:g}")
        plot_thresholds(frame, plot_path, title=title)
    write_frame(frame, out)
    show = ["policy", "threshold", "feasible", "energy_kwh", "mean_runtime_s",
            "energy_saving_vs_all_gpu_pct", "runtime_change_vs_all_gpu_pct"]
    click.echo(best_thresholds(frame)[show].to_string(index=False, float_format=_fmt))
    if plot_path:
        click.echo(f"wrote {plot_path}")
    click.echo(f"wrote {out} ({len(frame)} rows)")


__all__ = ["sweep", "thresholds"]
