"""Per-replica plans: packing, repair, plan-check (offline_sched.dispatch).

Every plan is checked twice: by ``check_plan`` and by an independent, sequential check
written here from the raw inputs (each query once, on a replica that is on, inside its slot
and window, back to back on its replica, for at least its runtime).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offline_sched import (
    CostModel,
    Fleet,
    InfeasibleError,
    InputError,
    MetricModel,
    System,
    load_workload,
    solve,
)
from offline_sched.dispatch.check import check_plan, read_plan
from offline_sched.dispatch.packing import pack
from offline_sched.dispatch.plan import PLAN_COLUMNS, plan_for_schedule, to_plan, write_plan
from offline_sched.dispatch.repair import repair

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
EPS = 1e-7


# ----------------------------------------------------------------------------- helpers
def make_fleet(instances: list[int], window_s: list[float] | float = 1000.0) -> Fleet:
    wins = window_s if isinstance(window_s, list) else [window_s] * len(instances)
    rt = MetricModel(metric="runtime", form="paper", coef={"in": 0.0, "out": 1.0, "inout": 0.0})
    systems = tuple(System(name=f"s{i}", model="m", cost=CostModel("m", f"s{i}", runtime=rt),
                           instances=m, window_s=w)
                    for i, (m, w) in enumerate(zip(instances, wins, strict=True)))
    return Fleet(systems=systems, name="test")


def bounds(slot_len: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slot starts and ends from (S, T) lengths, computed here (not by the package)."""
    lo = np.zeros_like(slot_len)
    for t in range(1, slot_len.shape[1]):
        lo[:, t] = lo[:, t - 1] + slot_len[:, t - 1]
    return lo, lo + slot_len


def independent_check(frame: pd.DataFrame, n: int, names: list[str], runtime: np.ndarray,
                      on: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                      release: np.ndarray | None = None,
                      deadline: np.ndarray | None = None) -> list[str]:
    """Sequential check, one row at a time; ``runtime`` is (N, S). Returns the defects."""
    bad = []
    seen: dict[int, int] = defaultdict(int)
    queues = defaultdict(list)
    for row in frame.itertuples(index=False):
        q = int(str(row.query_id)[1:])
        s = names.index(str(row.system))
        seen[q] += 1
        if not 0 <= row.replica < on[s, row.slot]:
            bad.append(f"{q}: replica {row.replica} not on")
        if row.start_s < lo[s, row.slot] - EPS or row.end_s > hi[s, row.slot] + EPS:
            bad.append(f"{q}: outside slot {row.slot}")
        if row.end_s - row.start_s < runtime[q, s] - EPS:
            bad.append(f"{q}: shorter than its runtime")
        if release is not None and row.start_s < release[q] - EPS:
            bad.append(f"{q}: before release")
        if deadline is not None and row.end_s > deadline[q] + EPS:
            bad.append(f"{q}: after deadline")
        queues[(s, row.replica)].append((row.start_s, row.end_s, q))
    if sorted(seen) != list(range(n)) or any(c != 1 for c in seen.values()):
        bad.append("not every query exactly once")
    for key, jobs in queues.items():
        free_at = -np.inf
        for start, end, q in sorted(jobs):
            if start < free_at - EPS:
                bad.append(f"{q}: overlaps on {key}")
            free_at = max(free_at, end)
    return bad


def loss_by_hand(system, slot, runtime, on, slot_len, frame_packed) -> float:
    """Σ over (system, slot) of min(load, capacity) − packed, from raw inputs."""
    total = 0.0
    for s in range(on.shape[0]):
        for t in range(on.shape[1]):
            mine = (system == s) & (slot == t)
            load = float(runtime[mine].sum())
            cap = float(on[s, t] * slot_len[s, t])
            packed = float(runtime[mine & frame_packed].sum())
            total += max(min(load, cap) - packed, 0.0)
    return total


def ids(n: int) -> list[str]:
    return [f"q{i}" for i in range(n)]


