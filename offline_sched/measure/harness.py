"""The measurement sweep: τin × τout, warm-up, repeats, batching, idle power, incremental CSV.

For every (τin, τout): ``warmup`` discarded runs, then ``repeats`` measured windows. A window
runs one generate call of ``batch_size`` prompts, repeated until the window is at least the
meter's ``min_window_s`` long (``runs_in_window``), and each window becomes one table row:

* ``runtime_raw_s`` — wall-clock time of one generate call (one whole batch);
* ``runtime_s`` — ``runtime_raw_s / batch_size``: per query;
* ``energy_raw_j`` — metered energy per query (window energy / runs / batch_size), idle included;
* ``energy_j`` — net per query: ``energy_raw_j − idle_power_w × runtime_s``. Where the net value
  is ≤ 0 (the run is below the idle-power noise) ``energy_j`` is left empty rather than
  replaced by the raw value, so the column never mixes net and gross energy; the raw value stays
  in ``energy_raw_j`` and ``note`` says so. Without an idle measurement (``idle_s=0``)
  ``energy_j`` equals ``energy_raw_j`` and ``note`` says idle is included. Without a meter both
  are empty.

Rows are appended and fsynced one by one: an interrupted sweep keeps every finished row.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputError
from .base import Meter, NullMeter, measure_idle_power_w
from .generation import generate_exact, make_prompts, synchronize
from .hostinfo import cpu_model, gpu_name, versions
from .loading import LoadedModel, import_torch, load_model
from .meters import pick_meter
from .nvml import nvml_indices_for_cuda
from .rowlog import RowWriter
from .spec import SweepSpec

COLUMNS = ["model", "system", "input_tokens", "output_tokens", "runtime_s", "energy_j",
           "energy_raw_j", "runtime_raw_s", "idle_power_w", "batch_size", "repeat",
           "runs_in_window", "kv_cache", "dtype", "weights", "hardware", "device",
           "device_count", "meter", "note", "versions", "timestamp"]


@dataclass(frozen=True)
class MeasuredRow:
    """One table row (per-query values; see the module docstring for each column)."""

    model: str
    system: str
    input_tokens: int
    output_tokens: int
    runtime_s: float
    energy_j: float | None
    energy_raw_j: float | None
    runtime_raw_s: float
    idle_power_w: float | None
    batch_size: int
    repeat: int
    runs_in_window: int
    kv_cache: bool
    dtype: str
    weights: str
    hardware: str
    device: str
    device_count: int
    meter: str
    note: str
    versions: str
    timestamp: str


@dataclass(frozen=True)
class Progress:
    """A progress event for the ``progress`` callback.

    Attributes:
        phase: ``load``, ``idle``, ``point`` (a new τin × τout starts) or ``row`` (row written).
        done: rows written so far.
        total: rows the sweep will write.
        message: human-readable description of the event.
        row: the row just written (``row`` phase only).
    """

    phase: str
    done: int
    total: int
    message: str
    row: MeasuredRow | None = None


@dataclass(frozen=True)
class SweepResult:
    """Summary of a finished sweep.

    Attributes:
        path: the table written.
        rows_written: number of data rows.
        meter: meter name (``none`` without a meter).
        meter_note: why there is no meter, or ``""``.
        hardware: hardware name.
        system: table ``system`` name.
        idle_power_w: measured idle power, or ``None``.
        rows_without_net_energy: rows whose net energy was ≤ 0 (``energy_j`` left empty).
    """

    path: Path
    rows_written: int
    meter: str
    meter_note: str
    hardware: str
    system: str
    idle_power_w: float | None
    rows_without_net_energy: int


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep; the rows already written are kept in ``path``."""

    def __init__(self, path: Path, rows_written: int) -> None:
        super().__init__(f"interrupted: kept {rows_written} rows in {path}")
        self.path = path
        self.rows_written = rows_written


