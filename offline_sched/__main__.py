"""``python -m offline_sched`` works like ``offline-sched``."""

from .cli import cli

if __name__ == "__main__":  # pragma: no cover
    cli(prog_name="offline-sched")