@st.composite
def cases(draw, windows: bool = False, perfect: bool = False):
    """Random (system, slot) loads near or at pooled capacity, plus a spare system.

    ``perfect``: each replica's load is a random partition of its slot (pooled capacity
    is met exactly, a perfect packing exists, naive packings overflow).
    """
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n_sys, n_slots = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    on = rng.integers(0, 4, (n_sys, n_slots))
    on[0, 0] = max(on[0, 0], 1)
    slot_len = np.round(rng.uniform(50, 200, (1, n_slots)).repeat(n_sys, 0), 3)
    system, slot, runtime = [], [], []
    for s in range(n_sys):
        for t in range(n_slots):
            if perfect:
                for _ in range(on[s, t]):
                    k = int(rng.integers(1, 6))
                    cuts = np.sort(rng.uniform(0, slot_len[s, t], k - 1))
                    parts = np.diff(np.concatenate([[0], cuts, [slot_len[s, t]]]))
                    runtime += list(parts)
                    system += [s] * k
                    slot += [t] * k
            else:
                k = int(rng.integers(0, 12))
                util = draw(st.floats(0.2, 1.05))
                base = rng.uniform(0.2, 1.0, k) ** 2
                cap = on[s, t] * slot_len[s, t]
                scale = util * cap / base.sum() if k and cap > 0 else 5.0
                runtime += list(np.minimum(base * scale, slot_len[s, t]))
                system += [s] * k
                slot += [t] * k
    n = len(runtime)
    order = rng.permutation(n)
    system = np.array(system, dtype=np.int64)[order]
    slot = np.array(slot, dtype=np.int64)[order]
    runtime = np.array(runtime, dtype=np.float64)[order]
    lo, hi = bounds(slot_len)
    release = deadline = None
    if windows and n:
        a, b = lo[system, slot], hi[system, slot]
        slack = b - runtime - a  # every query fits its own window on an empty replica
        release = np.where(rng.random(n) < 0.4, a + rng.uniform(0, 1, n) * slack, np.nan)
        earliest = np.fmax(release, a) + runtime
        deadline = np.where(rng.random(n) < 0.4, earliest + rng.uniform(0, 1, n) * (b - earliest),
                            np.nan)
    # every system may run every query elsewhere, slower or faster; a spare system with
    # one empty replica per query (in every slot) can always take the overflow
    spare = max(n, 1)
    on_all = np.vstack([on, np.full((1, n_slots), spare)])
    len_all = np.vstack([slot_len, slot_len[:1]])
    rt_all = runtime[:, None] * rng.uniform(0.5, 1.0, (n, n_sys + 1))
    rt_all[np.arange(n), system] = runtime
    return dict(system=system, slot=slot, runtime=runtime, on=on_all, slot_len=len_all,
                rt_all=rt_all, release=release, deadline=deadline)


def run_case(c: dict):
    k = pack(c["runtime"], c["system"], c["slot"], instances_on=c["on"], slot_s=c["slot_len"],
             release_s=c["release"], deadline_s=c["deadline"])
    n, s_all = c["rt_all"].shape
    names = [f"s{i}" for i in range(s_all)]
    cost = c["rt_all"] * np.arange(1, s_all + 1)  # the spare (last) is dearest
    fixed = repair(k, c["rt_all"], np.ones((n, s_all), dtype=bool), cost,
                   system_names=names)
    return k, fixed, to_plan(fixed, ids(n), names), names


def fleet_for(c: dict) -> Fleet:
    return make_fleet([int(v) for v in c["on"].max(axis=1)],
                      [float(v) for v in c["slot_len"].sum(axis=1)])


def assert_valid(plan, c: dict, names: list[str]) -> None:
    n = c["rt_all"].shape[0]
    lo, hi = bounds(c["slot_len"])
    frame = plan.frame
    assert list(frame.columns) == PLAN_COLUMNS
    problems = independent_check(frame, n, names, c["rt_all"], c["on"], lo, hi,
                                 c["release"], c["deadline"])
    assert problems == []
    workload = pd.DataFrame({"query_id": ids(n)})
    if c["release"] is not None:
        workload["release_s"], workload["deadline_s"] = c["release"], c["deadline"]
    verdict = check_plan(frame, fleet_for(c), workload, instances_on=c["on"],
                         slot_s=c["slot_len"], runtime_s=c["rt_all"])
    assert verdict.ok, verdict.verdict
    keys = list(zip(frame["system"].astype(str), frame["replica"], strict=True))
    ordered = sorted(range(len(frame)), key=lambda i: (names.index(keys[i][0]), keys[i][1],
                                                       frame["start_s"].iloc[i]))
    assert ordered == list(range(len(frame)))


