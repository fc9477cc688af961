"""Host metadata for the table: hardware name and library versions."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    """CPU model name (``/proc/cpuinfo``, macOS ``sysctl``, or ``platform``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                 capture_output=True, text=True, timeout=5, check=False)
            if out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    return platform.processor() or platform.machine() or "unknown CPU"


def gpu_name(device: str) -> str:
    """Name of the CUDA GPU behind a torch device string, via torch."""
    import torch  # lazy: measure extra

    return torch.cuda.get_device_name(torch.device(device))


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def versions() -> str:
    """Library versions as ``name=version`` pairs joined by ``;``."""
    parts = [f"python={platform.python_version()}"]
    for dist in ("offline-sched", "torch", "transformers", "nvidia-ml-py", "pynvml"):
        v = _version(dist)
        if v is not None:
            parts.append(f"{dist}={v}")
    try:
        import torch  # lazy: measure extra

        if torch.version.cuda:
            parts.append(f"cuda={torch.version.cuda}")
    except ImportError:
        pass
    return ";".join(parts)
