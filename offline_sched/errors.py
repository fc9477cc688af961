"""Exception hierarchy of offline_sched.

Every error the library raises on purpose derives from :class:`OfflineSchedError`, so callers
(and the CLI) can catch one type. Messages are one line and name the file, row, column and
value where there is one.
"""

from __future__ import annotations


class OfflineSchedError(Exception):
    """Base class of all offline_sched errors."""

    exit_code: int = 1


class InputError(OfflineSchedError, ValueError):
    """Bad user input: a file, a column, a value or an argument."""

    exit_code = 2


class InfeasibleError(OfflineSchedError):
    """No schedule satisfies the constraints (capacity, eligibility, shares)."""

    exit_code = 3


class FitError(OfflineSchedError):
    """A cost model cannot be fitted from the given table."""

    exit_code = 2


class MeasurementError(OfflineSchedError):
    """A measurement could not be taken (meter unreadable, model unavailable, ...)."""

    exit_code = 1


class SolverError(OfflineSchedError):
    """A solver failed or is not installed."""

    exit_code = 1


class SolverTimeLimit(SolverError):
    """A solver reached its time limit before it had any result to return."""


def where(path: object | None = None, row: int | None = None, column: str | None = None,
          value: object = None, *, has_value: bool = False) -> str:
    """Format a location prefix such as ``jobs.csv: row 12, column 'input_tokens', value '-3'``.

    Args:
        path: file the problem is in, if any.
        row: 1-based data row (header excluded), if any.
        column: column name, if any.
        value: offending value; shown when ``has_value`` is true.
        has_value: whether ``value`` should be shown (lets ``None`` be shown too).

    Returns:
        The prefix, without a trailing colon.
    """
    parts = []
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column {column!r}")
    if has_value:
        missing = not isinstance(value, str | type(None)) \
            and str(value) in ("<NA>", "nan", "NaT")  # a cell the reader left empty (or NA)
        parts.append("value '' (empty)" if missing else f"value {str(value)!r}")
    loc = ", ".join(parts)
    if path is not None:
        return f"{path}: {loc}" if loc else str(path)
    return loc


class CostModelWarning(UserWarning):
    """Predictions were clipped at a cost-model floor or extrapolated beyond measured tokens.

    The library warns once per built problem; the CLI prints each warning once on stderr.
    """
