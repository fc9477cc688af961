"""The measurement sweep with a real tiny-llama CPU generation (random weights)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from offline_sched.costs.tables import read_table  # noqa: E402
from offline_sched.errors import InputError, MeasurementError  # noqa: E402
from offline_sched.measure import (  # noqa: E402
    COLUMNS,
    Meter,
    SweepInterrupted,
    SweepSpec,
    load_model,
    parse_token_list,
    preset_config,
    run_sweep,
)
from offline_sched.measure.generation import generate_exact, make_prompts  # noqa: E402
from offline_sched.measure.loading import available_memory_bytes, count_parameters  # noqa: E402

FAST = dict(model="tiny-llama", random_weights=True, device="cpu", idle_s=0.0, meter="none")


class PowerMeter(Meter):
    """Scripted meter: constant power per window, idle first (windows longer than 1 ms)."""

    name = "scripted"

    def __init__(self, idle_w: float, busy_w: float, min_window_s: float = 0.0) -> None:
        super().__init__()
        self.idle_w, self.busy_w, self.min_window_s = idle_w, busy_w, min_window_s
        self.windows = 0

    def _end(self, duration_s: float) -> float:
        self.windows += 1
        return (self.idle_w if self.windows == 1 else self.busy_w) * duration_s


def test_cpu_sweep_writes_a_valid_table(tmp_path):
    out = tmp_path / "t.csv"
    events = []
    spec = SweepSpec(input_tokens=(8, 16), output_tokens=(1, 3), repeats=2, warmup=1, **FAST)
    result = run_sweep(spec, out, progress=events.append)
    table = read_table(out)
    assert list(table.columns) == COLUMNS
    assert result.rows_written == len(table) == 8
    assert list(zip(table.input_tokens, table.output_tokens, table.repeat, strict=True)) == [
        (i, o, r) for i in (8, 16) for o in (1, 3) for r in (1, 2)]
    assert (table.runtime_s > 0).all() and table.energy_j.isna().all()
    assert table.energy_raw_j.isna().all() and table.idle_power_w.isna().all()
    assert (table.runtime_raw_s == table.runtime_s).all()
    assert set(table.meter) == {"none"} and set(table.model) == {"tiny-llama"}
    assert set(table.dtype) == {"float32"} and set(table.weights) == {"random"}
    assert table.kv_cache.all() and (table.batch_size == 1).all()
    assert (table.device_count == 1).all() and table.hardware.str.len().gt(0).all()
    assert table.versions.str.contains("torch=").all()
    rows = [e for e in events if e.phase == "row"]
    assert [e.done for e in rows] == list(range(1, 9)) and rows[-1].total == 8
    assert events[0].phase == "load"


def test_batching_and_idle_subtraction_per_query(tmp_path):
    out = tmp_path / "b.csv"
    meter = PowerMeter(idle_w=10.0, busy_w=30.0, min_window_s=0.05)
    spec = SweepSpec(**dict(FAST, idle_s=0.01), input_tokens=(8,), output_tokens=(2,),
                     repeats=2, warmup=0, batch_size=3, system="box")
    result = run_sweep(spec, out, meter=meter)
    table = read_table(out)
    assert result.idle_power_w == pytest.approx(10.0) and (table.idle_power_w == 10.0).all()
    assert (table.system == "box").all() and (table.batch_size == 3).all()
    assert table.runtime_raw_s.to_numpy() == pytest.approx(3 * table.runtime_s.to_numpy())
    assert table.energy_raw_j.to_numpy() == pytest.approx(30.0 * table.runtime_s.to_numpy())
    assert table.energy_j.to_numpy() == pytest.approx(20.0 * table.runtime_s.to_numpy())
    window_s = table.runs_in_window * table.runtime_raw_s
    assert (window_s >= 0.05 - 1e-9).all()  # short runs repeated to fill the meter window
    assert (table.meter == "scripted").all() and table.note.isna().all()


def test_net_energy_not_positive_keeps_raw_and_leaves_net_empty(tmp_path):
    out = tmp_path / "n.csv"
    meter = PowerMeter(idle_w=10.0, busy_w=5.0)
    spec = SweepSpec(**dict(FAST, idle_s=0.01), input_tokens=(8,), output_tokens=(1,),
                     repeats=2, warmup=0)
    result = run_sweep(spec, out, meter=meter)
    table = read_table(out)
    assert table.energy_j.isna().all()
    assert table.energy_raw_j.to_numpy() == pytest.approx(5.0 * table.runtime_s.to_numpy())
    assert table.note.str.contains("net energy").all()
    assert result.rows_without_net_energy == 2


def test_without_idle_measurement_energy_includes_idle(tmp_path):
    out = tmp_path / "i.csv"
    spec = SweepSpec(**FAST, input_tokens=(8,), output_tokens=(1,), repeats=1, warmup=0,
                     kv_cache=False)
    run_sweep(spec, out, meter=PowerMeter(idle_w=7.0, busy_w=7.0))
    table = read_table(out)
    assert table.energy_j.to_numpy() == pytest.approx(table.energy_raw_j.to_numpy())
    assert table.note.str.contains("idle").all() and not table.kv_cache.any()


def test_interrupt_keeps_complete_rows(tmp_path):
    out = tmp_path / "k.csv"

    def stop_after_three(event):
        if event.phase == "row" and event.done == 3:
            raise KeyboardInterrupt

    spec = SweepSpec(**FAST, input_tokens=(8, 16), output_tokens=(1, 2), repeats=2, warmup=0)
    with pytest.raises(SweepInterrupted) as err:
        run_sweep(spec, out, progress=stop_after_three)
    assert isinstance(err.value, KeyboardInterrupt) and err.value.rows_written == 3
    table = read_table(out)
    assert len(table) == 3 and out.read_text().endswith("\n")


def test_generation_length_is_forced_even_when_eos_wins():
    loaded = load_model("tiny-llama", "cpu", random_weights=True)
    with torch.no_grad():
        loaded.model.lm_head.weight.zero_()   # every logit 0 -> greedy picks token 0 ...
    loaded.model.generation_config.eos_token_id = 0   # ... which is now EOS
    prompts = make_prompts(loaded, 2, 5, torch.Generator().manual_seed(1))
    assert tuple(prompts.shape) == (2, 5) and int(prompts.min()) > 2  # no special tokens
    free = loaded.model.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts),
                                 max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert free.shape[1] < 5 + 6      # unforced generation stops at EOS
    generate_exact(loaded, prompts, 6, kv_cache=True)   # raises unless exactly 6 new tokens


def test_model_errors_are_input_errors_with_advice(tmp_path):
    with pytest.raises(InputError, match="--random-weights"):
        load_model("tiny-llama", "cpu")
    with pytest.raises(InputError, match="--random-weights"):
        load_model("no-such-org/no-such-model", "cpu")
    with pytest.raises(InputError, match="context length 4096"):
        run_sweep(SweepSpec(**FAST, input_tokens=(4090,), output_tokens=(10,)),
                  tmp_path / "c.csv")


@pytest.mark.parametrize(("name", "params"), [
    ("llama-2-7b", 6.74e9), ("llama-2-13b", 13.02e9), ("llama-2-70b", 68.98e9),
    ("mistral-7b", 7.24e9), ("mixtral-8x7b", 46.70e9), ("falcon-7b", 6.92e9),
    ("falcon-40b", 41.30e9), ("tiny-llama", 147_776),
])
def test_presets_have_the_real_shapes(name, params):
    assert count_parameters(preset_config(name)) == pytest.approx(params, rel=0.01)


def test_real_shapes_are_not_allocated_without_memory():
    if (available_memory_bytes("cpu") or math.inf) > 300 * 2**30:
        pytest.skip("machine has enough memory for llama-2-70b in float32")
    with pytest.raises(MeasurementError, match="GiB"):
        load_model("llama-2-70b", "cpu", random_weights=True)


def test_spec_validation():
    assert parse_token_list(" 8, 64,8 ") == (8, 64)
    for bad in ("", "8,x", "0", "-3"):
        with pytest.raises(InputError):
            parse_token_list(bad)
    for field, value in (("repeats", 0), ("batch_size", 0), ("dtype", "fp8"),
                         ("device", "tpu"), ("input_tokens", ())):
        kwargs = dict(FAST, input_tokens=(8,), output_tokens=(1,))
        kwargs[field] = value
        with pytest.raises(InputError, match=field if field != "input_tokens" else "input"):
            SweepSpec(**kwargs).validate()
