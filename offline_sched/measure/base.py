"""The energy-meter interface: start a window, stop it, get an :class:`EnergyReading`.

Every meter measures the energy of one time window. Subclasses implement ``_begin`` (read the
counters) and ``_end`` (read them again and return joules); the base class does the timing, so
``duration_s`` is always wall-clock time of the window.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..errors import MeasurementError


@dataclass(frozen=True)
class EnergyReading:
    """Energy of one measured window.

    Attributes:
        energy_j: energy over the window in joules; ``None`` when the meter measures nothing.
        duration_s: wall-clock length of the window in seconds.
        meter: name of the meter that took the reading.
    """

    energy_j: float | None
    duration_s: float
    meter: str

    @property
    def power_w(self) -> float | None:
        """Mean power over the window in watts (``None`` without energy or duration)."""
        if self.energy_j is None or self.duration_s <= 0:
            return None
        return self.energy_j / self.duration_s


@dataclass
class MeterWindow:
    """Holder yielded by :meth:`Meter.window`; ``reading`` is set when the block exits."""

    reading: EnergyReading | None = None


class Meter:
    """Base class of energy meters.

    Attributes:
        name: short meter name written to the table's ``meter`` column.
        min_window_s: shortest window the meter resolves well; the harness repeats a run
            inside one window until the window is at least this long.
        hardware: hardware name the meter knows (GPU name for NVML), or ``None``.
    """

    name: str = "meter"
    min_window_s: float = 0.0
    hardware: str | None = None

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._t0: float | None = None

    def check(self) -> None:
        """Raise :class:`MeasurementError` if the meter cannot be used here (default: fine)."""

    def start(self) -> None:
        """Open a window: read the counters and start the clock."""
        if self._t0 is not None:
            raise MeasurementError(f"{self.name} meter: start() called twice without stop()")
        self._begin()
        self._t0 = self._clock()

    def stop(self) -> EnergyReading:
        """Close the window opened by :meth:`start`.

        Returns:
            The energy and duration of the window.

        Raises:
            MeasurementError: no window open, or the counters could not be read.
        """
        if self._t0 is None:
            raise MeasurementError(f"{self.name} meter: stop() called without start()")
        duration_s = self._clock() - self._t0
        self._t0 = None
        return EnergyReading(self._end(duration_s), duration_s, self.name)

    @contextlib.contextmanager
    def window(self) -> Iterator[MeterWindow]:
        """Measure the ``with`` block; the reading is in the yielded holder afterwards."""
        holder = MeterWindow()
        self.start()
        try:
            yield holder
        except BaseException:
            self.cancel()
            raise
        holder.reading = self.stop()

    def cancel(self) -> None:
        """Drop the open window, if any, without a reading (after an exception)."""
        self._t0 = None
        self._abort()

    def close(self) -> None:
        """Release resources (NVML handle, subprocess); safe to call twice."""

    def _begin(self) -> None:
        """Read the counters at the start of a window."""

    def _end(self, duration_s: float) -> float | None:
        """Read the counters at the end of a window and return the window's joules."""
        return None

    def _abort(self) -> None:
        """Drop an open window after an exception (default: nothing to undo)."""


class NullMeter(Meter):
    """No meter: energy stays empty, only runtime is measured.

    Args:
        reason: why there is no meter (shown to the user, e.g. RAPL needing root).
    """

    name = "none"

    def __init__(self, reason: str = "no energy meter selected", **kwargs) -> None:
        super().__init__(**kwargs)
        self.reason = reason


def measure_idle_power_w(meter: Meter, idle_s: float,
                         sleep: Callable[[float], None] = time.sleep) -> float | None:
    """Measure the mean power of the idle system over ``idle_s`` seconds.

    Args:
        meter: the meter to read.
        idle_s: length of the idle window; ``0`` skips the measurement.
        sleep: function that waits (injectable for tests).

    Returns:
        Idle power in watts, or ``None`` when skipped or the meter measures no energy.
    """
    if idle_s <= 0 or isinstance(meter, NullMeter):
        return None
    with meter.window() as win:
        sleep(idle_s)
    return win.reading.power_w if win.reading is not None else None
