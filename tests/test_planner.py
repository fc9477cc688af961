"""The time-slot planner against an independent per-query, per-slot MILP built in the test.

The oracle (scipy.optimize.milp) is written from raw inputs only: the paper-form coefficients
the test defines, its own eligibility, the signal values and the provisioning numbers; one
binary per (query, system, slot), integer replicas on[s, t] and switch-ons. The planner's
plans are also re-scored here from the same raw numbers.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import options_by_cost
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import lil_matrix

from offline_sched import CostModel, Fleet, MetricModel, System, build_problem, load_workload
from offline_sched import solve as solve_today
from offline_sched.errors import InfeasibleError, InputError
from offline_sched.planner import relax
from offline_sched.planner.baselines import plan_table, run_baselines
from offline_sched.planner.evaluate import BY_SLOT_COLUMNS
from offline_sched.planner.model import plan, prepare
from offline_sched.planner.slots import Provisioning

J_PER_KWH = 3.6e6


# -- instances, built from raw numbers --------------------------------------------------------

def coefs(rng):
    e = {"in": rng.uniform(0.05, 0.6), "out": rng.uniform(5, 30), "inout": rng.uniform(0, 0.03)}
    r = {"in": rng.uniform(5e-4, 4e-3), "out": rng.uniform(0.02, 0.2),
         "inout": rng.uniform(0, 2e-4)}
    return e, r, rng.uniform(0, 8), rng.uniform(0, 0.4)


def make_fleet(rng, n_systems, window_s, limit=True):
    systems, raw = [], []
    for s in range(n_systems):
        e, r, ec, rc = coefs(rng)
        cost = CostModel("m", f"s{s}",
                         runtime=MetricModel("runtime", "paper", r, intercept=rc),
                         energy=MetricModel("energy", "paper", e, intercept=ec))
        max_out = int(rng.integers(40, 90)) if limit and s == 1 else None
        inst = int(rng.integers(1, 3))
        systems.append(System(name=f"s{s}", model="m", cost=cost, instances=inst,
                              window_s=window_s, gpu=s == 0, max_output_tokens=max_out))
        raw.append((e, ec, r, rc, max_out, inst))
    return Fleet(systems=tuple(systems), name="test"), raw


def raw_costs(raw, tin, tout):
    """Per-query energy, runtime and eligibility from the coefficients (no library code)."""
    n, n_s = tin.size, len(raw)
    e, r, ok = np.empty((n, n_s)), np.empty((n, n_s)), np.ones((n, n_s), dtype=bool)
    for s, (ec, e0, rc, r0, max_out, _) in enumerate(raw):
        e[:, s] = ec["in"] * tin + ec["out"] * tout + ec["inout"] * tin * tout + e0
        r[:, s] = rc["in"] * tin + rc["out"] * tout + rc["inout"] * tin * tout + r0
        if max_out is not None:
            ok[:, s] = tout <= max_out
    return e, r, ok


def feasible_slot(raw, r, ok, n_slots, fill):
    """A slot length at which routing every query to its fastest system fills the busiest
    system to ``fill`` of its capacity (so a feasible plan exists and capacity can bind)."""
    fastest = np.argmin(np.where(ok, r, np.inf), axis=1)
    load = np.bincount(fastest, weights=r[np.arange(r.shape[0]), fastest], minlength=len(raw))
    inst = np.array([x[-1] for x in raw])
    return float(np.ceil(max((load / (fill * inst * n_slots)).max(), 1.5 * r[ok].max())))


def instance(seed, n=10, n_systems=2, n_slots=3, slot_s=600.0, fill=0.6):
    rng = np.random.default_rng(seed)
    tin = rng.integers(1, 120, n)
    tout = rng.integers(1, 100, n)
    window = slot_s * n_slots
    fleet, raw = make_fleet(rng, n_systems, window)
    e, r, ok = raw_costs(raw, tin, tout)
    # shrink the window until capacity binds a little: scale slot length instead of instances
    slot = feasible_slot(raw, r, ok, n_slots, fill)
    fleet = Fleet(tuple(replace(s, window_s=slot * n_slots) for s in fleet),
                  name="test")
    wl = load_workload(pd.DataFrame({"input_tokens": tin, "output_tokens": tout}))
    return {"problem": build_problem(wl, fleet), "raw": raw, "e": e, "r": r, "ok": ok,
            "slot_s": slot, "n_slots": n_slots, "rng": rng}


# -- the oracle ---------------------------------------------------------------------------

def factor(metric, t_n, carbon, price):
    """g_t: 1 for energy, intensity or price per joule."""
    if metric == "energy":
        return np.ones(t_n)
    return np.asarray(carbon if metric == "carbon" else price, dtype=float) / J_PER_KWH


def oracle(inst, lam, prov, metric, carbon=None, price=None, release=None, deadline=None):
    e, r, ok = inst["e"], inst["r"], inst["ok"]
    n, n_s = e.shape
    t_n, length = inst["n_slots"], inst["slot_s"]
    g = factor(metric, t_n, carbon, price)
    e_max = e[ok].max()
    m = e_max * (np.abs(g).max() if metric != "energy" else 1.0)
    r_max = r[ok].max()
    rel = np.zeros(n) if release is None else np.asarray(release, float)
    dl = np.full(n, length * t_n) if deadline is None else np.asarray(deadline, float)
    idle = np.array([p.idle_power_w for p in prov])
    incl = np.array([p.energy_includes_idle for p in prov])
    su = np.array([p.startup_energy_j for p in prov])
    lo = np.array([p.min_instances for p in prov])
    hi = np.array([x[-1] for x in inst["raw"]])
    ys = [(q, s, t) for q in range(n) for s in range(n_s) for t in range(t_n)
          if ok[q, s] and rel[q] <= t * length + 1e-9 and (t + 1) * length <= dl[q] + 1e-9]
    n_y = len(ys)
    n_on = n_s * t_n
    n_var = n_y + 2 * n_on  # y, on, up

    def on_i(s, t):
        return n_y + s * t_n + t

    def up_i(s, t):
        return n_y + n_on + s * t_n + t

    c = np.zeros(n_var)
    for i, (q, s, t) in enumerate(ys):
        net = e[q, s] - incl[s] * idle[s] * r[q, s]
        c[i] = lam * g[t] * net / m + (1 - lam) * r[q, s] / r_max
    for s in range(n_s):
        for t in range(t_n):
            c[on_i(s, t)] = lam * g[t] * idle[s] * length / m
            c[up_i(s, t)] = lam * g[t] * su[s] / m
    a = lil_matrix((n + 2 * n_on, n_var))
    lb, ub = [], []
    for i, (q, _, _) in enumerate(ys):
        a[q, i] = 1.0
    lb += [1.0] * n
    ub += [1.0] * n
    for i, (q, s, t) in enumerate(ys):
        a[n + s * t_n + t, i] = r[q, s]
    for s in range(n_s):
        for t in range(t_n):
            row = n + s * t_n + t
            a[row, on_i(s, t)] = -length
            lb.append(-np.inf)
            ub.append(0.0)
    for s in range(n_s):
        for t in range(t_n):
            row = n + n_on + s * t_n + t
            a[row, up_i(s, t)] = 1.0
            a[row, on_i(s, t)] = -1.0
            if t:
                a[row, on_i(s, t - 1)] = 1.0
            lb.append(0.0)
            ub.append(np.inf)
    lower = np.r_[np.zeros(n_y), np.repeat(lo, t_n), np.zeros(n_on)]
    upper = np.r_[np.ones(n_y), np.repeat(hi, t_n), np.repeat(hi, t_n)]
    integ = np.r_[np.ones(n_y + n_on), np.zeros(n_on)]
    res = milp(c, constraints=LinearConstraint(a.tocsr(), lb, ub), integrality=integ,
               bounds=(lower, upper), options={"mip_rel_gap": 1e-10, "time_limit": 60})
    if res.status == 2:
        return None
    assert res.status == 0, res.message
    return float(res.fun)


def rescore(inst, result, lam, prov, metric, carbon=None, price=None):
    """The plan's objective from raw costs and its own on[s, t] (test-side arithmetic)."""
    e, r = inst["e"], inst["r"]
    sys_idx, slot = result.query_plan()
    t_n, length = inst["n_slots"], inst["slot_s"]
    g = factor(metric, t_n, carbon, price)
    ok = inst["ok"]
    m = e[ok].max() * (np.abs(g).max() if metric != "energy" else 1.0)
    q = np.arange(e.shape[0])
    eq, rq = e[q, sys_idx], r[q, sys_idx]
    on = result.on
    total = 0.0
    for s, p in enumerate(prov):
        up = np.maximum(np.diff(on[s], prepend=0), 0)
        busy = np.bincount(slot[sys_idx == s], weights=rq[sys_idx == s], minlength=t_n)
        assert (busy <= on[s] * length * (1 + 1e-9) + 1e-9).all()
        static = p.idle_power_w * length * on[s] - p.energy_includes_idle * p.idle_power_w * busy \
            + p.startup_energy_j * up
        total += float(g @ static)
    total += float(np.sum(g[slot] * eq))
    return lam * total / m + (1 - lam) * rq.sum() / r[ok].max()


