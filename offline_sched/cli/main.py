"""Command-line interface: ``offline-sched`` (also ``python -m offline_sched``).

Every command parses its options, calls one library function, writes its output atomically
and turns library errors into one line on stderr with a non-zero exit code:
0 success, 2 bad input or usage, 3 infeasible, 1 other failures. One module per command
group: :mod:`.solve`, :mod:`.compare`, :mod:`.fit` (with ``fleets``), :mod:`.study`
(``sweep``, ``thresholds``), :mod:`.plan` (``plan-check``), :mod:`.measure`.
"""

from __future__ import annotations

import click

from .. import __version__
from .compare import compare
from .fit import fit_cmd, fleets
from .measure import measure  # lazy inside: no torch import here
from .plan import plan_check
from .solve import solve
from .study import sweep, thresholds


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="offline-sched")
def cli() -> None:
    """Offline, energy-aware scheduling of a day's LLM queries over a heterogeneous fleet.

    \b
    Example:
      offline-sched compare examples/day.csv --systems hybrid --lam 0.5 --out report.csv
    """


for _command in (solve, compare, fit_cmd, fleets, sweep, thresholds, measure, plan_check):
    cli.add_command(_command)
