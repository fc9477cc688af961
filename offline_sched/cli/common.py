"""Shared pieces of the click commands: one-line errors, exit codes, progress, formatting."""

from __future__ import annotations

import functools
import sys

import click

from ..errors import OfflineSchedError


class CliError(click.ClickException):
    """A library error shown as one line, with the error's exit code."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def handle_errors(func):
    """Turn :class:`OfflineSchedError` (and Ctrl-C) into a one-line message and exit code.

    Exit codes: 2 bad input, 3 infeasible, 1 other library failures, 130 interrupted.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except OfflineSchedError as exc:
            raise CliError(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise CliError("interrupted; no output written", 130) from None
        except MemoryError:
            raise CliError("out of memory; try a smaller workload or --engine dask", 1) from None

    return wrapper


def say(msg: str, quiet: bool) -> None:
    """Progress line on stderr for a person watching a terminal.

    Suppressed by --quiet and when stderr is not a terminal, so scripts see nothing on stderr
    but warnings and the one-line error.
    """
    if not quiet and getattr(sys.stderr, "isatty", lambda: False)():
        click.echo(msg, err=True)


def fmt(value: float) -> str:
    """Six significant digits, for tables on the terminal."""
    return f"{value:.6g}"


def common_options(func):
    """Add the options every workload command shares.

    They are --systems, --time-limit, --strict-range and --quiet.
    """
    opts = [
        click.option("--systems", "-s", default="hybrid", show_default=True,
                     help="Bundled fleet name (see `offline-sched fleets`) or fleet TOML file."),
        click.option("--time-limit", type=click.FloatRange(min=0.0, min_open=True),
                     default=None, help="Seconds per MILP solve; returns the best schedule "
                     "found with its gap."),
        click.option("--strict-range", is_flag=True, help="Refuse queries outside a cost "
                     "model's measured token range instead of extrapolating."),
        click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


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


def warn_guards(summary: dict) -> None:
    """Print the cost-model guard counts (clipped, extrapolated) once, on stderr."""
    if summary.get("clipped"):
        click.echo(f"warning: {summary['clipped']} (query, system) predictions were clipped at "
                   "a cost-model floor", err=True)
    if summary.get("extrapolated"):
        click.echo(f"warning: {summary['extrapolated']} (query, system) predictions lie outside "
                   "the measured token range", err=True)