def random_prov(rng, n_systems, startup=False, min_on=False):
    return [Provisioning(idle_power_w=float(rng.uniform(1, 15)),
                         min_instances=int(min_on and s == 0),
                         startup_energy_j=float(rng.uniform(500, 3000)) if startup else 0.0,
                         energy_includes_idle=bool(s % 2)) for s in range(n_systems)]


# -- tests --------------------------------------------------------------------------------

CASES = [  # seed, metric, startup, windows, lam, min_on
    (0, "carbon", False, False, 0.5, False),
    (1, "energy", False, False, 0.7, True),
    (2, "cost", False, True, 0.6, False),
    (3, "carbon", True, False, 0.8, False),
    (4, "carbon", False, True, 1.0, False),
]


@pytest.mark.parametrize("seed,metric,startup,windows,lam,min_on", CASES)
def test_matches_per_query_oracle(seed, metric, startup, windows, lam, min_on):
    inst = instance(seed)
    rng, p = inst["rng"], inst["problem"]
    prov = random_prov(rng, p.n_systems, startup, min_on)
    t_n, length = inst["n_slots"], inst["slot_s"]
    carbon = rng.uniform(80, 400, t_n)
    price = rng.uniform(-0.1, 0.3, t_n)
    rel = dl = None
    if windows:  # whole-slot windows, some widened by less than a slot (no extra slot)
        a = rng.integers(0, t_n, p.n_queries)
        b = np.minimum(a + rng.integers(1, t_n + 1, p.n_queries), t_n)
        early = rng.uniform(0, 0.9, p.n_queries) * (a > 0) * (rng.random(p.n_queries) < 0.5)
        late = rng.uniform(0, 0.9, p.n_queries) * (b < t_n) * (rng.random(p.n_queries) < 0.5)
        rel, dl = (a - early) * length, (b + late) * length
    kw = dict(slot_s=length, provisioning=prov, minimise=metric, carbon=carbon, price=price,
              release_s=rel, deadline_s=dl, gap_tol=1e-9)
    want = oracle(inst, lam, prov, metric, carbon, price, rel, dl)
    res = plan(p, lam, **kw)
    assert res.feasible and res.status == "optimal", (res.gap, res.evaluation.violations)
    assert res.objective == pytest.approx(want, rel=1e-7, abs=1e-9)
    assert rescore(inst, res, lam, prov, metric, carbon, price) == pytest.approx(res.objective,
                                                                                 rel=1e-9)
    assert res.lower_bound <= res.objective + 1e-9
    if windows:
        sys_idx, slot = res.query_plan()
        assert ((slot * length >= rel - 1e-9) & ((slot + 1) * length <= dl + 1e-9)).all()
    # the same day, planned by each baseline, is never better
    for b in run_baselines(prepare(p, lam, **{k: v for k, v in kw.items() if k != "gap_tol"})):
        if b.feasible:
            assert res.objective <= b.objective + 1e-9, b.policy


def test_lower_envelope():
    from offline_sched.planner.pricing import lower_envelope

    rng = np.random.default_rng(5)
    for trial in range(50):
        n = int(rng.integers(1, 9))
        slope = rng.choice([-1.0, 0.5, 1.0, 2.0, 3.0], n) if trial % 2 else rng.normal(size=n)
        intercept = rng.normal(size=n)
        lines, breaks = lower_envelope(slope, intercept)
        assert (np.diff(breaks) > 0).all()
        x = np.r_[rng.normal(scale=5, size=200), breaks + 1e-6, breaks - 1e-6]
        y = slope[None, :] * x[:, None] + intercept[None, :]
        pick = lines[np.searchsorted(breaks, x, side="right")]
        np.testing.assert_allclose(y[np.arange(x.size), pick], y.min(axis=1), atol=1e-9)


def test_window_rule():
    """Slot t is allowed iff release <= t·slot_s and (t+1)·slot_s <= deadline."""
    from offline_sched.planner.slots import SlotGrid, time_classes

    grid = SlotGrid(2400.0, 600.0, 4, np.array([600.0]))
    rel = np.array([0, 1, 600, 599.9, 0, 0, 1200, 0])
    dl = np.array([2400, 2400, 1800, 1800.1, 1199, 1200, 2400, 600])
    tc = time_classes(np.zeros(8, dtype=np.int64), [f"q{i}" for i in range(8)], grid, rel, dl)
    first = tc.first[tc.query_tclass]
    last = tc.last[tc.query_tclass]
    for q in range(8):
        allowed = [t for t in range(4) if rel[q] <= t * 600 and (t + 1) * 600 <= dl[q]]
        assert (first[q], last[q]) == (allowed[0], allowed[-1]), q
    with pytest.raises(InfeasibleError, match="row 1, query q0"):
        time_classes(np.zeros(1, dtype=np.int64), ["q0"], grid, [100.0], [1100.0])


