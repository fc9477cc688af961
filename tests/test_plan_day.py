"""Planning the day through the public entry points (issue 11): ``solve``, the CLI, compare.

The optimality checks compare ``offline_sched.solve(..., slot_s=..., minimise=...)`` with an
independent per-query, per-slot PuLP model including ``on[s,t]`` (``tests/plan_oracle.py``),
built from the raw workload frame and fleet TOML text; instances are generated with numpy
only, never by calling the tool. The tool's plan is also re-scored from raw inputs.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from instances import fleet_toml
from plan_oracle import plan_oracle

import offline_sched
from offline_sched.cli import cli
from offline_sched.errors import InfeasibleError
from offline_sched.planner.evaluate import BY_SLOT_COLUMNS, evaluate

CARBON_GB = "offline_sched/data/grid/carbon_gb_2020-05-15.csv"


def make_instance(seed: int, windows: bool = False) -> tuple[pd.DataFrame, str, float, dict]:
    """Random small planning instance: raw inputs only (no tool call)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 17))
    n_s = int(rng.integers(2, 4))
    n_t = int(rng.integers(2, 4))
    slot_s = 100.0
    tin = rng.integers(1, 60, n)
    tout = rng.integers(1, 60, n)
    systems = []
    for s in range(n_s):
        systems.append({
            "name": f"s{s}", "model": "m", "instances": int(rng.integers(1, 3)),
            "energy": {"in": round(float(rng.uniform(0, 2)), 3),
                       "out": round(float(rng.uniform(0.5, 4)), 3),
                       "const": round(float(rng.uniform(1, 20)), 2)},
            "runtime": {"in": round(float(rng.uniform(0, 0.05)), 4),
                        "out": round(float(rng.uniform(0.1, 0.6)), 4),
                        "const": round(float(rng.uniform(0.5, 3)), 3)},
            "idle_power_w": round(float(rng.choice([0.0, rng.uniform(0.05, 1.5)])), 3),
            "startup_energy_j": round(float(rng.choice([0.0, rng.uniform(5, 60)])), 2),
            "energy_includes_idle": bool(rng.integers(0, 2)),
        })
        if rng.integers(0, 4) == 0:
            systems[-1]["min_instances"] = 1
    # capacity that binds: total fastest runtime about 30–75 % of what the fleet offers
    rt = np.array([[sy["runtime"]["in"] * i + sy["runtime"]["out"] * o + sy["runtime"]["const"]
                    for sy in systems] for i, o in zip(tin, tout, strict=True)])
    total = float(rt.min(axis=1).sum())
    offered = sum(sy["instances"] for sy in systems) * slot_s * n_t
    scale = total / offered / float(rng.uniform(0.3, 0.75))
    for sy in systems:
        sy["runtime"] = {k: round(v / scale * 1.0, 5) for k, v in sy["runtime"].items()}
    frame = pd.DataFrame({"query_id": [f"j{i}" for i in range(n)], "input_tokens": tin,
                          "output_tokens": tout})
    if windows:
        first = rng.integers(0, n_t, n)
        last = np.minimum(n_t - 1, first + rng.integers(0, n_t, n))
        frame["release_s"] = first * slot_s
        frame["deadline_s"] = (last + 1) * slot_s
    signals = {"slot_s": slot_s,
               "carbon": [round(float(v), 1) for v in rng.uniform(50, 400, n_t)],
               "price": [round(float(v), 3) for v in rng.uniform(-0.05, 0.3, n_t)]}
    return frame, fleet_toml(systems, slot_s * n_t), float(rng.choice([0.3, 0.7, 1.0])), signals


def _tool_plan(sched):
    sys_idx = np.asarray(sched.system_index)
    slot = np.asarray(sched.slot_index)
    bs = sched.by_slot
    n_s = len(sched.problem.fleet)
    n_t = int(bs["slot"].max()) + 1
    on = np.zeros((n_s, n_t), dtype=np.int64)
    names = list(sched.problem.fleet.names)
    on[[names.index(s) for s in bs["system"]], bs["slot"].to_numpy()] = bs["instances_on"]
    return sys_idx, slot, on


CASES = [(seed, metric, windows) for seed in range(6) for metric in ("energy", "carbon", "cost")
         for windows in (False, True)]


