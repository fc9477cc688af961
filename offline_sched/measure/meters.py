"""Energy meters behind one interface, and :func:`pick_meter` to choose one for a device.

=================  ======================================  ==============================
meter              source                                  typical device
=================  ======================================  ==============================
``nvml``           NVML total-energy counter (pynvml)      ``cuda``
``rapl``           Linux powercap ``energy_uj`` files      ``cpu``
``powermetrics``   macOS ``powermetrics`` (root)           ``mps`` (Apple Silicon)
``none``           nothing: energy empty, runtime only     any
=================  ======================================  ==============================
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..errors import InputError, MeasurementError
from .base import EnergyReading, Meter, MeterWindow, NullMeter, measure_idle_power_w
from .nvml import NvmlMeter
from .powermetrics import PowermetricsMeter, parse_powermetrics
from .rapl import DEFAULT_ROOT, RaplMeter, counter_delta_uj

__all__ = ["EnergyReading", "Meter", "MeterWindow", "NullMeter", "NvmlMeter", "RaplMeter",
           "PowermetricsMeter", "METER_KINDS", "pick_meter", "measure_idle_power_w",
           "counter_delta_uj", "parse_powermetrics"]

METER_KINDS = ("auto", "nvml", "rapl", "powermetrics", "none")
DEVICES = ("cuda", "cpu", "mps")
_AUTO = {"cuda": "nvml", "cpu": "rapl", "mps": "powermetrics"}


def _make(kind: str, gpu_indices: Sequence[int] | None,
          rapl_root: str | os.PathLike[str]) -> Meter:
    if kind == "nvml":
        return NvmlMeter(gpu_indices)
    if kind == "rapl":
        return RaplMeter(rapl_root)
    return PowermetricsMeter()


def pick_meter(device: str, kind: str = "auto", *, gpu_indices: Sequence[int] | None = None,
               rapl_root: str | os.PathLike[str] = DEFAULT_ROOT) -> Meter:
    """Choose and check the energy meter for a device.

    With ``kind="auto"`` the device's natural meter is tried (NVML for ``cuda``, RAPL for
    ``cpu``, powermetrics for ``mps``); if it cannot be used, a :class:`NullMeter` is returned
    whose ``reason`` says why (e.g. RAPL needs root), so runtime is still measured. A meter named
    explicitly must work.

    Args:
        device: ``cuda``, ``cpu`` or ``mps``.
        kind: one of :data:`METER_KINDS`.
        gpu_indices: NVML indices of the GPUs used (``None``: all).
        rapl_root: powercap directory for RAPL.

    Returns:
        A checked, ready meter.

    Raises:
        InputError: unknown device or meter kind.
        MeasurementError: an explicitly requested meter cannot be used.
    """
    if device not in DEVICES:
        raise InputError(f"device {device!r}: expected one of {', '.join(DEVICES)}")
    if kind not in METER_KINDS:
        raise InputError(f"meter {kind!r}: expected one of {', '.join(METER_KINDS)}")
    if kind == "none":
        return NullMeter("energy not measured (--meter none)")
    meter = _make(_AUTO[device] if kind == "auto" else kind, gpu_indices, rapl_root)
    try:
        meter.check()
    except MeasurementError as exc:
        meter.close()
        if kind != "auto":
            raise
        return NullMeter(f"no energy meter for {device}, recording runtime only: {exc}")
    return meter
