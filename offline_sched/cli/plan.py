"""``offline-sched plan-check``: validate an executable plan written by anyone."""

from __future__ import annotations

import warnings

import click
import numpy as np

from ..errors import CostModelWarning
from .common import CliError, echo_json, handle_errors, json_option, verbosity_options


@click.command("plan-check")
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option("--systems", "-s", default="hybrid", show_default=True,
              help="Bundled fleet name or fleet TOML file the plan runs on.")
@click.option("--workload", "-w", default=None, type=click.Path(dir_okay=False),
              help="The job list: also check that every query appears exactly once, inside "
              "its release/deadline, and no shorter than its predicted runtime.")
@click.option("--slot-s", "slot_s", type=click.FloatRange(min=0.0, min_open=True),
              default=None, metavar="S", help="Slot length of a plan in time [s] (default: "
              "the fleet's slot_s, else one slot spanning the window).")
@json_option
@verbosity_options
@handle_errors
def plan_check(plan, systems, workload, slot_s, as_json, quiet):
    """Check a plan: overlaps, windows, deadlines, replicas, missing or duplicate queries.

    Prints a one-line verdict; exit 0 when the plan is executable, 3 when it is not.

    \b
    Example:
      offline-sched solve examples/day.csv --plan plan.csv
      offline-sched plan-check plan.csv --systems hybrid --workload examples/day.csv
      offline-sched plan-check plan.csv -s examples/hybrid-day.toml -w examples/day.csv
    """
    from ..dispatch.check import check_plan, read_plan
    from ..fleet import load_systems
    from ..problem import build_problem
    from ..workload import load_workload

    frame = read_plan(plan)
    fleet = load_systems(systems)
    wl = runtime = None
    if workload:
        wl = load_workload(workload)
        with warnings.catch_warnings():  # extrapolation does not matter for checking
            warnings.simplefilter("ignore", CostModelWarning)
            problem = build_problem(wl, fleet)
        runtime = problem.runtime_s[problem.classes.query_class]
    from ..planner.slots import make_grid

    grid = make_grid(fleet, slot_s if slot_s is not None else fleet.slot_s)
    slots = None if grid.n_slots == 1 else np.full(grid.n_slots, grid.slot_s)
    verdict = check_plan(frame, fleet, wl, runtime_s=runtime, slot_s=slots, source=str(plan))
    if as_json:
        echo_json({"ok": verdict.ok, "verdict": verdict.verdict, "problems": verdict.problems,
                   "counts": verdict.counts})
    else:
        click.echo(verdict.verdict)
        if not quiet:
            for line in verdict.problems:
                click.echo(f"  {line}", err=True)
    if not verdict.ok:
        raise CliError(f"plan {plan} is not executable", 3)
