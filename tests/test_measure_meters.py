"""Energy meters, tested without the hardware: fake pynvml, fake powercap, recorded powermetrics."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import pytest

from offline_sched.errors import InputError, MeasurementError
from offline_sched.measure.base import EnergyReading, Meter, NullMeter, measure_idle_power_w
from offline_sched.measure.meters import (
    NvmlMeter,
    PowermetricsMeter,
    RaplMeter,
    counter_delta_uj,
    parse_powermetrics,
    pick_meter,
)
from offline_sched.measure.powermetrics import mean_power_w
from offline_sched.measure.rapl import find_zones


def clock(*times: float):
    it = iter(times)
    return lambda: next(it)


# ---------------------------------------------------------------- base interface

class ScriptedMeter(Meter):
    name = "scripted"

    def __init__(self, power_w: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.power_w = power_w

    def _end(self, duration_s: float) -> float:
        return self.power_w * duration_s


def test_window_context_manager_returns_reading_dataclass():
    meter = ScriptedMeter(40.0, clock=clock(10.0, 12.5))
    with meter.window() as win:
        assert win.reading is None
    assert win.reading == EnergyReading(energy_j=100.0, duration_s=2.5, meter="scripted")
    assert win.reading.power_w == pytest.approx(40.0)


def test_stop_without_start_and_double_start_raise():
    meter = ScriptedMeter(1.0)
    with pytest.raises(MeasurementError, match="without start"):
        meter.stop()
    meter.start()
    with pytest.raises(MeasurementError, match="twice"):
        meter.start()


def test_window_exception_leaves_meter_reusable():
    meter = ScriptedMeter(1.0, clock=clock(0.0, 5.0, 6.0))
    with pytest.raises(ZeroDivisionError), meter.window():
        1 / 0  # noqa: B018
    meter.start()
    assert meter.stop().duration_s == pytest.approx(1.0)


def test_null_meter_has_no_energy_but_keeps_runtime():
    meter = NullMeter("no RAPL", clock=clock(1.0, 1.75))
    meter.start()
    reading = meter.stop()
    assert reading.energy_j is None and reading.power_w is None
    assert reading.duration_s == pytest.approx(0.75)
    assert meter.reason == "no RAPL"


def test_idle_power_is_energy_over_the_idle_window():
    slept = []
    meter = ScriptedMeter(12.0, clock=clock(0.0, 3.0))
    assert measure_idle_power_w(meter, 3.0, sleep=slept.append) == pytest.approx(12.0)
    assert slept == [3.0]
    assert measure_idle_power_w(NullMeter(), 3.0, sleep=slept.append) is None
    assert measure_idle_power_w(meter, 0.0, sleep=slept.append) is None
    assert slept == [3.0]


# ---------------------------------------------------------------- NVML (fake pynvml)

def fake_pynvml(readings_mj: dict[int, list[int]], fail: str | None = None):
    mod = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    calls = {"init": 0, "shutdown": 0, "read": []}
    series = {i: iter(v) for i, v in readings_mj.items()}

    def init():
        if fail == "init":
            raise NVMLError("Driver Not Loaded")
        calls["init"] += 1

    def shutdown():
        calls["shutdown"] += 1

    def energy(handle):
        if fail == "energy":
            raise NVMLError("Not Supported")
        calls["read"].append(handle)
        return next(series[handle])

    mod.NVMLError = NVMLError
    mod.nvmlInit = init
    mod.nvmlShutdown = shutdown
    mod.nvmlDeviceGetCount = lambda: len(readings_mj)
    mod.nvmlDeviceGetHandleByIndex = lambda i: i
    mod.nvmlDeviceGetName = lambda h: b"NVIDIA A100-SXM4-40GB"
    mod.nvmlDeviceGetTotalEnergyConsumption = energy
    mod.calls = calls
    return mod


def test_nvml_sums_millijoule_counters_over_gpus(monkeypatch):
    nvml = fake_pynvml({0: [1_000, 4_000], 1: [2_000, 2_500]})
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    meter = NvmlMeter(clock=clock(0.0, 2.0))
    meter.start()
    reading = meter.stop()
    assert reading.energy_j == pytest.approx(3.5)  # (3000 + 500) mJ
    assert reading.duration_s == pytest.approx(2.0)
    assert reading.power_w == pytest.approx(1.75)
    assert meter.hardware == "NVIDIA A100-SXM4-40GB"
    assert meter.device_count == 2
    meter.close()
    assert nvml.calls["shutdown"] == 1


def test_nvml_reads_only_the_gpus_used(monkeypatch):
    nvml = fake_pynvml({0: [0, 999_000], 1: [10_000, 30_000]})
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    meter = NvmlMeter(indices=[1], clock=clock(0.0, 1.0))
    meter.start()
    assert meter.stop().energy_j == pytest.approx(20.0)
    assert set(nvml.calls["read"]) == {1}


def test_nvml_declares_a_long_enough_window():
    # NVML refreshes its counter slowly: windows must be >= ~1 s (harness repeats runs).
    assert NvmlMeter().min_window_s >= 0.5


def test_nvml_unsupported_counter_is_a_measurement_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml({0: [0]}, fail="energy"))
    with pytest.raises(MeasurementError, match="Volta"):
        NvmlMeter().start()


def test_nvml_missing_driver_and_bad_index(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml({0: [0]}, fail="init"))
    with pytest.raises(MeasurementError, match="driver"):
        NvmlMeter().check()
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml({0: [0, 0]}))
    with pytest.raises(MeasurementError, match=r"indices \[3\]"):
        NvmlMeter(indices=[3]).check()


def test_nvml_without_pynvml_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(MeasurementError, match=r"offline-sched\[measure\]"):
        NvmlMeter().check()


def test_pick_meter_cuda_auto_falls_back_explicit_fails(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml({0: [5, 5]}))
    assert isinstance(pick_meter("cuda"), NvmlMeter)
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml({0: [0]}, fail="init"))
    fallback = pick_meter("cuda")
    assert isinstance(fallback, NullMeter) and "Driver Not Loaded" in fallback.reason
    with pytest.raises(MeasurementError):
        pick_meter("cuda", "nvml")
    assert isinstance(pick_meter("cuda", "none"), NullMeter)
    with pytest.raises(InputError, match="tpu"):
        pick_meter("tpu")
    with pytest.raises(InputError, match="joulemeter"):
        pick_meter("cpu", "joulemeter")


# ---------------------------------------------------------------- RAPL (fake powercap)

def zone(root: Path, name: str, label: str, energy_uj: int, max_uj: int = 1_000_000) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "name").write_text(label + "\n")
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


@pytest.fixture
def powercap(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "powercap"
    return {
        "root": root,
        "pkg0": zone(root, "intel-rapl:0", "package-0", 999_000),
        "core": zone(root, "intel-rapl:0:0", "core", 5_000),
        "dram": zone(root, "intel-rapl:0:1", "dram", 10),
        "psys": zone(root, "intel-rapl:1", "psys", 0, 10**12),
        "pkg1": zone(root, "intel-rapl:2", "package-1", 100),
    }


def set_uj(d: Path, value: int) -> None:
    (d / "energy_uj").write_text(f"{value}\n")


def test_counter_delta_handles_wrap_around():
    assert counter_delta_uj(100, 300, 1_000_000) == 200
    assert counter_delta_uj(999_000, 1_000, 1_000_000) == 2_000


def test_rapl_sums_packages_and_dram_with_wrap(powercap):
    meter = RaplMeter(powercap["root"], clock=clock(0.0, 0.5))
    assert [z.name for z in meter.zones] == ["package-0", "dram", "package-1"]
    meter.start()
    set_uj(powercap["pkg0"], 1_000)         # wrapped: 1_000 + (1_000_000 - 999_000)
    set_uj(powercap["dram"], 510)           # +500
    set_uj(powercap["pkg1"], 300)           # +200
    set_uj(powercap["core"], 900_000)       # inside the package: not added again
    set_uj(powercap["psys"], 10**9)         # platform total: not added
    reading = meter.stop()
    assert reading.energy_j == pytest.approx(2_700e-6)
    assert reading.duration_s == pytest.approx(0.5)


def test_rapl_without_dram(powercap):
    meter = RaplMeter(powercap["root"], include_dram=False)
    meter.start()
    set_uj(powercap["pkg0"], 999_500)
    set_uj(powercap["dram"], 10_000)
    assert meter.stop().energy_j == pytest.approx(500e-6)


def test_rapl_unreadable_without_root_says_so(powercap, monkeypatch):
    real = Path.read_text

    def deny(self, *args, **kwargs):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", deny)
    with pytest.raises(MeasurementError, match="root") as err:
        RaplMeter(powercap["root"]).check()
    assert "intel-rapl:0/energy_uj" in str(err.value)
    fallback = pick_meter("cpu", rapl_root=powercap["root"])
    assert isinstance(fallback, NullMeter) and "root" in fallback.reason
    with pytest.raises(MeasurementError, match="root"):
        pick_meter("cpu", "rapl", rapl_root=powercap["root"])


def test_rapl_missing_tree(tmp_path):
    with pytest.raises(MeasurementError, match="no RAPL package zones"):
        find_zones(tmp_path / "nothing")
    assert isinstance(pick_meter("cpu", rapl_root=tmp_path), NullMeter)


def test_pick_meter_cpu_uses_readable_rapl(powercap):
    assert isinstance(pick_meter("cpu", rapl_root=powercap["root"]), RaplMeter)


# ---------------------------------------------------------------- powermetrics (recorded)

SAMPLE = """Machine model: MacBookPro18,3
OS version: 23A344

