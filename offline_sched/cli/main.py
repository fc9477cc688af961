"""Command-line interface: ``offline-sched`` (also ``python -m offline_sched``).

Every command parses its options, calls one library function, writes its output atomically
and turns library errors into one line on stderr with a non-zero exit code:
0 success, 2 bad input or usage, 3 infeasible, 1 other failures. One module per command
group: :mod:`.solve`, :mod:`.compare`, :mod:`.fit` (with ``fleets``), :mod:`.study`
(``sweep``, ``thresholds``), :mod:`.plan` (``plan-check``), :mod:`.measure`.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import __version__
from .compare import compare
from .fit import fit_cmd, fleets
from .measure import measure  # lazy inside: no torch import here
from .plan import plan_check
from .solve import solve
from .study import sweep, thresholds

NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())
"""Click's "no arguments: show the help" usage error (click ≥ 8.2)."""


class OneLineGroup(click.Group):
    """The command group, with usage errors on one line (``Error: ...``), exit 2.

    Click's own report is four lines (usage, hint, blank, error); every other error of this
    tool is one line, so scripts can read the reason from the last line of stderr alike.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102 - see the class
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        kwargs.setdefault("prog_name", "offline-sched")  # also under ``python -m``
        try:
            rv = super().main(*args, **kwargs)
        except click.UsageError as exc:
            if isinstance(exc, NO_ARGS_IS_HELP):  # no arguments: click's help, as ever
                exc.show()
                sys.exit(exc.exit_code)
            where = exc.ctx.command_path if exc.ctx is not None else "offline-sched"
            click.echo(f"Error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="offline-sched")
def cli() -> None:
    """Offline, energy-aware scheduling of a day's LLM queries over a heterogeneous fleet.

    \b
    Example:
      offline-sched compare examples/day.csv --systems hybrid --lam 0.5 --out report.csv
    """


for _command in (solve, compare, fit_cmd, fleets, sweep, thresholds, measure, plan_check):
    cli.add_command(_command)
