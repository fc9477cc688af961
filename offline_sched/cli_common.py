"""Shared pieces of the click commands: one-line errors, exit codes, progress, formatting."""

from __future__ import annotations

import functools

import click

from .errors import OfflineSchedError


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
    """Progress line on stderr (suppressed by --quiet)."""
    if not quiet:
        click.echo(msg, err=True)


def fmt(value: float) -> str:
    """Six significant digits, for tables on the terminal."""
    return f"{value:.6g}"