@pytest.mark.parametrize("seed,n,n_slots,windows", [(14, 300, 6, True), (15, 3000, 12, False)])
def test_pricer_matches_brute_force(seed, n, n_slots, windows):
    """Envelope pricing = the minimum over every allowed (row, option) pair, priced densely:
    many small windows at a price signal; one window of many rows at a carbon signal, with
    capacity prices large enough that the best slot changes within the rows (several lines
    of each envelope hold rows)."""
    from offline_sched.planner.pricing import Pricer, lower_envelope

    inst = instance(seed, n=n, n_systems=3, n_slots=n_slots)
    p, rng = inst["problem"], inst["rng"]
    t_n, length = inst["n_slots"], inst["slot_s"]
    a = rng.integers(0, t_n, p.n_queries)
    b = np.minimum(a + rng.integers(1, t_n + 1, p.n_queries), t_n)
    prov = [Provisioning(idle_power_w=5.0, energy_includes_idle=True)] * 3
    if windows:
        data = prepare(p, 0.6, slot_s=length, minimise="cost",
                       price=rng.uniform(-0.2, 0.3, t_n), release_s=a * length,
                       deadline_s=b * length, provisioning=prov)
    else:
        data = prepare(p, 0.6, slot_s=length, minimise="carbon",
                       carbon=rng.uniform(80, 400, t_n), provisioning=prov)
    rows, opt = data.rows, data.options
    pricer = Pricer(rows, opt, data.beta)
    for _ in range(3):
        mu = rng.uniform(0, 2e-3 if windows else data.beta, opt.n) * (rng.random(opt.n) < 0.7)
        nu = rng.uniform(-0.05, 0.05, p.n_systems)
        got = pricer.price(mu, nu, margin=True)
        k = np.repeat(np.arange(rows.n), opt.n)
        j = np.tile(np.arange(opt.n), rows.n)
        s = opt.system[j]
        gf = opt.group_first[opt.group[j]]
        ok = rows.eligible[k, s] & (rows.first[k] <= gf) & (gf <= rows.last[k])
        dense = rows.a[k, s] * opt.g[j] + rows.runtime[k, s] * (data.beta + mu[j]) + nu[s]
        dense = np.where(ok, dense, np.inf).reshape(rows.n, opt.n)
        np.testing.assert_allclose(got.value, dense.min(axis=1), rtol=1e-12, atol=1e-15)
        picked = dense[np.arange(rows.n), got.option]
        np.testing.assert_allclose(picked, dense.min(axis=1), rtol=1e-12, atol=1e-15)
        assert (got.margin >= 0).all()
        # the margin is the gap to the nearer of the best other system and the neighbouring
        # lines of the best one's envelope: at least the gap to the second-best option, at
        # most the gap to the best other system
        best = dense.min(axis=1)
        second = np.sort(dense, axis=1)[:, 1]
        fin2 = np.isfinite(second)
        assert (got.margin[fin2] >= (second - best)[fin2] - 1e-9 * np.abs(best[fin2])
                - 1e-15).all()
        own = opt.system[got.option]
        other = np.where(opt.system[None, :] != own[:, None], dense, np.inf).min(axis=1)
        fin = np.isfinite(other)
        assert fin.any()
        assert (got.margin[fin] <= (other - best)[fin] + 1e-9 * np.abs(best[fin]) + 1e-15).all()
        m = data.beta + mu  # each row's line and its envelope neighbours, by definition:
        for sys_ in range(p.n_systems):  # a search of every row's rho among the breaks
            got_opt, left, right = pricer._envelope_options(sys_, m, True)
            _, rho, _, _, present, bounds = pricer.by_system[sys_]
            for w, lo, hi in zip(present, bounds[:-1], bounds[1:], strict=True):
                js = sys_ * opt.n_groups + pricer.window_groups[w]
                lines, breaks = lower_envelope(opt.g[js], m[js])
                on = js[lines]
                pos = np.searchsorted(breaks, rho[lo:hi], side="right")
                assert np.array_equal(got_opt[lo:hi], on[pos])
                top = lines.size - 1
                assert np.array_equal(left[lo:hi], np.where(pos > 0, on[np.maximum(pos - 1, 0)],
                                                            -1))
                assert np.array_equal(right[lo:hi], np.where(pos < top,
                                                             on[np.minimum(pos + 1, top)], -1))
        plain = pricer.price(mu, nu)  # without margins: the same choice
        np.testing.assert_array_equal(plain.option, got.option)
        np.testing.assert_array_equal(plain.value, got.value)
        per = pricer.per_system(mu, nu)
        for sys_ in range(p.n_systems):  # each system's best option, densely
            on_s = np.where(opt.system[None, :] == sys_, dense, np.inf)
            has = np.isfinite(on_s.min(axis=1))
            assert ((per[:, sys_] >= 0) == has).all()
            np.testing.assert_allclose(on_s[has, per[has, sys_]], on_s[has].min(axis=1),
                                       rtol=1e-12, atol=1e-15)


def test_one_slot_reproduces_todays_schedule_and_objective():
    inst = instance(7, n=60, n_slots=1, fill=0.9)
    p = inst["problem"]
    today = solve_today(p.workload, p.fleet, 0.5)
    auto = plan(p, 0.5)
    assert (auto.counts_by_class() == today.counts).all()
    assert auto.objective == pytest.approx(today.objective, rel=1e-12)
    own = plan(p, 0.5, engine="slots", gap_tol=1e-9)
    assert own.objective == pytest.approx(today.objective, rel=1e-9)
    frame = own.by_slot
    assert list(frame.columns) == BY_SLOT_COLUMNS and len(frame) == p.n_systems
    assert frame["energy_j"].sum() == pytest.approx(today.summary["energy_j"], rel=1e-9)
    assert frame["static_energy_j"].sum() == 0 and frame["carbon_g"].isna().all()
    assert set(own.totals) >= {"static_energy_j", "carbon_g", "cost", "instances_on_max"}
    out = own.assignment()
    assert list(out.columns) == ["query_id", "system", "slot"] and (out["slot"] == 0).all()


def test_idle_is_counted_once():
    """Energy that includes idle while busy: static = idle over the time not busy."""
    inst = instance(8, n=10, n_slots=2)
    p = inst["problem"]
    prov = [Provisioning(idle_power_w=40.0, energy_includes_idle=True),
            Provisioning(idle_power_w=10.0)]
    res = plan(p, 1.0, slot_s=inst["slot_s"], provisioning=prov, gap_tol=1e-9)
    sys_idx, slot = res.query_plan()
    e, r = inst["e"], inst["r"]
    q = np.arange(e.shape[0])
    frame = res.by_slot
    for s, pr in enumerate(prov):
        for t in range(2):
            mine = (sys_idx == s) & (slot == t)
            on = int(res.on[s, t])
            busy = r[q[mine], s].sum()
            idle_time = on * inst["slot_s"] - (busy if pr.energy_includes_idle else 0.0)
            row = frame[(frame.slot == t) & (frame.system == f"s{s}")].iloc[0]
            assert row.static_energy_j == pytest.approx(pr.idle_power_w * idle_time)
            assert row.energy_j == pytest.approx(e[q[mine], s].sum() + pr.idle_power_w * idle_time)
            assert row.busy_s == pytest.approx(busy) and row.instances_on == on


