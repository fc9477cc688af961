"""solve --plan / --dispatch and plan-check: plans from solve always pass the check."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from instances import instances

from offline_sched import InfeasibleError, solve
from offline_sched.cli.main import cli
from offline_sched.dispatch.check import check_plan
from offline_sched.dispatch.plan import executable_schedule

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _sequential_ok(frame: pd.DataFrame, windows: dict[str, float]) -> bool:
    """Independent check: per replica, queries back to back inside [0, window)."""
    for (system, _), grp in frame.groupby(["system", "replica"]):
        start, end = grp["start_s"].to_numpy(), grp["end_s"].to_numpy()
        if (start < -1e-9).any() or (end > windows[system] * (1 + 1e-9) + 1e-6).any():
            return False
        if (start[1:] < end[:-1] - 1e-9).any():
            return False
    return True


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(instances(max_queries=30, max_systems=3))
def test_plans_from_solve_always_pass_plan_check(tmp_path_factory, inst):
    path = tmp_path_factory.mktemp("plan") / "fleet.toml"
    path.write_text(inst.fleet_toml)
    try:
        sched = executable_schedule(solve(inst.frame, path, inst.lam))
    except InfeasibleError:
        return  # infeasible job lists (pooled or packed) have no plan to check
    plan = sched.plan.frame
    verdict = check_plan(plan, path, sched.problem.workload,
                         runtime_s=sched.problem.runtime_s[sched.problem.classes.query_class])
    assert verdict.ok, verdict.problems
    assert sorted(plan["query_id"]) == sorted(inst.frame["query_id"].astype(str))
    windows = {s.name: s.window_s for s in sched.problem.fleet}
    assert _sequential_ok(plan, windows)
    # the plan executes the schedule it is attached to
    by_id = dict(zip(sched.assignment["query_id"], sched.assignment["system"], strict=True))
    assert all(by_id[q] == s for q, s in zip(plan["query_id"], plan["system"], strict=True))
    res = sched.result
    assert res.lower_bound <= res.objective + 1e-9 * abs(res.objective)


def test_pooled_capacity_that_does_not_pack_is_repaired(tmp_path):
    """3 replicas × 1000 s; the big pool's queries do not pack although pooled time fits."""
    fleet = tmp_path / "f.toml"
    fleet.write_text("""
window_s = 1000
normalize = false
[[system]]
name = "fast"
model = "m"
instances = 3
runtime = { out = 1.0 }
energy = { out = 1.0 }
[[system]]
name = "spare"
model = "m"
instances = 1
runtime = { out = 1.0 }
energy = { out = 3.0 }
""")
    wl = pd.DataFrame({"query_id": ["a", "b", "c", "d"], "input_tokens": [1, 1, 1, 1],
                       "output_tokens": [700, 900, 600, 700]})
    pooled = solve(wl, fleet, 1.0)
    assert pooled.counts.sum(axis=0)[0] == 4 or pooled.counts.sum(axis=0)[0] == 3
    sched = executable_schedule(pooled)
    verdict = check_plan(sched.plan.frame, fleet, sched.problem.workload)
    assert verdict.ok, verdict.problems
    assert sched.summary["gap"] >= pooled.summary["gap"]  # honest: against the pooled bound


def test_solve_plan_then_plan_check_cli(tmp_path):
    plan = tmp_path / "plan.csv"
    res = run("solve", ROOT / "examples/day.csv", "--out", tmp_path / "a.csv", "--plan", plan)
    assert res.exit_code == 0, res.output
    assert "packing_loss_s=" in res.output
    frame = pd.read_csv(plan)
    assert list(frame.columns) == ["query_id", "system", "replica", "slot", "start_s", "end_s"]
    res = run("plan-check", plan, "--systems", "hybrid", "--workload", ROOT / "examples/day.csv")
    assert res.exit_code == 0, res.output
    assert "ok, 20000 queries" in res.output
    bad = frame.copy()
    bad.loc[1, "start_s"] = bad.loc[0, "start_s"]  # overlap on a replica
    bad = pd.concat([bad, bad.iloc[[5]]])  # and a duplicate query
    bad.to_csv(tmp_path / "bad.csv", index=False)
    res = run("plan-check", tmp_path / "bad.csv", "--workload", ROOT / "examples/day.csv")
    assert res.exit_code == 3
    assert "overlap" in res.output and "duplicate" in res.output