# ----------------------------------------------------------------------------- properties
@SETTINGS
@given(c=cases())
def test_random_pools_plans_always_pass(c):
    k, fixed, plan, names = run_case(c)
    assert_valid(plan, c, names)
    placed = k.replica >= 0
    assert k.packing_loss_s == pytest.approx(
        loss_by_hand(c["system"], c["slot"], c["runtime"], c["on"], c["slot_len"], placed),
        abs=1e-6)
    assert fixed.moved == k.overflow.size == int((~placed).sum())
    # queries the packer placed stay where they were
    assert (fixed.system[placed] == c["system"][placed]).all()


@SETTINGS
@given(c=cases(perfect=True))
def test_exactly_full_pools_pooled_holds_plans_pass(c):
    k, _, plan, names = run_case(c)
    assert_valid(plan, c, names)
    cap = (c["on"][:-1] * c["slot_len"][:-1]).sum()
    assert c["runtime"].sum() == pytest.approx(cap)  # pooled capacity holds, exactly
    assert k.packing_loss_s == pytest.approx(
        loss_by_hand(c["system"], c["slot"], c["runtime"], c["on"], c["slot_len"],
                     k.replica >= 0), abs=1e-6)


@SETTINGS
@given(c=cases(windows=True))
def test_releases_and_deadlines_are_kept(c):
    _, _, plan, names = run_case(c)
    assert_valid(plan, c, names)


# ----------------------------------------------------------------------------- hand cases
def naive_round_robin_overflows(runtime, m, length) -> bool:
    load = np.zeros(m)
    for i, r in enumerate(runtime):
        load[i % m] += r
    return bool((load > length).any())


def test_pooled_capacity_holds_but_no_packing_exists():
    # 3 replicas, 3000 s pooled, 2900 s of load: any two queries need ≥ 1300 s > 1000 s
    runtime = np.array([700.0, 900.0, 600.0, 700.0])
    k = pack(runtime, np.zeros(4, dtype=int), instances_on=[[3]], slot_s=1000.0)
    assert runtime.sum() <= 3 * 1000
    assert k.overflow.tolist() == [2]  # the shortest one is left over
    assert k.packing_loss_s == pytest.approx(600.0)  # min(2900, 3000) − 2300
    with pytest.raises(InfeasibleError, match=r"'a100' is short by 600 s"):
        repair(k, runtime[:, None], np.ones((4, 1), bool), system_names=["a100"])
    # with a second system that has room, the query moves there
    on = np.array([[3], [1]])
    k = pack(runtime, np.zeros(4, dtype=int), instances_on=on, slot_s=1000.0)
    rt = np.column_stack([runtime, runtime * 1.5])
    fixed = repair(k, rt, np.ones((4, 2), bool), system_names=["a100", "m1"])
    assert fixed.moved == 1 and fixed.system[2] == 1
    assert fixed.start_s[2] == 0.0 and fixed.end_s[2] == pytest.approx(900.0)
    assert fixed.info["repair_cost"] == pytest.approx(900.0 - 600.0)


def test_naive_packing_fails_where_packer_fits_exactly():
    # [5, 5] [4, 3, 3] [4, 3, 3] fill three 10-s replicas; input order breaks round robin
    runtime = np.array([5.0, 3, 4, 3, 5, 3, 4, 3])
    assert naive_round_robin_overflows(runtime, 3, 10.0)
    k = pack(runtime, np.zeros(8, dtype=int), instances_on=[[3]], slot_s=10.0)
    assert k.ok and k.packing_loss_s == 0.0
    frame = to_plan(k, None, ["s0"]).frame
    assert check_plan(frame, make_fleet([3], 10.0)).ok
    lo, hi = np.zeros((1, 1)), np.full((1, 1), 10.0)
    assert independent_check(frame, 8, ["s0"], runtime[:, None], np.array([[3]]), lo, hi) == []


def test_deal_balances_replicas_to_within_one_query():
    # a snake deal of a long-first list keeps every replica within the longest query (2 s)
    # of the mean, so 1% slack on ~600-s replicas (6 s) packs everything without repair
    rng = np.random.default_rng(5)
    runtime = rng.uniform(1.0, 2.0, 4000)
    m = 10
    length = runtime.sum() / m * 1.01
    k = pack(runtime, np.zeros(runtime.size, dtype=int), instances_on=[[m]], slot_s=length)
    assert k.ok and k.packing_loss_s == 0.0
    loads = np.bincount(k.replica, weights=runtime, minlength=m)
    assert loads.max() - loads.min() <= 2.0
    assert np.all(k.start_s >= 0) and np.all(k.end_s <= length)