def test_carbon_shifts_work_to_clean_slots():
    inst = instance(9, n=30, n_slots=4, fill=0.3)
    p = inst["problem"]
    carbon = np.array([400.0, 50.0, 400.0, 400.0])
    res = plan(p, 1.0, slot_s=inst["slot_s"], minimise="carbon", carbon=carbon,
               provisioning=[Provisioning(idle_power_w=30.0)] * p.n_systems)
    frame = res.by_slot.groupby("slot")["busy_s"].sum()
    assert frame.idxmax() == 1
    energy = plan(p, 1.0, slot_s=inst["slot_s"], carbon=carbon,
                  provisioning=[Provisioning(idle_power_w=30.0)] * p.n_systems)
    assert res.totals["carbon_g"] <= energy.totals["carbon_g"] + 1e-9
    assert energy.totals["energy_j"] <= res.totals["energy_j"] + 1e-6


def test_infeasible_deadlines_name_slots_systems_and_replicas():
    inst = instance(10, n=40, n_slots=3, fill=0.9)
    p = inst["problem"]
    dl = np.full(p.n_queries, inst["slot_s"])  # everything in slot 0
    with pytest.raises(InfeasibleError, match=r"slot 0 \[0 s, .*\) on 's\d' is short by "
                                              r"[\d.e+]+ s = \d+ replicas? per slot beyond"):
        plan(p, 0.5, slot_s=inst["slot_s"], deadline_s=dl)
    with pytest.raises(InfeasibleError, match="holding no whole slot"):
        plan(p, 0.5, slot_s=inst["slot_s"], release_s=np.full(p.n_queries, 10.0),
             deadline_s=np.full(p.n_queries, inst["slot_s"]))


@pytest.mark.parametrize("kwargs,match", [
    ({"slot_s": "0.7"}, "does not divide window_s"),
    ({"slot_s": -5}, "expected a number of seconds > 0"),
    ({"provisioning": {"s0": Provisioning(idle_power_w=-1.0)}}, "idle_power_w, value -1.0"),
    ({"provisioning": {"s0": Provisioning(min_instances=9)}}, "min_instances, value 9"),
    ({"provisioning": {"zz": Provisioning()}}, r"unknown system\(s\) \['zz'\]"),
    ({"minimise": "carbon"}, "needs a carbon signal"),
    ({"minimise": "money"}, "minimise, value 'money'"),
    ({"deadline_s": "dl<rel"}, "row 1, column 'deadline_s'.*not after the release"),
    ({"deadline_s": "late"}, "deadline after the window end"),
    ({"release_s": "neg"}, "release before the window start"),
    ({"carbon": [1.0, 2.0]}, "expected 3 finite values"),
    ({"carbon": "file"}, "needs start"),
])
def test_input_errors(tmp_path, kwargs, match):
    inst = instance(11, n=8)
    p = inst["problem"]
    n, length = p.n_queries, inst["slot_s"]
    kwargs = dict(kwargs)
    kwargs.setdefault("slot_s", length)
    if kwargs["slot_s"] == "0.7":
        kwargs["slot_s"] = 0.7 * length
    special = {"dl<rel": ("release_s", np.full(n, 2 * length), np.full(n, length)),
               "late": ("release_s", np.zeros(n), np.full(n, 10 * length)),
               "neg": ("release_s", np.full(n, -1.0), np.full(n, length))}
    for key in ("deadline_s", "release_s"):
        if isinstance(kwargs.get(key), str):
            _, rel, dl = special[kwargs.pop(key)]
            kwargs.update(release_s=rel, deadline_s=dl)
    if kwargs.get("carbon") == "file":
        path = tmp_path / "c.csv"
        path.write_text("t,v\n2020-01-01 00:00:00,1\n2020-01-01 01:00:00,2\n")
        kwargs["carbon"] = path
    with pytest.raises(InputError, match=match):
        plan(p, 0.5, **kwargs)


def busy_day(rng, tin, tout, t_n, limit):
    """Two systems at 90 % of capacity over ``t_n`` slots, a carbon day, idle power 20 W."""
    fleet, raw = make_fleet(rng, 2, 1.0, limit=limit)
    e, r, ok = raw_costs(raw, tin, tout)
    slot = feasible_slot(raw, r, ok, t_n, 0.9)
    fleet = Fleet(tuple(replace(s, window_s=slot * t_n) for s in fleet))
    p = build_problem(load_workload(pd.DataFrame({"input_tokens": tin, "output_tokens": tout})),
                      fleet)
    data = prepare(p, 0.5, slot_s=slot, minimise="carbon", carbon=rng.uniform(50, 300, t_n),
                   provisioning=[Provisioning(idle_power_w=20.0)] * 2)
    return p, data, slot


def _scale_day():
    """6000 queries over 4 slots, capacity binding (the scale-path tests' day)."""
    rng = np.random.default_rng(12)
    n = 6000
    tin = np.exp(rng.uniform(0, np.log(200), n)).astype(np.int64) + 1
    tout = np.exp(rng.uniform(0, np.log(100), n)).astype(np.int64) + 1
    return busy_day(rng, tin, tout, 4, limit=True)


def test_scale_path_matches_direct_lp(monkeypatch):
    """Coarse bins + sifting (forced) reach the direct LP's optimum and bound."""
    from offline_sched.planner.solve import lower_bound

    p, data, slot = _scale_day()
    rel = relax.solve_relaxation(data)
    lp, direct = rel.lp, rel.sol
    assert lp.complete and direct.exact
    monkeypatch.setattr(relax, "DIRECT_MAX_COLUMNS", 10)
    monkeypatch.setattr(relax, "COARSE_RATIOS", (1.5,))
    monkeypatch.setattr(relax, "REFINE_INDIVIDUAL", 20)
    groups, _, gsol, gap, best = relax.refine_groups(data, relax.Pricer(data.rows, data.options,
                                                               data.beta), None)
    assert groups.max() + 1 < p.classes.n_classes  # still grouped
    assert gap <= relax.REFINE_GAP
    assert best <= direct.objective * (1 + 1e-9)  # the best round's bound is a bound
    assert direct.objective <= gsol.objective <= direct.objective * (1 + 2 * relax.REFINE_GAP)
    rel2 = relax.solve_relaxation(data)
    lp2, sifted = rel2.lp, rel2.sol
    assert not lp2.complete
    assert (lp2.fixed_opt >= 0).sum() > p.classes.n_classes // 2  # most classes stayed fixed
    assert direct.objective * (1 - 1e-9) <= sifted.objective <= gsol.objective * (1 + 1e-9)
    assert lower_bound(data, sifted) == pytest.approx(direct.objective, rel=1e-6)
    assert lower_bound(data, direct) == pytest.approx(direct.objective, rel=1e-7)
    # and a plan from the sifted path is feasible, with a small certified gap
    res = plan(p, 0.5, slot_s=slot, minimise="carbon", carbon=data.carbon,
               provisioning=[Provisioning(idle_power_w=20.0)] * 2, gap_tol=1e-4)
    assert res.feasible and res.gap < 1e-3


