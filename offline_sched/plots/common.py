"""Shared pieces of the figures: the matplotlib import with its install message."""

from __future__ import annotations

from typing import Any

from ..errors import InputError


def figure_class() -> Any:
    """``matplotlib.figure.Figure``, or :class:`InputError` saying how to install it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError("plotting needs matplotlib: pip install 'offline-sched[plot]'") from None
    return Figure