def test_packing_loss_counts_only_pooled_capacity():
    # one replica, 1000 s, 1500 s of load: min(1500, 1000) − packed (600 + 300) = 100
    k = pack(np.array([600.0, 600.0, 300.0]), np.zeros(3, dtype=int), instances_on=[[1]],
             slot_s=1000.0)
    assert sorted(k.replica.tolist()) == [-1, 0, 0]
    assert k.packing_loss_s == pytest.approx(100.0)
    # a system with no replica on: its load is the schedule's problem, not packing loss
    k = pack(np.array([10.0, 20.0]), np.array([0, 1]), instances_on=[[1], [0]],
             slot_s=100.0)
    assert k.overflow.tolist() == [1] and k.packing_loss_s == 0.0
    g = k.groups
    assert g["load_s"].tolist() == [10.0, 20.0] and g["packed_s"].tolist() == [10.0, 0.0]


def test_times_are_back_to_back_from_the_slot_start():
    runtime = np.array([3.0, 1.0, 2.0, 4.0])
    k = pack(runtime, np.zeros(4, dtype=int), np.array([0, 1, 1, 1]), instances_on=[[1, 1]],
             slot_s=[5.0, 10.0])
    assert (k.start_s[0], k.end_s[0]) == (0.0, 3.0)
    later = sorted(zip(k.start_s[1:], k.end_s[1:], runtime[1:], strict=True))
    t = 5.0  # slot 1 starts where slot 0 ends
    for start, end, r in later:  # longest first, back to back
        assert start == pytest.approx(t) and end == pytest.approx(t + r)
        t += r
    assert [r for _, _, r in later] == [4.0, 2.0, 1.0]


def test_release_and_deadline_by_hand():
    # one replica: b must wait for its release at 50; c must end by 20 so goes first
    runtime = np.array([30.0, 10.0, 15.0])
    k = pack(runtime, np.zeros(3, dtype=int), instances_on=[[1]], slot_s=100.0,
             release_s=np.array([np.nan, 50.0, np.nan]),
             deadline_s=np.array([np.nan, np.nan, 20.0]))
    assert k.ok
    assert k.start_s[2] == 0.0 and k.end_s[2] == 15.0
    assert k.start_s[1] >= 50.0 and k.end_s[0] <= 100.0
    lo, hi = np.zeros((1, 1)), np.full((1, 1), 100.0)
    assert independent_check(to_plan(k).frame, 3, ["0"], runtime[:, None], np.array([[1]]), lo, hi,
                             np.array([-np.inf, 50, -np.inf]),
                             np.array([np.inf, np.inf, 20.0])) == []


def test_repair_takes_the_cheapest_system_with_room():
    runtime = np.array([8.0, 8.0])  # two 8-s queries, one 10-s replica
    k = pack(runtime, np.zeros(2, dtype=int), instances_on=[[1], [1], [1]], slot_s=10.0)
    assert k.overflow.size == 1
    rt = np.array([[8.0, 9.0, 5.0], [8.0, 9.0, 5.0]])
    cost = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    fixed = repair(k, rt, np.ones((2, 3), bool), cost)
    moved = int(k.overflow[0])
    assert fixed.system[moved] == 1 and fixed.runtime_s[moved] == 9.0
    # not eligible there: next cheapest
    el = np.ones((2, 3), bool)
    el[:, 1] = False
    fixed = repair(k, rt, el, cost)
    assert fixed.system[moved] == 2 and fixed.end_s[moved] - fixed.start_s[moved] == 5.0