def slug(text: str) -> str:
    """Lower-case ``text`` with runs of other characters replaced by ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def _energy(meter: Meter, energy_raw_j: float | None, runtime_s: float,
            idle_w: float | None, window_s: float) -> tuple[float | None, list[str]]:
    notes = []
    if window_s < meter.min_window_s:
        notes.append(f"window {window_s:.3g} s shorter than the meter's {meter.min_window_s} s "
                     "resolution")
    if energy_raw_j is None:
        return None, notes
    if idle_w is None:
        notes.append("idle power not measured: energy_j includes idle")
        return energy_raw_j, notes
    net = energy_raw_j - idle_w * runtime_s
    if net > 0:
        return net, notes
    notes.append(f"net energy {net:.3g} J <= 0 (below idle noise): energy_j left empty, "
                 "raw value in energy_raw_j")
    return None, notes


class _Sweep:
    """State of one running sweep (kept private; :func:`run_sweep` is the API)."""

    def __init__(self, spec: SweepSpec, loaded: LoadedModel, meter: Meter, hardware: str,
                 progress: Callable[[Progress], None]) -> None:
        self.spec, self.loaded, self.meter = spec, loaded, meter
        self.hardware = hardware
        self.system = spec.system.strip() if spec.system else slug(hardware)
        self.progress = progress
        self.min_window_s = (meter.min_window_s if spec.min_window_s is None
                             else spec.min_window_s)
        self.versions = versions()
        torch, _ = import_torch()
        self.generator = torch.Generator().manual_seed(spec.seed)
        self.idle_w: float | None = None
        self.no_net = 0

    def window(self, tau_in: int, tau_out: int, repeat: int) -> MeasuredRow:
        spec, lm = self.spec, self.loaded
        prompts = make_prompts(lm, spec.batch_size, tau_in, self.generator)
        synchronize(lm.device)
        runs, t0 = 0, time.perf_counter()
        self.meter.start()
        try:
            while runs == 0 or time.perf_counter() - t0 < self.min_window_s:
                generate_exact(lm, prompts, tau_out, spec.kv_cache)
                synchronize(lm.device)
                runs += 1
        except BaseException:
            self.meter.cancel()
            raise
        reading = self.meter.stop()
        per_batch_s = reading.duration_s / runs
        runtime_s = per_batch_s / spec.batch_size
        raw = (None if reading.energy_j is None
               else reading.energy_j / (runs * spec.batch_size))
        energy_j, notes = _energy(self.meter, raw, runtime_s, self.idle_w,
                                  reading.duration_s)
        if raw is not None and energy_j is None:
            self.no_net += 1
        return MeasuredRow(
            lm.name, self.system, tau_in, tau_out, runtime_s, energy_j, raw, per_batch_s,
            self.idle_w, spec.batch_size, repeat, runs, spec.kv_cache, lm.dtype, lm.weights,
            self.hardware, spec.device, len(lm.gpu_indices) or 1, self.meter.name,
            "; ".join(notes), self.versions,
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def run(self, writer: RowWriter) -> None:
        spec, total = self.spec, self.spec.total_rows
        for tau_in in spec.input_tokens:
            for tau_out in spec.output_tokens:
                self.progress(Progress("point", writer.rows_written, total,
                                       f"τin={tau_in} τout={tau_out}"))
                prompts = make_prompts(self.loaded, spec.batch_size, tau_in, self.generator)
                for _ in range(spec.warmup):
                    generate_exact(self.loaded, prompts, tau_out, spec.kv_cache)
                    synchronize(self.loaded.device)
                for repeat in range(1, spec.repeats + 1):
                    row = self.window(tau_in, tau_out, repeat)
                    writer.append(asdict(row))
                    self.progress(Progress("row", writer.rows_written, total,
                                           f"τin={tau_in} τout={tau_out} repeat {repeat}", row))


def _check_context(spec: SweepSpec, loaded: LoadedModel) -> None:
    longest = max(spec.input_tokens) + max(spec.output_tokens)
    if loaded.max_positions is not None and longest > loaded.max_positions:
        raise InputError(f"τin + τout = {longest} exceeds the context length "
                         f"{loaded.max_positions} of model {loaded.name}")


def _hardware(spec: SweepSpec, loaded: LoadedModel, meter: Meter) -> str:
    if spec.device == "cuda":
        return meter.hardware or gpu_name(loaded.device)
    return cpu_model()


def run_sweep(spec: SweepSpec, out: str | os.PathLike[str], *, meter: Meter | None = None,
              progress: Callable[[Progress], None] | None = None) -> SweepResult:
    """Measure a τin × τout sweep and write the measurement table row by row.

    Args:
        spec: what to measure (validated here).
        out: CSV file to write (replaced); readable by
            :func:`offline_sched.costs.tables.read_table`.
        meter: energy meter; ``None`` picks one with :func:`pick_meter` from ``spec``.
        progress: called with a :class:`Progress` event at each phase and after each row.

    Returns:
        A summary of the sweep.

    Raises:
        InputError: bad spec, unknown model, or lengths beyond the model's context.
        MeasurementError: missing torch/transformers, unavailable device or meter, failed run.
        SweepInterrupted: Ctrl-C; the rows written so far are complete and kept.
    """
    spec.validate()
    report = progress or (lambda _event: None)
    total = spec.total_rows
    report(Progress("load", 0, total, f"loading {spec.model} on {spec.device}"))
    loaded = load_model(spec.model, spec.device, spec.dtype, spec.random_weights, spec.seed)
    _check_context(spec, loaded)
    own = meter is None
    if meter is None:
        meter = pick_meter(spec.device, spec.meter,
                           gpu_indices=nvml_indices_for_cuda(loaded.gpu_indices))
    writer = None
    try:
        sweep = _Sweep(spec, loaded, meter, _hardware(spec, loaded, meter), report)
        if not isinstance(meter, NullMeter) and spec.idle_s > 0:
            idle_s = max(spec.idle_s, meter.min_window_s)
            report(Progress("idle", 0, total, f"measuring idle power for {idle_s:g} s"))
            synchronize(loaded.device)
            sweep.idle_w = measure_idle_power_w(meter, idle_s)
        writer = RowWriter(out, COLUMNS)
        sweep.run(writer)
    except KeyboardInterrupt:
        raise SweepInterrupted(Path(out), writer.rows_written if writer else 0) from None
    finally:
        if writer is not None:
            writer.close()
        if own:
            meter.close()
    return SweepResult(Path(out), writer.rows_written, meter.name,
                       getattr(meter, "reason", ""), sweep.hardware, sweep.system,
                       sweep.idle_w, sweep.no_net)
