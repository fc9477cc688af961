"""``offline-sched fit`` and ``offline-sched fleets``: cost models and bundled fleets."""

from __future__ import annotations

import click
import pandas as pd

from ..io.atomic import write_frame
from .common import check_outputs, fmt, handle_errors, say, verbosity_options


def _opt(value: object) -> str:
    return "-" if value is None else f"{value:g}"


@click.command("fit")
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
@verbosity_options
@handle_errors
def fit_cmd(table, form, cv_folds, out, plot_dir, quiet):
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

    check_outputs(("--out", out), inputs=[table])
    frame_in = read_table(table)
    models = fit(frame_in, form=form, cv_folds=cv_folds, source=table)
    frame = coefficients_frame(models)
    if out:
        write_frame(frame, out)
        cols = ["model", "system", "metric", "form", "r2", "mape", "cv_mape", "n",
                "input_min", "input_max", "output_min", "output_max"]
        if not quiet:
            click.echo(frame[cols].to_string(index=False, float_format=fmt))
            click.echo(f"wrote {out}")
    else:
        click.echo(frame.to_csv(index=False), nl=False)
    if plot_dir:
        from ..plots.fit import plot_fit

        for path in plot_fit(models, frame_in, plot_dir):
            say(f"wrote {path}", quiet)


@click.command()
@verbosity_options
@handle_errors
def fleets(quiet):
    """List the bundled fleets with their systems.

    \b
    Example:
      offline-sched fleets
    """
    from ..fleet import bundled_fleets, load_systems

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
