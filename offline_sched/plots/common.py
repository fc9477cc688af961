"""Shared pieces of the figures.

The matplotlib import with its install message, an off-screen renderer for measuring
labels, and token-count tick labels.
"""

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


def agg_renderer(fig: Any) -> Any:
    """Give ``fig`` an off-screen Agg canvas (if it has none) and return its renderer.

    The renderer measures text, so labels can be placed where they cover no data point.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    return canvas.get_renderer()


def freeze_layout(fig: Any) -> Any:
    """Run ``fig``'s layout engine once, keep the axes where it put them, return a renderer.

    Text added afterwards (labels placed by measuring against the data) then neither moves
    the axes nor is moved by them.
    """
    renderer = agg_renderer(fig)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return renderer


def token_label(value: float, _pos: object = None) -> str:
    """A token count as a tick label: ``0``, ``1``, ``10``, ``100``, ``1k``, ``10k``, ``1M``.

    ``k``/``M``/``G`` only for round multiples: ``1024`` stays ``1024``.
    """
    if value == 0:
        return "0"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div and float(value / div).is_integer():
            return f"{value / div:g}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"