*** Sampled system activity (Tue Oct 10 14:22:49 2023 +0200) (1004.64ms elapsed) ***

**** Processor usage ****

E-Cluster HW active frequency: 1236 MHz
CPU 0 frequency: 1330 MHz

CPU Power: 1034 mW
GPU Power: 36 mW
ANE Power: 0 mW
Combined Power (CPU + GPU + ANE): 1070 mW

**** GPU usage ****

GPU HW active frequency: 389 MHz
GPU idle residency:  96.14%
GPU Power: 36 mW

*** Sampled system activity (Tue Oct 10 14:22:50 2023 +0200) (500.00ms elapsed) ***

**** Processor usage ****

CPU Power: 9500 mW
GPU Power: 12000 mW
ANE Power: 0 mW
Combined Power (CPU + GPU + ANE): 21500 mW

**** GPU usage ****

GPU Power: 12000 mW
"""

OLD_FORMAT = """*** Sampled system activity (Mon Jan  1 00:00:00 2024 +0000) (100.0ms elapsed) ***
CPU Power: 2000 mW
GPU Power: 3000 mW
*** Sampled system activity (Mon Jan  1 00:00:00 2024 +0000) (300.0ms elapsed) ***
Intel energy model derived package power (CPUs+GT+SA): 4.5W
"""


def wait_for_exit(meter: PowermetricsMeter) -> None:
    """Let the replaying command finish before stop() interrupts it (no race in the test)."""
    deadline = time.monotonic() + 30
    while meter._proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def test_parse_powermetrics_cpu_gpu_and_combined():
    samples = parse_powermetrics(SAMPLE)
    assert len(samples) == 2
    first = samples[0]
    assert first.elapsed_s == pytest.approx(1.00464)
    assert (first.cpu_w, first.gpu_w, first.ane_w) == pytest.approx((1.034, 0.036, 0.0))
    assert first.power_w == pytest.approx(1.070)
    assert samples[1].power_w == pytest.approx(21.5)   # GPU line repeated: counted once


def test_parse_powermetrics_sums_cpu_gpu_without_combined_line():
    samples = parse_powermetrics(OLD_FORMAT)
    assert [s.power_w for s in samples] == pytest.approx([5.0, 4.5])
    assert mean_power_w(samples) == pytest.approx((5.0 * 0.1 + 4.5 * 0.3) / 0.4)
    with pytest.raises(MeasurementError, match="no power sample"):
        mean_power_w(parse_powermetrics("Machine model: Mac\n"))


def test_powermetrics_meter_integrates_replayed_output(tmp_path):
    recorded = tmp_path / "powermetrics.txt"
    recorded.write_text(SAMPLE)
    meter = PowermetricsMeter(command=["cat", str(recorded)], clock=clock(0.0, 3.0))
    meter.check()
    meter.start()
    wait_for_exit(meter)
    reading = meter.stop()
    mean_w = (1.070 * 1.00464 + 21.5 * 0.5) / 1.50464
    assert reading.energy_j == pytest.approx(mean_w * 3.0)
    assert reading.meter == "powermetrics"


def test_powermetrics_needing_sudo_is_a_clear_error():
    fail = [sys.executable, "-c",
            "import sys; sys.stderr.write('sudo: a password is required'); sys.exit(1)"]
    meter = PowermetricsMeter(command=fail)
    meter.start()
    wait_for_exit(meter)
    with pytest.raises(MeasurementError, match="needs root") as err:
        meter.stop()
    assert "password is required" in str(err.value)


def test_powermetrics_default_command_samples_cpu_and_gpu():
    cmd = PowermetricsMeter(interval_ms=250).command
    assert "powermetrics" in cmd and "cpu_power,gpu_power" in cmd and "250" in cmd