@pytest.mark.parametrize("seed", [12, 13, 14])
def test_fine_lp_starts_from_the_group_plan(monkeypatch, seed):
    """The fine LP's first restriction already holds the last group LP's plan: every free
    class may use every option its group uses (with only its own best and its group's main
    option, a group split three ways could not be copied: the 10^6-query benchmark's first
    fine LP overflowed by 600 s and was returned as it was at its deadline)."""
    rng = np.random.default_rng(seed)
    n = 6000
    tin = np.exp(rng.uniform(0, np.log(200), n)).astype(np.int64) + 1
    tout = np.exp(rng.uniform(0, np.log(100), n)).astype(np.int64) + 1
    p, data, slot = busy_day(rng, tin, tout, 4, limit=True)
    monkeypatch.setattr(relax, "DIRECT_MAX_COLUMNS", 10)
    monkeypatch.setattr(relax, "COARSE_RATIOS", (1.5,))
    monkeypatch.setattr(relax, "REFINE_INDIVIDUAL", 20)
    monkeypatch.setattr(relax, "FINE_SIFT_S", 0.0)  # the first fine LP, as it is
    rel = relax.solve_relaxation(data)
    _, gsol, groups = rel.groups
    assert (rel.lp.fixed_opt < 0).sum() > 0 and rel.sol.rounds == 1
    assert rel.sol.overflow.max() <= 1e-6
    assert rel.sol.objective <= gsol.objective * (1 + 1e-9)


def test_group_lp_stops_within_its_bound(monkeypatch):
    """A group LP stops sifting once within GROUP_STOP of the refinement gap of its own
    Lagrangian bound, and that gap holds (weak duality: it is near the group LP's optimum)."""
    from offline_sched.planner.solve import replica_term_min

    rng = np.random.default_rng(15)
    n = 6000
    tin = np.exp(rng.uniform(0, np.log(200), n)).astype(np.int64) + 1
    tout = np.exp(rng.uniform(0, np.log(100), n)).astype(np.int64) + 1
    _, data, _ = busy_day(rng, tin, tout, 4, limit=True)
    bins, _ = relax.coarse_rows(data, 1.5)
    mu, nu = np.zeros(data.options.n), np.zeros(data.n_systems)
    none = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    tol = 1e-3
    glp, sol = relax._group_lp(data, bins, mu, nu, none, None, None, tol)
    bound = (glp.pricer.dual_value(glp.pricer.price(sol.mu, sol.nu), sol.nu, None, None)
             + replica_term_min(data, sol.mu))
    assert sol.objective - bound <= tol * abs(sol.objective)
    glp2, exact = relax._group_lp(data, bins, mu, nu, none, None, None, 0.0)
    assert exact.exact and exact.rounds >= sol.rounds
    assert exact.objective * (1 - 1e-9) <= sol.objective <= exact.objective * (1 + tol)


def test_baseline_table_columns():
    inst = instance(13, n=12)
    p = inst["problem"]
    data = prepare(p, 0.5, slot_s=inst["slot_s"], carbon=[100.0, 200.0, 300.0],
                   provisioning=[Provisioning(idle_power_w=10.0)] * p.n_systems)
    plans = run_baselines(data)
    table = plan_table(plans)
    assert list(table.policy) == ["always-on", "as-soon-as-possible", "wait-awhile"]
    assert {"static_energy_kwh", "carbon_kg", "cost"} <= set(table.columns)
    always = plans[0]
    inst_on = np.array([s.instances for s in p.fleet])
    assert (always.on == inst_on[:, None]).all()
    # always-on pays idle for every replica all day; the others only for what they use
    assert table.static_energy_kwh[0] >= table.static_energy_kwh[1] - 1e-12


FLEET_FILE = """
window_s = 7200
slot_s = 3600
[grid]
carbon = "c.csv"
start = "2020-05-15T00:00"
[[system]]
name = "a"
model = "m"
instances = 2
idle_power_w = 30.0
min_instances = 1
startup_energy_j = 500.0
energy = { in = 0.5, out = 20.0, inout = 0.01 }
runtime = { in = 0.002, out = 1.0, inout = 0.0001 }
[[system]]
name = "b"
model = "m"
instances = 1
energy_includes_idle = true
idle_power_w = 5.0
energy = { in = 0.3, out = 25.0 }
runtime = { in = 0.001, out = 0.5 }
"""


def test_fleet_file_and_workload_columns_feed_the_planner(tmp_path):
    from offline_sched import load_systems

    (tmp_path / "c.csv").write_text("Time,Carbon Intensity\n2020-05-15 00:00:00,100\n"
                                    "2020-05-15 01:00:00,300\n2020-05-15 02:00:00,200\n")
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET_FILE)
    fleet = load_systems(path)
    assert fleet.slot_s == 3600 and fleet.grid.start == "2020-05-15T00:00"
    assert fleet.grid.carbon == str(tmp_path / "c.csv")
    assert (fleet[0].idle_power_w, fleet[0].min_instances, fleet[0].startup_energy_j) == \
        (30.0, 1, 500.0)
    assert not fleet[0].energy_includes_idle and fleet[1].energy_includes_idle
    frame = pd.DataFrame({"input_tokens": [10, 20, 30, 40], "output_tokens": [50, 60, 5, 9],
                          "release_s": [0, 0, 3600, 0], "deadline_s": [3600, 7200, 7200, 7200]})
    wl = load_workload(frame)
    res = plan(build_problem(wl, fleet), 1.0, minimise="carbon")
    assert res.feasible and res.data.grid.n_slots == 2
    np.testing.assert_allclose(res.data.carbon, [100.0, 300.0])
    sys_idx, slot = res.query_plan()
    assert slot[0] == 0 and slot[2] == 1
    assert (res.on[0] >= 1).all()  # min_instances
    frame_bad = frame.assign(deadline_s=[3600, 7200, 3600, 7200])
    with pytest.raises(InputError, match="row 3, column 'deadline_s', value '3600': deadline "
                                         "not after the release"):
        load_workload(frame_bad)


