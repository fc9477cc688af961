"""Command-line interface ``offline-sched``: click commands that parse, call the library, write."""

from .main import cli

__all__ = ["cli"]