def test_dispatch_round_trip_through_the_cli(tmp_path):
    """Batch file in, per-replica batch files out: every request once, bodies kept."""
    lines = []
    rng = np.random.default_rng(2)
    for i in range(40):
        body = {"model": "m", "max_tokens": int(rng.integers(4, 200)),
                "prompt": list(range(int(rng.integers(1, 300))))}  # token ids: no tokenizer
        lines.append(json.dumps({"custom_id": f"r{i}", "method": "POST",
                                 "url": "/v1/completions", "body": body}))
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(lines) + "\n")
    out = tmp_path / "dispatch"
    res = run("solve", batch, "--dispatch", out, "--out", tmp_path / "a.csv", "-q")
    assert res.exit_code == 0, res.output
    files = sorted(out.glob("*.jsonl"))
    assert files and (out / "plan.csv").exists() and (out / "manifest.json").exists()
    seen = [ln for f in files for ln in f.read_text().splitlines()]
    assert sorted(seen) == sorted(lines)  # byte-identical, each exactly once
    plan = pd.read_csv(out / "plan.csv")
    for f in files:  # each file holds its replica's requests in plan order
        system, _, rep = f.stem.rpartition("-r")
        ids = [json.loads(ln)["custom_id"] for ln in f.read_text().splitlines()]
        want = plan[(plan["system"] == system) & (plan["replica"] == int(rep))]
        assert ids == list(want.sort_values("start_s")["query_id"])
    res = run("solve", batch, "--dispatch", out, "--out", tmp_path / "a.csv", "-q")
    assert res.exit_code == 0, res.output  # its own directory may be replaced
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    res = run("solve", batch, "--dispatch", foreign, "--out", tmp_path / "a.csv", "-q")
    assert res.exit_code == 2 and (foreign / "keep.txt").exists()


def test_malformed_batch_line_is_one_line_exit_2(tmp_path):
    batch = tmp_path / "batch.jsonl"
    batch.write_text('{"custom_id": "a", "method": "POST", "url": "/v1/completions", '
                     '"body": {"prompt": [1, 2], "max_tokens": 3}}\n{"custom_id": "a", '
                     '"method": "POST", "url": "/v1/completions", "body": {"prompt": [1], '
                     '"max_tokens": 3}}\n')
    res = run("solve", batch, "--dispatch", tmp_path / "d", "--out", tmp_path / "a.csv")
    assert res.exit_code == 2
    assert "line 2" in res.output and "custom_id" in res.output
    assert not (tmp_path / "d").exists() and not (tmp_path / "a.csv").exists()


def test_dispatch_maps_the_model_name_per_system(tmp_path):
    fleet = tmp_path / "f.toml"
    fleet.write_text("""
window_s = 100000
[[system]]
name = "gpu"
model = "m"
instances = 2
serve_model = "served/Llama-2-7b"
runtime = { in = 0.001, out = 0.01 }
energy = { in = 0.1, out = 1.0 }
[[system]]
name = "cpu"
model = "m"
instances = 1
runtime = { in = 0.002, out = 0.05 }
energy = { in = 0.05, out = 0.5 }
""")
    lines = [json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/completions",
                         "body": {"model": "orig", "prompt": list(range(5 + i)),
                                  "max_tokens": 10 + i}}) for i in range(12)]
    batch = tmp_path / "b.jsonl"
    batch.write_text("\n".join(lines) + "\n")
    out = tmp_path / "d"
    res = run("solve", batch, "-s", fleet, "--lam", "0", "--dispatch", out,
              "--out", tmp_path / "a.csv", "-q")
    assert res.exit_code == 0, res.output
    got = {}
    for f in out.glob("*.jsonl"):
        for ln in f.read_text().splitlines():
            got[json.loads(ln)["custom_id"]] = (f.stem.rpartition("-r")[0], ln)
    assert sorted(got) == sorted(f"r{i}" for i in range(12))
    for i, original in enumerate(lines):
        system, ln = got[f"r{i}"]
        want = original.replace('"orig"', '"served/Llama-2-7b"') if system == "gpu" \
            else original
        assert ln == want
    assert any(system == "gpu" for system, _ in got.values())