@pytest.mark.parametrize("edit,match", [
    (("idle_power_w = 30.0", "idle_power_w = -1"), r"system 'a'.idle_power_w, value -1"),
    (("min_instances = 1", "min_instances = 3"), r"min_instances, value 3: more than its 2"),
    (("slot_s = 3600", "slot_s = 5000"), r"slot_s, value 5000.0: does not divide window_s"),
    (('start = "2020-05-15T00:00"', 'start = "soon"'), r"grid.start, value 'soon'"),
    (('carbon = "c.csv"', 'carbon = "c.csv"\nwind = 3'), r"grid: unknown key\(s\) \['wind'\]"),
    (("energy_includes_idle = true", "energy_includes_idle = 1"),
     r"energy_includes_idle, value 1: expected true or false"),
])
def test_fleet_file_planning_errors(tmp_path, edit, match):
    from offline_sched import load_systems

    path = tmp_path / "fleet.toml"
    path.write_text(FLEET_FILE.replace(*edit))
    with pytest.raises(InputError, match=match):
        load_systems(path)


LARGE_CASES = [  # seed, metric, startup, windows, lam, min_on
    (20, "carbon", False, False, 0.5, False),
    (21, "cost", False, True, 0.6, False),
    (22, "carbon", True, False, 0.8, True),
]


@pytest.mark.parametrize("seed,metric,startup,windows,lam,min_on", LARGE_CASES)
@pytest.mark.parametrize("time_limit", [None, 0.01])
def test_large_path_certifies_against_oracle(monkeypatch, seed, metric, startup, windows, lam,
                                             min_on, time_limit):
    """Groups, fine LP, Benders and the repair MIP (forced on a small day) give a feasible plan
    whose proven bound is below the per-query optimum and whose value is not — also when the
    time limit cuts every stage short."""
    monkeypatch.setattr(relax, "DIRECT_MAX_COLUMNS", 10)
    monkeypatch.setattr(relax, "COARSE_RATIOS", (2.0,))
    inst = instance(seed, n=24, n_slots=4)
    rng, p = inst["rng"], inst["problem"]
    prov = random_prov(rng, p.n_systems, startup, min_on)
    t_n, length = inst["n_slots"], inst["slot_s"]
    carbon = rng.uniform(80, 400, t_n)
    price = rng.uniform(0.05, 0.3, t_n)
    rel = dl = None
    if windows:
        a = rng.integers(0, t_n - 1, p.n_queries)
        rel, dl = a * length, np.minimum(a + rng.integers(2, t_n + 1, p.n_queries), t_n) * length
    want = oracle(inst, lam, prov, metric, carbon, price, rel, dl)
    assert want is not None
    res = plan(p, lam, slot_s=length, provisioning=prov, minimise=metric, carbon=carbon,
               price=price, release_s=rel, deadline_s=dl, gap_tol=1e-9, time_limit=time_limit)
    assert res.data.rows.n > 10 and res.method.startswith("lp+")
    assert res.feasible, res.evaluation.violations
    assert res.lower_bound <= want + 1e-9 * abs(want)
    assert res.objective >= want - 1e-9 * abs(want)
    assert res.gap == pytest.approx((res.objective - res.lower_bound) / abs(res.objective))
    assert rescore(inst, res, lam, prov, metric, carbon, price) == pytest.approx(res.objective,
                                                                                 rel=1e-9)
    if time_limit is None:  # the whole pipeline on a small day: close to the optimum
        assert res.objective <= want * (1 + 1e-2)


def test_capacity_fill_moves_queries_into_room_and_keeps_capacity():
    """fill_room on a plan with room made on purpose: it gains, keeps every count, every
    capacity and every window, and switches off what it empties."""
    from offline_sched.planner.fill import fill_room
    from offline_sched.planner.rounding import option_objective

    rng = np.random.default_rng(31)
    _, data, _ = busy_day(rng, rng.integers(1, 200, 3000), rng.integers(1, 100, 3000), 3,
                          limit=False)
    lp = relax.solve_relaxation(data).lp
    opt, rows = data.options, data.rows
    # every class on its second-cheapest option, one replica more than it needs everywhere
    order, _ = options_by_cost(lp)
    k = np.arange(rows.n)
    j = order[:, 1]  # second best everywhere: room on the best options
    c = rows.count.astype(np.int64)
    busy = np.bincount(j, weights=c * rows.runtime[k, opt.system[j]], minlength=opt.n)
    n_on = np.ceil(busy / opt.replica_s).astype(np.int64) + 1
    before = option_objective(lp, k, j, c, n_on)
    k2, j2, c2, n2 = fill_room(lp, k, j, c, n_on)
    after = option_objective(lp, k2, j2, c2, n2)
    assert after < before
    busy2 = np.bincount(j2, weights=c2 * rows.runtime[k2, opt.system[j2]], minlength=opt.n)
    assert (busy2 <= opt.replica_s * n2 * (1 + 1e-12)).all()
    assert (n2 <= n_on).all() and (n2 >= opt.n_lo).all()
    assert (np.bincount(k2, weights=c2, minlength=rows.n) == rows.count).all()
    assert opt.allowed(rows, k2, j2).all()


def test_the_replica_bound_does_not_credit_switch_ons_that_cannot_happen():
    """Negative prices: h(μ) counts at most the switch-ons a plan can make (brute force)."""
    import itertools

    from offline_sched.planner.solve import replica_term_min

    cost = CostModel("m", "a", runtime=MetricModel("runtime", "paper", {}, intercept=10.0),
                     energy=MetricModel("energy", "paper", {}, intercept=1.0))
    systems = [System(name="a", model="m", instances=1, window_s=300.0, cost=cost)]
    wl = load_workload(pd.DataFrame({"query_id": ["q"], "input_tokens": [1],
                                     "output_tokens": [1]}))
    problem = build_problem(wl, Fleet(systems=tuple(systems), name="one"))
    price = [-0.2, -0.1, -0.3]
    data = prepare(problem, 1.0, slot_s=100.0, minimise="cost", price=price,
                   provisioning=[Provisioning(startup_energy_j=50.0)])
    c_up = data.cost_up.ravel()
    assert (c_up < 0).all()
    mu = np.zeros(data.options.n)  # no capacity price: h is the switch-on credit alone
    best = min(sum(c_up[t] * max(0, on[t] - (on[t - 1] if t else 0)) for t in range(3))
               for on in itertools.product([0, 1], repeat=3))
    assert best == pytest.approx(c_up[0] + c_up[2])  # on = (1, 0, 1): two switch-ons
    assert replica_term_min(data, mu) == pytest.approx(best, rel=1e-9)


