"""Progress of long work, passed as data: a phase and a message, never parsed from text."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class Phase(StrEnum):
    """The stage a long job is starting (the CLI times the stages from these marks)."""

    READ = "read"
    SOLVE = "solve"
    EXPAND = "expand"
    WRITE = "write"
    DONE = "done"


Progress = Callable[[Phase, str], None]
"""``progress(phase, message)``: called as each stage starts."""


def no_progress(phase: Phase, message: str) -> None:
    """A :data:`Progress` that ignores everything."""