def test_plan_for_a_solved_schedule_passes_plan_check(tmp_path):
    rng = np.random.default_rng(3)
    work = pd.DataFrame({"query_id": [f"job-{i}" for i in range(400)],
                         "input_tokens": rng.integers(1, 300, 400),
                         "output_tokens": rng.integers(1, 250, 400)})
    fleet = make_fleet([2, 2], [4000.0, 1200.0])
    fast = MetricModel(metric="runtime", form="paper",
                       coef={"in": 0.0, "out": 0.05, "inout": 0.0}, intercept=0.5)
    energy = MetricModel(metric="energy", form="paper", coef={"in": 0.1, "out": 1.0,
                                                              "inout": 0.0})
    systems = tuple(System(name=s.name, model="m", instances=s.instances,
                           window_s=s.window_s,
                           cost=CostModel("m", s.name, runtime=fast if i else s.cost.runtime,
                                          energy=energy))
                    for i, s in enumerate(fleet))
    fleet = Fleet(systems=systems, name="two")
    schedule = solve(load_workload(work), fleet, lam=0.5)
    plan = plan_for_schedule(schedule)
    problem = schedule.problem
    runtime = problem.runtime_s[problem.classes.query_class]
    verdict = check_plan(plan, fleet, work, runtime_s=runtime)
    assert verdict.ok, verdict.verdict
    assert plan.summary["queries"] == 400
    path = write_plan(plan, tmp_path / "plan.csv")
    back = read_plan(path)
    assert check_plan(back, fleet, work, runtime_s=runtime, source=str(path)).ok
    assert back["start_s"].tolist() == plan.frame["start_s"].tolist()  # exact round trip
    assert back["query_id"].tolist() == plan.frame["query_id"].astype(str).tolist()


def test_many_queries_vectorised():
    rng = np.random.default_rng(0)
    n = 60_000
    system = rng.integers(0, 3, n)
    runtime = rng.lognormal(0, 1, n)
    on = np.array([40, 25, 60])
    load = np.bincount(system, weights=runtime)
    k = pack(runtime, system, instances_on=on, slot_s=(load / on * 1.0005)[:, None])
    fixed = repair(k, np.repeat(runtime[:, None], 3, 1), np.ones((n, 3), bool))
    plan = to_plan(fixed, None, ["s0", "s1", "s2"])
    fleet = make_fleet([40, 25, 60], [float(v) for v in load / on * 1.0005])
    verdict = check_plan(plan, fleet, pd.DataFrame({"query_id": ids(n)}),
                         runtime_s=np.repeat(runtime[:, None], 3, 1))
    assert verdict.ok, verdict.verdict


# ----------------------------------------------------------------------------- plan-check
@pytest.fixture
def good():
    runtime = np.array([4.0, 3.0, 2.0, 5.0, 1.0, 6.0])
    slot = np.array([0, 0, 0, 1, 1, 1])
    k = pack(runtime, np.array([0, 0, 1, 0, 0, 1]), slot, instances_on=[[2, 1], [1, 1]],
             slot_s=[10.0, 10.0])
    frame = to_plan(k, ids(6), ["a", "b"]).frame
    frame["system"] = frame["system"].astype(str)
    fleet = make_fleet([2, 1], 20.0)
    fleet = Fleet(tuple(replace_name(s, n) for s, n in zip(fleet, "ab", strict=True)))
    workload = pd.DataFrame({"query_id": ids(6), "release_s": [0.0] * 6,
                             "deadline_s": [20.0] * 6})
    rt = np.column_stack([runtime, runtime])
    args = dict(instances_on=[[2, 1], [1, 1]], slot_s=[10.0, 10.0])
    assert check_plan(frame, fleet, workload, runtime_s=rt, **args).ok
    return frame, fleet, workload, rt, args


def replace_name(system: System, name: str) -> System:
    from dataclasses import replace

    return replace(system, name=name)


def row_of(frame, qid):
    return int(np.flatnonzero(frame["query_id"].to_numpy() == qid)[0])


@pytest.mark.parametrize("kind", ["overlap", "window", "release", "deadline", "replica",
                                  "replica_on", "missing", "duplicate", "system",
                                  "unknown query", "runtime", "value", "slot"])