@pytest.mark.parametrize(("seed", "metric", "windows"), CASES)
def test_solve_plans_the_day_optimally_against_a_per_query_pulp_model(tmp_path, seed, metric,
                                                                       windows):
    frame, toml, lam, sig = make_instance(seed, windows)
    path = tmp_path / "fleet.toml"
    path.write_text(toml)
    want = plan_oracle(frame, toml, lam, sig["slot_s"], metric, sig["carbon"], sig["price"])
    kwargs = dict(slot_s=sig["slot_s"], minimise=metric, carbon=sig["carbon"],
                  price=sig["price"])
    if want.objective is None:
        with pytest.raises(InfeasibleError):
            offline_sched.solve(frame, path, lam, **kwargs)
        return
    sched = offline_sched.solve(frame, path, lam, **kwargs)
    res = sched.result
    tol = 1e-7 * max(1.0, abs(want.objective))
    # the tool's plan re-scored from raw inputs: feasible, and its objective is what it says
    value, broken = want.score(*_tool_plan(sched))
    assert not broken, broken
    assert value == pytest.approx(sched.objective, rel=1e-7, abs=1e-9)
    assert sched.summary["feasible"]
    # bracketing: proven bound ≤ optimum ≤ tool ≤ bound + gap
    assert res.lower_bound <= want.objective + tol
    assert sched.objective >= want.objective - tol
    assert sched.objective <= res.lower_bound + res.gap * abs(sched.objective) + tol
    if str(res.status) == "optimal":
        assert sched.objective <= want.objective * (1 + 1e-6) + tol


@pytest.mark.parametrize("seed", range(4))
def test_one_slot_reproduces_todays_schedule_and_objective(tmp_path, seed):
    frame, toml, lam, _ = make_instance(seed)
    # one slot, no provisioning fields: today's model
    plain = "\n".join(line for line in toml.splitlines()
                      if not line.startswith(("idle_power_w", "startup_energy_j",
                                              "energy_includes_idle", "min_instances")))
    path = tmp_path / "fleet.toml"
    path.write_text(plain)
    window = float(plain.split("window_s = ")[1].split("\n")[0])
    today = offline_sched.solve(frame, path, lam)
    assert today.planned is None
    for kwargs in ({"slot_s": window}, {"slot_s": window, "minimise": "carbon",
                                        "carbon": [123.0]}):
        planned = offline_sched.solve(frame, path, lam, **kwargs)
        assert planned.planned is not None
        np.testing.assert_array_equal(planned.counts, today.counts)
        assert planned.objective == pytest.approx(today.objective, rel=1e-12)
        assert "slot" not in planned.assignment.columns
        assert list(planned.by_slot.columns) == BY_SLOT_COLUMNS


def test_schedule_by_slot_and_summary_of_a_plan():
    sched = offline_sched.solve("examples/day.csv", "examples/hybrid-day.toml", 0.5,
                                minimise="carbon")
    bs = sched.by_slot
    assert list(bs.columns) == BY_SLOT_COLUMNS
    assert len(bs) == 20 * 2 and set(bs["slot"]) == set(range(20))
    assert int(bs["queries"].sum()) == sched.problem.n_queries
    assert (bs["busy_s"] <= bs["instances_on"] * 3600 * (1 + 1e-9)).all()
    s = sched.summary
    for key in ("static_energy_j", "carbon_g", "cost", "instances_on_max"):
        assert key in s
    assert s["carbon_g"] == pytest.approx(bs["carbon_g"].sum())
    assert s["energy_j"] == pytest.approx((bs["energy_j"]).sum())
    assert s["static_energy_j"] == pytest.approx(bs["static_energy_j"].sum())
    assert s["instances_on_max"] == bs.groupby("slot")["instances_on"].sum().max()
    a = sched.assignment
    assert list(a.columns) == ["query_id", "system", "slot"]
    assert a["slot"].between(0, 19).all()
    # unplanned schedules have the same view (one slot, every replica on)
    today = offline_sched.solve("examples/day.csv")
    assert list(today.by_slot.columns) == BY_SLOT_COLUMNS
    assert today.by_slot["instances_on"].tolist() == [24, 3]


def test_the_carbon_plan_is_no_worse_than_the_energy_plan_in_its_own_objective():
    energy = offline_sched.solve("examples/day.csv", "examples/hybrid-day.toml", 0.5,
                                 minimise="energy")
    carbon = offline_sched.solve("examples/day.csv", "examples/hybrid-day.toml", 0.5,
                                 minimise="carbon")
    assert energy.summary["minimise"] == "energy" and carbon.summary["minimise"] == "carbon"
    # the energy plan scored by the carbon plan's objective (same slots and time classes)
    e = energy.planned
    rival = evaluate(carbon.planned.data, e.k, e.system, e.slot, e.count, e.on)
    assert rival.feasible
    assert carbon.objective <= rival.objective + carbon.result.gap * abs(carbon.objective)
    assert carbon.result.lower_bound <= rival.objective