def test_benders_inner_lps_get_the_time_left(monkeypatch):
    """Each inner LP of the Benders loop runs under the loop's deadline, not only the rounds
    (an inner LP of the windows benchmark ran 13 s past it); out of time in its first solve,
    the loop ends with the best point so far instead of failing."""
    import time as _time

    from offline_sched.errors import SolverError, SolverTimeLimit
    from offline_sched.planner.benders import benders

    rng = np.random.default_rng(16)
    _, data, _ = busy_day(rng, rng.integers(1, 200, 2000), rng.integers(1, 100, 2000), 3,
                          limit=False)
    rel = relax.solve_relaxation(data)
    limits = []
    real_sift = rel.lp.sift

    def spy(time_limit=None, **kwargs):
        limits.append(time_limit)
        return real_sift(time_limit, **kwargs)

    monkeypatch.setattr(rel.lp, "sift", spy)
    deadline = _time.perf_counter() + 30.0
    res = benders(data, rel.lp, rel.sol, 1e-12, deadline)
    assert limits and all(lim is not None and lim <= 30.0 for lim in limits)
    assert res.n_on.shape == (data.options.n,)

    def out_of_time(time_limit=None, **kwargs):
        _time.sleep(time_limit)  # HiGHS used the time it was given
        raise SolverError("HiGHS ended the planner's LP with status 'time-limit'")

    monkeypatch.setattr(rel.lp, "sift", out_of_time)
    res = benders(data, rel.lp, rel.sol, 1e-12, _time.perf_counter() + 0.3)
    n_up = np.minimum(np.ceil(rel.sol.n_on - 1e-9), data.options.n_hi)
    assert np.array_equal(res.n_on, n_up)  # the LP's replicas rounded up stand

    def failing(time_limit=None, **kwargs):
        raise SolverError("HiGHS ended the planner's LP with status 'numerical error'")

    def clock_ran_out(time_limit=None, **kwargs):  # HiGHS's own clock said so, before ours
        raise SolverTimeLimit("the planner's first LP did not finish within the time limit")

    monkeypatch.setattr(rel.lp, "sift", clock_ran_out)
    res = benders(data, rel.lp, rel.sol, 1e-12, _time.perf_counter() + 30.0)
    assert np.array_equal(res.n_on, n_up)

    monkeypatch.setattr(rel.lp, "sift", failing)  # a failure in time is not swallowed
    with pytest.raises(SolverError, match="numerical"):
        benders(data, rel.lp, rel.sol, 1e-12, _time.perf_counter() + 30.0)


def _grouped_busy_day(monkeypatch):
    """test_scale_path_matches_direct_lp's day on the group path (Benders over groups)."""
    _, data, _ = _scale_day()
    monkeypatch.setattr(relax, "DIRECT_MAX_COLUMNS", 10)
    monkeypatch.setattr(relax, "COARSE_RATIOS", (1.5,))
    monkeypatch.setattr(relax, "REFINE_INDIVIDUAL", 20)
    return data


def test_benders_stall_rounds_and_the_repeated_point_cap(monkeypatch):
    """Large models: Benders stops after ``stall_rounds`` rounds, or ``stall_s`` seconds of
    rounds, that move neither the best LP value nor the bound, and re-solves a repeated
    point (priced from an overflowing LP) for at most as long as the loop has run. On this
    day the master's bound stays at the LP's for several rounds of milliseconds each and
    then rises by 0.8 %: a second of stall keeps that; rounds made slow stop it early."""
    import time as _time

    from offline_sched.planner.benders import benders

    data = _grouped_busy_day(monkeypatch)
    out = {}
    for name, kw, nap in (("none", {}, 0.0), ("r1", {"stall_rounds": 1}, 0.0),
                          ("r3", {"stall_rounds": 3}, 0.0), ("s1", {"stall_s": 1.0}, 0.0),
                          ("slow", {"stall_s": 0.5}, 0.2)):
        rel = relax.solve_relaxation(data)
        glp, gsol, _ = rel.groups
        calls = []
        real = glp.sift
        began = _time.perf_counter()

        def spy(time_limit=None, _real=real, _calls=calls, _began=began, _nap=nap, **kwargs):
            _calls.append((time_limit, _time.perf_counter() - _began,
                           kwargs.get("stop_on_overflow")))
            _time.sleep(_nap)  # a slow inner LP
            return _real(time_limit, **kwargs)

        monkeypatch.setattr(glp, "sift", spy)
        res = benders(data, glp, gsol, 1e-12, _time.perf_counter() + 30.0, pricer=rel.pricer,
                      **kw)
        assert res.lower_bound <= res.upper_lp * (1 + 1e-9)
        out[name] = (res, calls)
    lp_bound = out["r1"][0].lower_bound
    assert out["r1"][0].rounds == 2 and out["r3"][0].rounds == 4  # round 1 moves, then flat
    assert out["none"][0].lower_bound > lp_bound * (1 + 1e-3)  # the bound rises later ...
    assert out["s1"][0].lower_bound == pytest.approx(out["none"][0].lower_bound, rel=1e-9)
    assert out["slow"][0].rounds <= 5 < out["none"][0].rounds  # 0.2 s rounds: ~3 flat ones
    assert out["slow"][0].lower_bound < out["none"][0].lower_bound
    repeats = [(lim, at) for lim, at, first in out["s1"][1] if first is False]
    assert repeats and all(lim <= max(at, 0.05) + 0.01 for lim, at in repeats)
    assert all(lim > 10 for lim, _, first in out["none"][1] if first is False)  # uncapped


def test_benders_ends_after_an_unfinished_capped_repeat(monkeypatch):
    """With a stall rule, a repeated point whose capped re-solve does not finish ends the
    loop: no inner LP is solved after it. Here every inner LP is reported unfinished; without
    the stop the master offers repeated points again and again (five re-solves, measured)."""
    import time as _time

    from offline_sched.planner.benders import benders

    data = _grouped_busy_day(monkeypatch)
    rel = relax.solve_relaxation(data)
    glp, gsol, _ = rel.groups
    real = glp.sift
    calls = []  # per sift call: whether it re-solved a repeated point

    def unfinished_repeats(time_limit=None, **kwargs):
        sol = real(time_limit, **kwargs)
        calls.append(kwargs.get("stop_on_overflow") is False)
        return replace(sol, exact=False)  # every point looks priced from a stopped LP

    monkeypatch.setattr(glp, "sift", unfinished_repeats)
    res = benders(data, glp, gsol, 1e-12, _time.perf_counter() + 30.0, pricer=rel.pricer,
                  stall_s=30.0)
    assert calls.count(True) == 1 and calls[-1]  # the repeat, then nothing more
    assert res.lower_bound <= res.upper_lp * (1 + 1e-9)


def test_benders_bound_progress_does_not_need_a_feasible_point():
    """The stall rule's bound test: a first finite bound is progress, a rise counts by its
    own size, and no best point (inf) is needed for either."""
    from offline_sched.planner.benders import bound_moved

    assert bound_moved(5.0, -np.inf)  # the first finite bound, nothing feasible yet
    assert bound_moved(5.0 * (1 + 1e-6), 5.0)
    assert not bound_moved(5.0, 5.0)
    assert not bound_moved(5.0 * (1 + 1e-12), 5.0)
    assert not bound_moved(-np.inf, -np.inf)
    assert not bound_moved(4.0, 5.0)