def test_check_plan_catches_each_defect(good, kind):
    frame, fleet, workload, rt, args = good
    f = frame.copy()
    w = workload.copy()
    i = row_of(f, "q1")  # 3 s on system a, slot 0
    expect = kind
    if kind == "overlap":
        j = row_of(f, "q0")
        f.loc[i, ["replica", "start_s", "end_s"]] = [f.loc[j, "replica"],
                                                     f.loc[j, "start_s"] + 1,
                                                     f.loc[j, "start_s"] + 4]
    elif kind == "window":
        f.loc[i, ["start_s", "end_s"]] = [8.5, 11.5]
    elif kind == "release":
        w.loc[1, "release_s"] = f.loc[i, "start_s"] + 0.5
    elif kind == "deadline":
        w.loc[1, "deadline_s"] = f.loc[i, "end_s"] - 0.5
    elif kind == "replica":
        f.loc[i, "replica"] = 2
    elif kind == "replica_on":  # slot 1 of system a has one replica on
        i = row_of(f, "q3")
        f.loc[i, "replica"] = 1
        expect = "replica"
    elif kind == "missing":
        f = f.drop(index=i).reset_index(drop=True)
    elif kind == "duplicate":
        f = pd.concat([f, f.iloc[[i]]], ignore_index=True)
        i = len(f) - 1
        expect = "duplicate"
    elif kind == "system":
        f.loc[i, "system"] = "c"
    elif kind == "unknown query":
        f.loc[i, "query_id"] = "zz"
    elif kind == "runtime":
        f.loc[i, "end_s"] = f.loc[i, "start_s"] + 2.0
    elif kind == "value":
        f.loc[i, "end_s"] = f.loc[i, "start_s"] - 1.0
    elif kind == "slot":
        f.loc[i, "slot"] = 2
    v = check_plan(f, fleet, w, runtime_s=rt, source="plan.csv", **args)
    assert not v.ok
    assert v.counts.get(expect, 0) >= 1, v.counts
    assert v.verdict.startswith("plan.csv: ") and "\n" not in v.verdict
    lines = [p for p in v.problems if kind != "missing" and p.startswith(f"row {i + 1},")]
    if kind == "missing":
        lines = [p for p in v.problems if "'q1'" in p and "not in the plan" in p]
    assert lines, v.problems


def test_check_plan_defaults_to_one_slot_of_window(good):
    frame, fleet, *_ = good
    one = frame.assign(slot=0)
    v = check_plan(one, fleet)  # one slot per system, [0, window_s): all fits in 20 s
    assert v.ok, v.verdict
    v = check_plan(one.assign(end_s=one["end_s"] + 25.0), fleet)
    assert v.counts["window"] == len(one)


def test_read_plan_errors_name_file_row_column_value(tmp_path):
    path = tmp_path / "plan.csv"
    with pytest.raises(InputError, match="no such plan file"):
        read_plan(path)
    path.write_text("")
    with pytest.raises(InputError, match="file is empty"):
        read_plan(path)
    path.write_text("query_id,system,replica,slot,start_s\nq0,a,0,0,1\n")
    with pytest.raises(InputError, match=r"missing column\(s\) 'end_s'"):
        read_plan(path)
    path.write_text("query_id,system,replica,slot,start_s,end_s\nq0,a,0,0,0,1\n"
                    "q1,a,0,0,abc,2\n")
    with pytest.raises(InputError, match=rf"{path}: row 2, column 'start_s', value 'abc'"):
        read_plan(path)
    path.write_text("query_id,system,replica,slot,start_s,end_s\nq0,a,1.5,0,0,1\n")
    with pytest.raises(InputError, match=r"row 1, column 'replica', value '1.5'"):
        read_plan(path)
    path.write_text("query_id,system,replica,slot,start_s,end_s\n,a,0,0,0,1\n")
    with pytest.raises(InputError, match=r"row 1, column 'query_id', value '': empty"):
        read_plan(path)


def test_pack_rejects_bad_input():
    with pytest.raises(InputError, match=r"runtime_s: query 1, value -1.0"):
        pack(np.array([1.0, -1.0]), np.zeros(2, int), instances_on=[[1]], slot_s=10.0)
    with pytest.raises(InputError, match=r"system: query 0, value 3"):
        pack(np.array([1.0]), np.array([3]), instances_on=[[1]], slot_s=10.0)
    with pytest.raises(InputError, match=r"slot_s: system 0, slot 0, value 0.0"):
        pack(np.array([1.0]), np.array([0]), instances_on=[[1]], slot_s=0.0)
    with pytest.raises(InputError, match="instances_on"):
        pack(np.array([1.0]), np.array([0]), instances_on=[[-1]], slot_s=1.0)
    k = pack(np.array([5.0, 5.0]), np.zeros(2, int), instances_on=[[1]], slot_s=6.0)
    with pytest.raises(InfeasibleError, match="repair the packing first"):
        to_plan(k)