def _run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_cli_solve_options_by_slot_json_and_slot_column(tmp_path):
    out, bs = tmp_path / "a.csv", tmp_path / "bs.csv"
    r = _run(["solve", "examples/day.csv", "--slot-s", "7200", "--carbon", CARBON_GB,
              "--start", "2020-05-15T00:00", "--minimise", "carbon", "--out", str(out),
              "--by-slot", str(bs), "--json", "-q"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    for key in ("static_energy_j", "carbon_g", "cost", "instances_on_max"):
        assert key in doc["summary"]
    assert doc["summary"]["slots"] == 10
    a = pd.read_csv(out)
    assert list(a.columns) == ["query_id", "system", "slot"]
    assert a["slot"].dtype.kind == "i" and a["slot"].between(0, 9).all()
    table = pd.read_csv(bs)
    assert list(table.columns) == BY_SLOT_COLUMNS and len(table) == 20
    assert table["carbon_g"].sum() == pytest.approx(doc["summary"]["carbon_g"])


def test_cli_options_override_the_fleet_file(tmp_path):
    out = tmp_path / "a.csv"
    r = _run(["solve", "examples/day.csv", "-s", "examples/hybrid-day.toml", "--slot-s",
              "36000", "--out", str(out), "--json", "-q"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["summary"]["slots"] == 2


def test_cli_compare_columns_and_milp_beats_every_feasible_baseline(tmp_path):
    out = tmp_path / "r.csv"
    r = _run(["compare", "examples/day.csv", "-s", "examples/hybrid-day.toml", "--minimise",
              "carbon", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    frame = pd.read_csv(out)
    for col in ("static_energy_kwh", "carbon_kg", "cost"):
        assert col in frame.columns
    pols = set(frame["policy"])
    assert {"milp", "always-on", "as-soon-as-possible", "wait-awhile", "all-gpu"} <= pols
    milp = frame[frame["policy"] == "milp"].iloc[0]
    others = frame[(frame["policy"] != "milp") & frame["feasible"]]
    assert (milp["objective"] <= others["objective"] * (1 + 1e-9)).all()
    assert milp["feasible"]


def test_cli_sweep_plans_in_time(tmp_path):
    out = tmp_path / "s.csv"
    r = _run(["sweep", "examples/day.csv", "-s", "examples/hybrid-day.toml", "--lam", "0.5,1",
              "--policy", "milp", "--policy", "wait-awhile", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    frame = pd.read_csv(out)
    assert len(frame) == 4 and frame["carbon_kg"].notna().all()


def test_cli_plan_in_time_passes_plan_check(tmp_path):
    plan = tmp_path / "plan.csv"
    r = _run(["solve", "examples/day.csv", "-s", "examples/hybrid-day.toml", "--minimise",
              "carbon", "--out", str(tmp_path / "a.csv"), "--plan", str(plan), "-q"])
    assert r.exit_code == 0, r.output
    frame = pd.read_csv(plan)
    assert frame["slot"].nunique() > 1
    # every query inside its slot
    assert (frame["start_s"] >= frame["slot"] * 3600 - 1e-6).all()
    assert (frame["end_s"] <= (frame["slot"] + 1) * 3600 + 1e-6).all()
    r = _run(["plan-check", str(plan), "-s", "examples/hybrid-day.toml", "-w",
              "examples/day.csv"])
    assert r.exit_code == 0, r.output


def test_cli_plot_plan(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "plan.png"
    r = _run(["solve", "examples/day.csv", "--slot-s", "3600", "--carbon", CARBON_GB,
              "--start", "2020-05-15T00:00", "--out", str(tmp_path / "a.csv"), "--plot",
              str(png), "-q"])
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _bad_signal(tmp_path, text):
    p = tmp_path / "carbon.csv"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize(("extra", "needle"), [
    (["--carbon", "missing.csv", "--start", "2020-05-15T00:00"], "missing.csv"),
    (["--slot-s", "7000"], "does not divide"),
    (["--carbon", CARBON_GB], "start"),
    (["--carbon", CARBON_GB, "--start", "2020-05-15T12:00"], "carbon"),
    (["--minimise", "cost"], "price"),
])
def test_cli_planning_errors_are_one_line_exit_2_nothing_written(tmp_path, extra, needle):
    out = tmp_path / "a.csv"
    r = CliRunner().invoke(cli, ["solve", "examples/day.csv", "--out", str(out), "-q", *extra])
    assert r.exit_code == 2, r.output
    last = [line for line in r.output.splitlines() if line.startswith("Error")]
    assert len(last) == 1 and needle in last[0], r.output
    assert "Traceback" not in r.output
    assert not out.exists()


@pytest.mark.parametrize(("text", "needle"), [
    ("Time,Carbon Intensity\n", "found 0"),
    ("Time,Carbon Intensity\n2020-05-15 00:00:00,abc\n2020-05-15 01:00:00,10\n", "abc"),
    ("Time,Carbon Intensity\nnot-a-time,10\n2020-05-15 01:00:00,10\n", "not-a-time"),
    ("Time,Carbon Intensity\n" + "".join(f"2020-05-15 {h:02d}:00:00,10\n" for h in range(24)
                                          if h not in (5, 6, 7)), "gap"),
    ("Time,Carbon Intensity\n2020-05-15 00:00:00,10\n2020-05-15 01:00:00,10\n", "window"),
])
def test_cli_bad_signal_file_names_file_row_value(tmp_path, text, needle):
    path = _bad_signal(tmp_path, text)
    out = tmp_path / "a.csv"
    r = CliRunner().invoke(cli, ["solve", "examples/day.csv", "--out", str(out), "-q",
                                 "--carbon", path, "--start", "2020-05-15T00:00"])
    assert r.exit_code == 2, r.output
    err = [line for line in r.output.splitlines() if line.startswith("Error")]
    assert len(err) == 1 and needle in err[0] and "carbon.csv" in err[0], r.output
    assert not out.exists()


def test_cli_time_format_reads_day_month_year_stamps(tmp_path):
    rows = "\n".join(f"{15 + h // 24:02d}may2020 {h % 24:02d}:00:00,{100 + h}"
                     for h in range(24))
    path = _bad_signal(tmp_path, "time,value\n" + rows + "\n")
    out = tmp_path / "a.csv"
    r = _run(["solve", "examples/day.csv", "--slot-s", "36000", "--carbon", path, "--start",
              "2020-05-15T00:00", "--time-format", "%d%b%Y %H:%M:%S", "--minimise", "carbon",
              "--out", str(out), "--json", "-q"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["summary"]["carbon_g"] > 0


def test_cli_infeasible_deadlines_exit_3_name_slots_and_replicas(tmp_path):
    day = pd.read_csv("examples/day.csv")
    day["release_s"] = 0.0
    day["deadline_s"] = 7200.0  # everything in the first two hours: far too little capacity
    path = tmp_path / "day.csv"
    day.to_csv(path, index=False)
    out = tmp_path / "a.csv"
    r = CliRunner().invoke(cli, ["solve", str(path), "--slot-s", "3600", "--out", str(out),
                                 "-q"])
    assert r.exit_code == 3, r.output
    assert "short by" in r.output and "replica" in r.output and "slot" in r.output
    assert not out.exists()


def _paying_start_ups(seed: int, instances: int) -> tuple[pd.DataFrame, str, float, dict]:
    """Every price negative and every system with start-up energy: switch-ons earn money."""
    frame, _, lam, sig = make_instance(seed)
    rng = np.random.default_rng(1000 + seed)
    n_t = len(sig["price"])
    systems = []
    for s in range(2):
        systems.append({
            "name": f"s{s}", "model": "m", "instances": instances,
            "energy": {"out": round(float(rng.uniform(0.5, 2)), 3), "const": 2.0},
            "runtime": {"out": round(float(rng.uniform(0.5, 1.5)), 3), "const": 1.0},
            "idle_power_w": round(float(rng.uniform(0.0, 0.5)), 3),
            "startup_energy_j": round(float(rng.uniform(20, 200)), 1)})
    sig = dict(sig, price=[round(float(v), 3) for v in rng.uniform(-0.3, -0.01, n_t)])
    return frame.head(6), fleet_toml(systems, sig["slot_s"] * n_t), 1.0, sig


@pytest.mark.parametrize("instances", [1, 2])
@pytest.mark.parametrize("seed", range(4))
def test_switch_ons_that_pay_are_counted_exactly(tmp_path, seed, instances):
    """Negative prices make a start-up earn: ``up`` must be max(0, rise), not its bound."""
    frame, toml, lam, sig = _paying_start_ups(seed, instances)
    path = tmp_path / "fleet.toml"
    path.write_text(toml)
    want = plan_oracle(frame, toml, lam, sig["slot_s"], "cost", None, sig["price"])
    assert want.objective is not None
    sched = offline_sched.solve(frame, path, lam, slot_s=sig["slot_s"], minimise="cost",
                                price=sig["price"])
    res = sched.result
    tol = 1e-7 * max(1.0, abs(want.objective))
    value, broken = want.score(*_tool_plan(sched))
    assert not broken, broken
    assert value == pytest.approx(sched.objective, rel=1e-7, abs=1e-9)
    assert res.lower_bound <= want.objective + tol
    assert str(res.status) == "optimal", (res.gap, sched.objective, want.objective)
    assert sched.objective == pytest.approx(want.objective, rel=1e-6, abs=1e-9)


def test_whole_queries_that_cannot_fit_are_infeasible_exit_3(tmp_path):
    """The split queries would fit (180 s of 200 s), whole ones do not (one 60 s per 100 s)."""
    path = tmp_path / "f.toml"
    path.write_text('window_s = 200.0\n[[system]]\nname = "a"\nmodel = "m"\ninstances = 1\n'
                    'energy = { const = 1.0 }\nruntime = { const = 60.0 }\n')
    frame = pd.DataFrame({"query_id": ["q0", "q1", "q2"], "input_tokens": [1, 1, 1],
                          "output_tokens": [1, 1, 1]})
    want = plan_oracle(frame, path.read_text(), 0.5, 100.0, "energy", None, None)
    assert want.objective is None  # the oracle proves it
    with pytest.raises(InfeasibleError, match="whole queries cannot all be placed"):
        offline_sched.solve(frame, path, 0.5, slot_s=100.0)
    frame.to_csv(tmp_path / "w.csv", index=False)
    res = CliRunner().invoke(cli, ["solve", str(tmp_path / "w.csv"), "-s", str(path), "-q",
                                   "--slot-s", "100", "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 3
    assert "on 'a'" in res.stderr and "replica" in res.stderr
    assert not (tmp_path / "o.csv").exists()


def test_carbon_in_one_slot_without_normalising_is_the_planners_objective(tmp_path):
    """normalize = false: λ·g·e + (1−λ)·r, not today's λ·e + (1−λ)·r (g does not cancel)."""
    path = tmp_path / "f.toml"
    path.write_text('window_s = 100.0\nnormalize = false\n'
                    '[[system]]\nname = "frugal"\nmodel = "m"\ninstances = 1\n'
                    'energy = { const = 1.0 }\nruntime = { const = 10.0 }\n'
                    '[[system]]\nname = "fast"\nmodel = "m"\ninstances = 1\n'
                    'energy = { const = 100.0 }\nruntime = { const = 1.0 }\n')
    frame = pd.DataFrame({"query_id": ["q0"], "input_tokens": [1], "output_tokens": [1]})
    g = 100.0 / 3.6e6
    expect = {"frugal": 0.5 * 1.0 * g + 0.5 * 10.0, "fast": 0.5 * 100.0 * g + 0.5 * 1.0}
    sched = offline_sched.solve(frame, path, 0.5, minimise="carbon", carbon=[100.0])
    assert sched.assignment["system"].tolist() == ["fast"]
    assert sched.objective == pytest.approx(expect["fast"], rel=1e-9)
    assert sched.result.lower_bound <= min(expect.values()) * (1 + 1e-9)


@pytest.mark.parametrize("metric", ["carbon", "cost"])
@pytest.mark.parametrize("seed", range(6))
def test_tiny_unnormalised_costs_still_solve_to_the_optimum(tmp_path, seed, metric):
    """``normalize = false`` with a carbon or cost metric and λ = 1: per-query costs of about
    1e-9 (g or currency), below HiGHS's optimality tolerances. The solver sees them
    scaled (``objective_scale``); without that HiGHS stopped at once, status gap 5e-4 above
    the optimum on a fuzzed instance."""
    frame, toml, _, sig = make_instance(seed, windows=True)
    toml = toml.replace("normalize = true", "normalize = false")
    sig = dict(sig, price=[round(float(v) / 1000, 6) for v in sig["price"]])  # small money
    path = tmp_path / "fleet.toml"
    path.write_text(toml)
    want = plan_oracle(frame, toml, 1.0, sig["slot_s"], metric, sig["carbon"], sig["price"])
    kwargs = dict(slot_s=sig["slot_s"], minimise=metric, carbon=sig["carbon"],
                  price=sig["price"])
    if want.objective is None:
        with pytest.raises(InfeasibleError):
            offline_sched.solve(frame, path, 1.0, **kwargs)
        return
    sched = offline_sched.solve(frame, path, 1.0, **kwargs)
    res = sched.result
    scale = max(abs(want.objective), 1e-300)
    value, broken = want.score(*_tool_plan(sched))
    assert not broken, broken
    assert value == pytest.approx(sched.objective, rel=1e-7)
    assert res.lower_bound <= want.objective + 1e-7 * scale
    assert str(res.status) == "optimal", (res.gap, sched.objective, want.objective)
    assert sched.objective == pytest.approx(want.objective, rel=1e-6)
