"""Shared pieces of the click commands: one-line errors, exit codes, progress, formatting."""

from __future__ import annotations

import functools
import json
import math
import sys
import warnings
from collections.abc import Iterable

import click

from ..errors import InputError, OfflineSchedError


class CliError(click.ClickException):
    """A library error shown as one line, with the error's exit code."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares a ClassVar


def handle_errors(func):
    """Turn :class:`OfflineSchedError` (and Ctrl-C) into a one-line message and exit code.

    Library warnings are collected while the command runs and printed once each, as
    ``warning: ...`` lines on stderr. Exit codes: 2 bad input, 3 infeasible, 1 other library
    failures, 130 interrupted.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return func(*args, **kwargs)
            except OfflineSchedError as exc:
                raise CliError(str(exc), exc.exit_code) from None
            except KeyboardInterrupt:
                raise CliError("interrupted; no output written", 130) from None
            except MemoryError:
                raise CliError("out of memory; try a smaller workload or --engine dask",
                               1) from None
            finally:
                _print_warnings(caught)

    return wrapper


def _print_warnings(caught: Iterable[warnings.WarningMessage]) -> None:
    seen: set[str] = set()
    for w in caught:
        if issubclass(w.category, DeprecationWarning | PendingDeprecationWarning):
            continue
        text = str(w.message).splitlines()[0] if str(w.message) else w.category.__name__
        if text not in seen:
            seen.add(text)
            click.echo(f"warning: {text}", err=True)


VERBOSE = {"on": False}
"""Set by ``--verbose``: progress lines even when stderr is not a terminal."""


def say(msg: str, quiet: bool) -> None:
    """Progress line on stderr for a person watching a terminal.

    Suppressed by --quiet; shown on a terminal, or anywhere with --verbose. Scripts see
    nothing on stderr but warnings and the one-line error.
    """
    if quiet:
        return
    if VERBOSE["on"] or getattr(sys.stderr, "isatty", lambda: False)():
        click.echo(msg, err=True)


def _set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    VERBOSE["on"] = bool(value)
    return value


def verbosity_options(func):
    """--quiet/-q and --verbose/-v, on every command."""
    func = click.option("--verbose", "-v", is_flag=True, expose_value=False, is_eager=True,
                        callback=_set_verbose,
                        help="Progress lines on stderr even when it is not a terminal.")(func)
    return click.option("--quiet", "-q", is_flag=True,
                        help="No progress lines on stderr (warnings and errors only).")(func)


def json_option(func):
    """--json: the summary (or report) as JSON on stdout instead of tables."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the summary as JSON on stdout (for scripts and CI).")(func)


def echo_json(obj: object) -> None:
    """Print ``obj`` as JSON (NaN and ±inf as null) on stdout."""
    click.echo(json.dumps(_clean(obj), indent=1, default=str))


def _clean(obj: object) -> object:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def check_outputs(*pairs: tuple[str, object | None], inputs: Iterable[object] = ()) -> None:
    """Preflight every ``(role, path)`` output before any work (see ``check_output``)."""
    from ..io.outputs import check_output

    ins = list(inputs)
    named = [(role, p) for role, p in pairs if p is not None]
    for role, path in named:
        check_output(path, inputs=ins, role=role)  # type: ignore[arg-type]
    real = [str(p) for _, p in named if str(p) != "-"]
    if len(set(real)) < len(real):
        raise InputError(f"outputs: the same file is given twice ({', '.join(real)})")
    if sum(str(p) == "-" for _, p in named) > 1:
        raise InputError("outputs: only one output may go to stdout ('-')")


def fmt(value: float) -> str:
    """Six significant digits, for tables on the terminal."""
    return f"{value:.6g}"


def common_options(func):
    """Add the options every workload command shares.

    They are --systems, --time-limit, --strict-range, --format, --columns, --quiet and
    --verbose.
    """
    opts = [
        click.option("--systems", "-s", default="hybrid", show_default=True,
                     help="Bundled fleet name (see `offline-sched fleets`) or fleet TOML file."),
        click.option("--time-limit", type=click.FloatRange(min=0.0, min_open=True),
                     default=None, help="Seconds per MILP solve; returns the best schedule "
                     "found with its gap."),
        click.option("--strict-range", is_flag=True, help="Refuse queries outside a cost "
                     "model's measured token range instead of extrapolating."),
        click.option("--format", "file_format",
                     type=click.Choice(["csv", "parquet", "jsonl", "json"]), default=None,
                     help="Workload format (default: by suffix; CSV for '-', standard "
                     "input)."),
        click.option("--columns", default=None, metavar="MAP",
                     help="Map workload columns, e.g. input_tokens=ContextTokens,"
                     "output_tokens=GeneratedTokens (the Azure trace's names are recognised "
                     "anyway)."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return verbosity_options(func)


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


PLAN_OPTION_NAMES = ("slot_s", "carbon", "price", "start", "minimise", "time_format")


def plan_options(func):
    """Planning in time: --slot-s, --carbon, --price, --start, --minimise, --time-format.

    They override the fleet file's ``slot_s`` and ``[grid]`` table and reach the command as
    one ``settings`` argument (a :class:`~offline_sched.planner.settings.PlanSettings`).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from ..planner.settings import PlanSettings

        values = {name: kwargs.pop(name) for name in PLAN_OPTION_NAMES}
        try:
            settings = PlanSettings(**values)
        except OfflineSchedError as exc:
            raise CliError(str(exc), exc.exit_code) from None
        return func(*args, settings=settings, **kwargs)

    opts = [
        click.option("--slot-s", "slot_s", type=click.FloatRange(min=0.0, min_open=True),
                     default=None, metavar="S", help="Plan in time: slot length [s], dividing "
                     "the window (default: the fleet's slot_s, else one slot)."),
        click.option("--carbon", default=None, metavar="FILE", help="Carbon-intensity CSV "
                     "(gCO2/kWh; first column a timestamp, second the value)."),
        click.option("--price", default=None, metavar="FILE", help="Electricity-price CSV "
                     "(currency/kWh; first column a timestamp, second the value)."),
        click.option("--start", default=None, metavar="ISO", help="Timestamp of the window's "
                     "start in the signal files, e.g. 2020-05-15T00:00."),
        click.option("--minimise", type=click.Choice(["energy", "carbon", "cost"]),
                     default=None, help="Metric of the first objective term: energy (J, "
                     "default), carbon (g) or cost; idle and start-up energy included."),
        click.option("--time-format", "time_format", default=None, metavar="FMT",
                     help="strftime format of the signal timestamps, e.g. '%d%b%Y %H:%M:%S' "
                     "(default ISO 8601)."),
    ]
    for opt in reversed(opts):
        wrapper = opt(wrapper)
    return wrapper


def signal_inputs(settings: object) -> list[object]:
    """The signal files of the settings, as inputs no output may replace."""
    return [p for p in (getattr(settings, "carbon", None), getattr(settings, "price", None))
            if p is not None]


def run_inputs(workload: object, systems: object, settings: object = None) -> list[object]:
    """Every file a workload command reads, as inputs no output may replace.

    The workload, the fleet file, the signals given as options and the files the fleet file
    names (cost models, ``[grid]`` signals).
    """
    from ..fleet.toml import fleet_files

    return [workload, systems, *signal_inputs(settings), *fleet_files(systems)]
