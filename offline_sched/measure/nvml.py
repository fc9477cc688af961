"""NVIDIA GPU energy from NVML's total-energy counter (``pynvml``), summed over the GPUs used.

``nvmlDeviceGetTotalEnergyConsumption`` returns the millijoules a GPU has used since the driver
was loaded (Volta and newer). The counter is refreshed by the driver only every few tens to
hundreds of milliseconds, so a window of a few milliseconds can read zero or a whole refresh
period too much. The meter therefore declares ``min_window_s`` (1 s by default) and the harness
repeats a generation inside one window until the window is at least that long, then divides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import MeasurementError
from .base import Meter

INSTALL_HINT = "pip install 'offline-sched[measure]' (provides the pynvml module)"


def _import_pynvml():
    try:
        import pynvml  # lazy: measure extra
    except ImportError as exc:
        raise MeasurementError(f"NVML meter needs pynvml: {INSTALL_HINT} ({exc})") from None
    return pynvml


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlMeter(Meter):
    """Sum of NVML total-energy counters of the given GPUs.

    Args:
        indices: NVML device indices to sum over; ``None`` means all GPUs NVML sees.
        min_window_s: shortest window the harness should measure (see module docstring).
        **kwargs: passed to :class:`~offline_sched.measure.base.Meter` (``clock``).
    """

    name = "nvml"

    def __init__(self, indices: Sequence[int] | None = None, min_window_s: float = 1.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.min_window_s = min_window_s
        self._indices = None if indices is None else list(indices)
        self._nvml: Any = None  # the (untyped) pynvml module while NVML is open
        self._handles: list = []
        self._start_mj: list[int] = []

    @property
    def device_count(self) -> int:
        """Number of GPUs summed (opens NVML if needed)."""
        self._open()
        return len(self._handles)

    def check(self) -> None:
        """Open NVML and read every counter once.

        Raises:
            MeasurementError: pynvml missing, no driver, or energy counter unsupported.
        """
        self._open()
        self._read_mj()

    def _open(self) -> None:
        if self._nvml is not None:
            return
        nvml = _import_pynvml()
        try:
            nvml.nvmlInit()
            count = nvml.nvmlDeviceGetCount()
            indices = list(range(count)) if self._indices is None else self._indices
            bad = [i for i in indices if not 0 <= i < count]
            if bad or not indices:
                nvml.nvmlShutdown()
                raise MeasurementError(f"NVML sees {count} GPU(s); cannot measure GPU "
                                       f"indices {bad or indices}")
            handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in indices]
            names = sorted({_text(nvml.nvmlDeviceGetName(h)) for h in handles})
        except nvml.NVMLError as exc:
            raise MeasurementError(f"NVML unavailable (is the NVIDIA driver loaded?): {exc}") \
                from None
        self._nvml, self._handles = nvml, handles
        self.hardware = " + ".join(names)

    def _read_mj(self) -> list[int]:
        nvml = self._nvml
        try:
            return [int(nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self._handles]
        except nvml.NVMLError as exc:
            raise MeasurementError(
                f"NVML total-energy counter unreadable ({exc}); it needs a Volta or newer "
                "GPU; use --meter none to record runtime only") from None

    def _begin(self) -> None:
        self._open()
        self._start_mj = self._read_mj()

    def _end(self, duration_s: float) -> float | None:
        end_mj = self._read_mj()
        return sum(e - s for s, e in zip(self._start_mj, end_mj, strict=True)) / 1000.0

    def close(self) -> None:
        """Shut NVML down if this meter opened it."""
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass
            self._nvml, self._handles = None, []


def nvml_indices_for_cuda(cuda_indices: Sequence[int]) -> list[int] | None:
    """Map torch CUDA indices to NVML indices (they differ under ``CUDA_VISIBLE_DEVICES``).

    Matches devices by UUID; falls back to the indices unchanged when the mapping cannot be made.

    Args:
        cuda_indices: torch device indices.

    Returns:
        NVML indices, or ``None`` for an empty input.
    """
    if not cuda_indices:
        return None
    try:
        import torch  # lazy: measure extra

        nvml = _import_pynvml()
        nvml.nvmlInit()
        try:
            out = []
            for i in cuda_indices:
                uuid = str(torch.cuda.get_device_properties(i).uuid)
                uuid = uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
                out.append(int(nvml.nvmlDeviceGetIndex(nvml.nvmlDeviceGetHandleByUUID(uuid))))
            return out
        finally:
            nvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - best effort; identity is the documented fallback
        return list(cuda_indices)
