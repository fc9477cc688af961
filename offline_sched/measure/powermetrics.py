"""Apple Silicon energy from macOS ``powermetrics`` (CPU + GPU (+ ANE) power, needs root).

``powermetrics --samplers cpu_power,gpu_power -i MS`` prints one text block per sample with
its length (``(1004.64ms elapsed)``) and power lines (``CPU Power: 1034 mW``,
``GPU Power: 36 mW``, ``Combined Power (CPU + GPU + ANE): 1070 mW``). The meter runs it for the
length of a window, parses the samples, and integrates: energy = time-weighted mean sample
power × window duration. Windows shorter than a few sample intervals are unreliable, hence
``min_window_s``. Without root it runs ``sudo -n powermetrics``, which needs passwordless sudo.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from ..errors import MeasurementError
from .base import Meter

_HEADER = re.compile(r"\*\*\* Sampled system activity .*\(([\d.]+)\s*ms elapsed\)")
_POWER = re.compile(r"^\s*(CPU|GPU|ANE|Package|Combined) Power[^:]*:\s*([\d.]+)\s*(mW|W)\b")
_INTEL = re.compile(r"^\s*Intel energy model derived package power[^:]*:\s*([\d.]+)\s*(mW|W)")
ROOT_HINT = ("powermetrics needs root: run offline-sched with sudo, or allow passwordless sudo "
             "for /usr/bin/powermetrics, or use --meter none")


@dataclass(frozen=True)
class PowerSample:
    """One powermetrics sample: its length and the power readings in watts."""

    elapsed_s: float
    cpu_w: float | None = None
    gpu_w: float | None = None
    ane_w: float | None = None
    total_w: float | None = None

    @property
    def power_w(self) -> float:
        """Total power: the combined/package line if printed, else CPU + GPU + ANE."""
        if self.total_w is not None:
            return self.total_w
        return sum(v for v in (self.cpu_w, self.gpu_w, self.ane_w) if v is not None)


def _watts(value: str, unit: str) -> float:
    return float(value) / (1000.0 if unit == "mW" else 1.0)


def parse_powermetrics(text: str) -> list[PowerSample]:
    """Parse powermetrics text output into samples.

    Only the first ``CPU``/``GPU``/``ANE Power`` line of each sample counts (the GPU sampler
    repeats ``GPU Power`` in its own section). Samples without any power line are dropped.

    Args:
        text: the text output of ``powermetrics -f text`` (any number of samples).

    Returns:
        The samples in order.
    """
    samples: list[PowerSample] = []
    cur: dict[str, float] | None = None
    elapsed_s = 0.0

    def flush() -> None:
        if cur:
            samples.append(PowerSample(elapsed_s, cur.get("CPU"), cur.get("GPU"),
                                       cur.get("ANE"), cur.get("total")))

    for line in text.splitlines():
        head = _HEADER.search(line)
        if head:
            flush()
            cur, elapsed_s = {}, float(head.group(1)) / 1000.0
            continue
        if cur is None:
            continue
        m = _POWER.match(line)
        if m:
            kind = m.group(1) if m.group(1) in ("CPU", "GPU", "ANE") else "total"
            cur.setdefault(kind, _watts(m.group(2), m.group(3)))
            continue
        m = _INTEL.match(line)
        if m:
            cur.setdefault("total", _watts(m.group(1), m.group(2)))
    flush()
    return samples


def mean_power_w(samples: Sequence[PowerSample]) -> float:
    """Time-weighted mean power of samples in watts.

    Raises:
        MeasurementError: no samples (window shorter than one sample interval).
    """
    total_s = sum(s.elapsed_s for s in samples)
    if not samples or total_s <= 0:
        raise MeasurementError("powermetrics produced no power sample in the window; "
                               "make the window longer than the sample interval")
    return sum(s.power_w * s.elapsed_s for s in samples) / total_s


class PowermetricsMeter(Meter):
    """Runs ``powermetrics`` during each window and integrates its power samples.

    Args:
        interval_ms: powermetrics sample interval.
        command: the command to run instead of powermetrics (tests replay a recorded output).
        min_window_s: shortest window the harness should measure.
        **kwargs: passed to :class:`~offline_sched.measure.base.Meter` (``clock``).
    """

    name = "powermetrics"

    def __init__(self, interval_ms: int = 100, command: Sequence[str] | None = None,
                 min_window_s: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.interval_ms = interval_ms
        self.min_window_s = min_window_s
        self._custom = command is not None
        self.command = (list(command) if command is not None else
                        self._powermetrics("--samplers", "cpu_power,gpu_power",
                                           "-i", str(interval_ms), "-f", "text"))
        self._proc: subprocess.Popen | None = None
        self._out: IO[bytes] | None = None
        self._err: IO[bytes] | None = None

    @staticmethod
    def _powermetrics(*args: str) -> list[str]:
        cmd = ["powermetrics", *args]
        if hasattr(os, "geteuid") and os.geteuid() != 0:
            cmd = ["sudo", "-n", *cmd]
        return cmd

    def check(self) -> None:
        """Check that powermetrics exists and runs (root or passwordless sudo)."""
        if self._custom:
            return
        if sys.platform != "darwin" or shutil.which("powermetrics") is None:
            raise MeasurementError("powermetrics is only available on macOS; use --meter none")
        probe = self._powermetrics("--samplers", "cpu_power", "-n", "1", "-i", "50")
        try:
            res = subprocess.run(probe, capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MeasurementError(f"cannot run powermetrics: {exc}; {ROOT_HINT}") from None
        if res.returncode != 0:
            raise MeasurementError(f"{ROOT_HINT} ({res.stderr.decode(errors='replace').strip()})")

    def _begin(self) -> None:
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(self.command, stdout=self._out, stderr=self._err)
        except OSError as exc:
            self._cleanup()
            raise MeasurementError(f"cannot start {self.command[0]}: {exc}; {ROOT_HINT}") \
                from None

    def _end(self, duration_s: float) -> float | None:
        proc, out_file, err_file = self._proc, self._out, self._err
        if proc is None or out_file is None or err_file is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out_file.seek(0)
        err_file.seek(0)
        text = out_file.read().decode(errors="replace")
        err = err_file.read().decode(errors="replace").strip()
        self._cleanup()
        samples = parse_powermetrics(text)
        if not samples and (err or proc.returncode not in (0, -signal.SIGINT)):
            raise MeasurementError(f"{self.command[0]} failed (exit {proc.returncode}): "
                                   f"{err or 'no output'}; {ROOT_HINT}")
        return mean_power_w(samples) * duration_s

    def _cleanup(self) -> None:
        for f in (self._out, self._err):
            if f is not None:
                f.close()
        self._proc, self._out, self._err = None, None, None

    def _abort(self) -> None:
        self.close()

    def close(self) -> None:
        """Stop a powermetrics process left running by an interrupted window."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._cleanup()
