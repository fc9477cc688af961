"""CPU energy from Linux RAPL powercap files (``/sys/class/powercap/intel-rapl:*``).

Each zone has ``energy_uj``, a microjoule counter that wraps to zero after
``max_energy_range_uj``; a window's energy is the counter difference, plus the range when the
counter wrapped (at most one wrap per window can be detected, i.e. windows must be shorter than
a wrap period, minutes at full load). The meter sums the package zones (``name`` starting with
``package``) and, if wanted, their ``dram`` sub-zones; ``psys`` is skipped because it already
contains the packages. Since Linux 5.10 ``energy_uj`` is readable only by root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import MeasurementError
from .base import Meter

DEFAULT_ROOT = "/sys/class/powercap"


@dataclass(frozen=True)
class RaplZone:
    """One powercap zone: its directory, name and counter range in microjoules."""

    path: Path
    name: str
    max_range_uj: int


def counter_delta_uj(start_uj: int, end_uj: int, max_range_uj: int) -> int:
    """Difference of two readings of a wrapping counter.

    Args:
        start_uj: reading at the start of the window.
        end_uj: reading at the end of the window.
        max_range_uj: value after which the counter wraps to zero.

    Returns:
        Microjoules used in the window (assuming at most one wrap).
    """
    if end_uj >= start_uj:
        return end_uj - start_uj
    return max_range_uj - start_uj + end_uj


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except PermissionError:
        raise MeasurementError(
            f"{path}: permission denied; RAPL energy counters are readable only by root "
            "(Linux >= 5.10): run as root, or `sudo chmod a+r "
            f"{path.parent.parent}/*/energy_uj`, or use --meter none") from None
    except (OSError, ValueError) as exc:
        raise MeasurementError(f"{path}: cannot read RAPL counter: {exc}") from None


def find_zones(root: str | os.PathLike[str] = DEFAULT_ROOT,
               include_dram: bool = True) -> list[RaplZone]:
    """List the package (and optionally DRAM) zones under a powercap root.

    Args:
        root: the powercap directory.
        include_dram: also sum the ``dram`` sub-zones of each package.

    Returns:
        The zones, sorted by path.

    Raises:
        MeasurementError: no RAPL package zone under ``root``.
    """
    base = Path(root)
    zones = []
    for d in sorted(base.glob("intel-rapl:*")) if base.is_dir() else []:
        name_file = d / "name"
        if not name_file.is_file():
            continue
        name = name_file.read_text().strip()
        top = d.name.count(":") == 1
        if (top and name.startswith("package")) or (not top and include_dram and name == "dram"):
            zones.append(RaplZone(d, name, _read_int(d / "max_energy_range_uj")))
    if not zones:
        raise MeasurementError(f"{base}: no RAPL package zones (not Linux on Intel/AMD, or the "
                               "intel_rapl driver is not loaded); use --meter none")
    return zones


class RaplMeter(Meter):
    """Sum of RAPL package (and DRAM) counters.

    Args:
        root: powercap directory (a fake tree in tests).
        include_dram: also sum DRAM sub-zones.
        **kwargs: passed to :class:`~offline_sched.measure.base.Meter` (``clock``).
    """

    name = "rapl"
    min_window_s = 0.05

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT, include_dram: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = Path(root)
        self.include_dram = include_dram
        self._zones: list[RaplZone] | None = None
        self._start_uj: list[int] = []

    @property
    def zones(self) -> list[RaplZone]:
        """The zones summed (discovered on first use)."""
        if self._zones is None:
            self._zones = find_zones(self.root, self.include_dram)
        return self._zones

    def check(self) -> None:
        """Read every zone once; raises :class:`MeasurementError` if one is unreadable."""
        self._read_all()

    def _read_all(self) -> list[int]:
        return [_read_int(z.path / "energy_uj") for z in self.zones]

    def _begin(self) -> None:
        self._start_uj = self._read_all()

    def _end(self, duration_s: float) -> float | None:
        end = self._read_all()
        total = sum(counter_delta_uj(s, e, z.max_range_uj)
                    for s, e, z in zip(self._start_uj, end, self.zones, strict=True))
        return total / 1e6
