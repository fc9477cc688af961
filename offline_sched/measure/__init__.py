"""Measure energy/runtime tables of LLM inference (``offline-sched measure``).

Importing this package is cheap: torch, transformers and pynvml (the ``measure`` extra) are
imported only when a model is loaded or a meter is opened.

Example:
    >>> from offline_sched.measure import SweepSpec, run_sweep
    >>> spec = SweepSpec("tiny-llama", (8, 64), (4, 32), random_weights=True, repeats=2)
    >>> result = run_sweep(spec, "t.csv")  # doctest: +SKIP
"""

from .base import EnergyReading, Meter, MeterWindow, NullMeter, measure_idle_power_w
from .harness import COLUMNS, MeasuredRow, Progress, SweepInterrupted, SweepResult, run_sweep
from .loading import LoadedModel, load_model
from .meters import METER_KINDS, NvmlMeter, PowermetricsMeter, RaplMeter, pick_meter
from .presets import PRESETS, Preset, get_preset, preset_config
from .spec import SweepSpec, parse_token_list

__all__ = ["COLUMNS", "EnergyReading", "LoadedModel", "METER_KINDS", "MeasuredRow", "Meter",
           "MeterWindow", "NullMeter", "NvmlMeter", "PRESETS", "PowermetricsMeter", "Preset",
           "Progress", "RaplMeter", "SweepInterrupted", "SweepResult", "SweepSpec",
           "get_preset", "load_model", "measure_idle_power_w", "parse_token_list",
           "pick_meter", "preset_config", "run_sweep"]