def _primal_test_lp():
    """A restricted LP solved cold on its first columns, then given every column."""
    rng = np.random.default_rng(16)
    _, data, _ = busy_day(rng, rng.integers(1, 200, 2000), rng.integers(1, 100, 2000), 3,
                          limit=False)
    pricer = relax.Pricer(data.rows, data.options, data.beta)
    best = pricer.price(np.zeros(data.options.n), np.zeros(2)).option
    k = np.arange(data.rows.n)
    lp = relax._lp(data.rows, data, pricer, np.full(data.rows.n, -1), (k, best))
    assert lp.run() == "optimal" and lp.cold_s is not None
    lp.add_columns(*relax.all_columns(data.rows, data))
    whole = relax._lp(data.rows, data, pricer, np.full(data.rows.n, -1),
                      relax.all_columns(data.rows, data))
    assert whole.run() == "optimal"
    return lp, whole.h.getInfo().objective_function_value


def _spy_limits(monkeypatch, lp_mod):
    """Record the seconds of every HiGHS time limit the LP sets (the limits go on as set)."""
    limits = []
    real_limit = lp_mod.set_time_limit

    def spy_limit(h, seconds, **kwargs):
        limits.append(seconds)
        return real_limit(h, seconds, **kwargs)

    monkeypatch.setattr(lp_mod, "set_time_limit", spy_limit)
    return limits


def test_warm_primal_is_capped_and_dual_goes_on(monkeypatch):
    """A warm primal simplex that runs out of its cap (the cold solve's time) hands over to
    dual simplex from its basis: the LP still ends optimal, and primal stays off."""
    from offline_sched.planner import lp as lp_mod

    lp, optimum = _primal_test_lp()
    strategies = []

    class Proxy:  # reports a time-limit stop for the first primal run
        def __init__(self, h):
            self._h, self._cut = h, False

        def __getattr__(self, name):
            return getattr(self._h, name)

        def run(self):
            strategies.append(self._h.getOptionValue("simplex_strategy")[1])
            if strategies[-1] == lp_mod.PRIMAL_SIMPLEX and not self._cut:
                self._cut = True
                return None  # stopped at once, as at a cap reached
            self._cut = False
            return self._h.run()

        def getModelStatus(self):
            if self._cut:
                return lp_mod.highspy_module().HighsModelStatus.kTimeLimit
            return self._h.getModelStatus()

    limits = _spy_limits(monkeypatch, lp_mod)
    lp.h = Proxy(lp.h)
    assert lp.run(30.0, primal=True) == "optimal"
    assert strategies == [lp_mod.PRIMAL_SIMPLEX, lp_mod.DUAL_SIMPLEX]
    assert limits[0] == pytest.approx(max(lp.cold_s, lp_mod.PRIMAL_MIN_S))
    assert not lp.primal_ok
    assert lp.h.getInfo().objective_function_value == pytest.approx(optimum, rel=1e-9)


def test_warm_primal_stopped_by_the_callers_limit_keeps_primal(monkeypatch):
    """A warm primal run that ends on the caller's own limit (below the cap) is not slower
    than a cold solve: it reports the time-limit, dual does not take over, and primal stays
    on for the next LP."""
    from offline_sched.planner import lp as lp_mod

    lp, _ = _primal_test_lp()
    lp.cold_s = 10.0  # the cap (the cold solve's time) lies above the caller's 1 s
    strategies = []

    class Proxy:  # the primal run stops at once on the caller's limit
        def __init__(self, h):
            self._h = h

        def __getattr__(self, name):
            return getattr(self._h, name)

        def run(self):
            strategies.append(self._h.getOptionValue("simplex_strategy")[1])
            return None

        def getModelStatus(self):
            return lp_mod.highspy_module().HighsModelStatus.kTimeLimit

    lp.h = Proxy(lp.h)
    assert lp.run(1.0, primal=True) == "time-limit"
    assert strategies == [lp_mod.PRIMAL_SIMPLEX]
    assert lp.primal_ok


def test_real_highs_goes_on_after_a_capped_primal(monkeypatch):
    """With real HiGHS (no proxy): a warm primal cut at a tiny cap ends on HiGHS's own time
    limit, dual simplex goes on from its basis to the LP optimum, and primal is turned off."""
    from offline_sched.planner import lp as lp_mod

    lp, optimum = _primal_test_lp()
    monkeypatch.setattr(lp_mod, "PRIMAL_MIN_S", 1e-5)
    lp.cold_s = 1e-5
    statuses = []
    real_status = lp_mod.model_status

    def spy_status(h):
        statuses.append(real_status(h))
        return statuses[-1]

    monkeypatch.setattr(lp_mod, "model_status", spy_status)
    limits = _spy_limits(monkeypatch, lp_mod)
    assert lp.run(30.0, primal=True) == "optimal"
    assert statuses == ["time-limit", "optimal"]  # HiGHS itself stopped the primal run
    assert limits[0] == pytest.approx(1e-5) and limits[1] > 29.0
    assert not lp.primal_ok
    assert lp.h.getInfo().objective_function_value == pytest.approx(optimum, rel=1e-9)


def test_large_models_skip_benders_where_the_rounded_up_replicas_are_close(monkeypatch):
    """The fine LP is re-solved at the LP's replica counts rounded up first; within a quarter
    of the tolerance of the bound there (a loose tolerance), Benders is not run and the
    repair starts from that LP; with a tight tolerance Benders runs. Either way the plan's
    value is not below its bound."""
    from offline_sched.planner import solve as solve_mod
    from offline_sched.planner.rounding import option_objective

    data = _grouped_busy_day(monkeypatch)
    real_benders, real_polish = solve_mod.benders, solve_mod.polish
    seen: dict[str, list] = {"benders": [], "polish": []}

    def benders(*args, **kwargs):
        seen["benders"].append(1)
        return real_benders(*args, **kwargs)

    sol_lp: list = []

    def polish(lp, sol, *args, **kwargs):
        seen["polish"].append(sol)
        sol_lp[:] = [lp]
        return real_polish(lp, sol, *args, **kwargs)

    monkeypatch.setattr(solve_mod, "benders", benders)
    monkeypatch.setattr(solve_mod, "polish", polish)
    for tol, runs in ((5e-2, False), (1e-12, True)):  # the LP 0.8 % below rounded up
        seen["benders"].clear()
        seen["polish"].clear()
        out = solve_mod.solve_options(data, None, tol)
        assert bool(seen["benders"]) == runs
        sol = seen["polish"][0]
        assert (np.abs(sol.n_on - np.rint(sol.n_on)) < 1e-9).all()  # whole replicas
        if not runs:
            gap = (sol.objective - out.lower_bound) / abs(sol.objective)
            assert gap <= 0.1 * solve_mod.LARGE_BENDERS_TOL * tol
        value = option_objective(sol_lp[0], out.k, out.j, out.count, out.n_on)
        assert out.lower_bound <= value * (1 + 1e-9)
