"""The large-model repair (``planner.polish``): its priced long-first start, the start filled
while the MIP runs, the better of the two plans kept, and the capacity fill's candidates."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import options_by_cost
from test_planner import busy_day, feasible_slot, make_fleet, raw_costs

from offline_sched import build_problem, load_workload
from offline_sched.fleet import Fleet
from offline_sched.planner import fill as fill_mod
from offline_sched.planner import polish as polish_mod
from offline_sched.planner import relax
from offline_sched.planner.model import prepare
from offline_sched.planner.slots import Provisioning
from offline_sched.solver.mip_process import MipOutcome


def _day(seed: int = 31, n: int = 3000, t_n: int = 3):
    rng = np.random.default_rng(seed)
    _, data, _ = busy_day(rng, rng.integers(1, 200, n), rng.integers(1, 100, n), t_n,
                          limit=False)
    rel = relax.solve_relaxation(data)
    return data, rel.lp, rel.sol


def _mip_returns_its_start(model, seconds, stall_s=None, meanwhile=None, first_plan_s=None):
    """A stand-in MIP: the start is filled meanwhile, then its start comes back as a plan
    that beats it (so the MIP's plan is filled and compared too)."""
    meanwhile()
    return MipOutcome(model.start_values, -np.inf, -np.inf, True, "optimal")


def _check_plan(lp, k, j, c, n_on):
    rows, opt = lp.rows, lp.opt
    busy = np.bincount(j, weights=c * rows.runtime[k, opt.system[j]], minlength=opt.n)
    assert (busy <= opt.replica_s * n_on * (1 + 1e-12)).all()
    assert (np.bincount(k, weights=c, minlength=rows.n) == rows.count).all()
    assert opt.allowed(rows, k, j).all()
    assert (n_on <= opt.n_hi).all() and (n_on >= opt.n_lo).all()


def test_polish_keeps_the_better_of_the_filled_mip_plan_and_the_filled_start(monkeypatch):
    """Both plans are filled and the one of least objective is returned: with the start's
    value biased down it is the start (``lp+round``), biased up the MIP's (``lp+polish``);
    it fails if either plan is kept whatever the other is worth."""
    data, lp, sol = _day()
    real_fill = polish_mod._fill
    records: list[tuple] = []
    bias = [0.0]

    def biased_fill(lp_, plan, end, abs_gap, enough=None):
        out = real_fill(lp_, plan, end, abs_gap, enough)
        records.append(out)
        return out[0], out[1] + (bias[0] if len(records) == 1 else 0.0), out[2]

    monkeypatch.setattr(polish_mod, "_fill", biased_fill)
    monkeypatch.setattr(polish_mod, "solve_with_deadline", _mip_returns_its_start)
    for b, want, which in ((-1e3, "lp+round", 0), (1e3, "lp+polish", 1)):
        records.clear()
        bias[0] = b
        k, j, c, n_on, method = polish_mod.polish(lp, sol, data.options.n_lo,
                                                  data.options.n_hi, None, 1e-9)
        assert len(records) == 2 and method.startswith(want)
        plan = records[which][0]
        assert all(np.array_equal(a, b_) for a, b_ in zip((k, j, c, n_on), plan, strict=True))
        _check_plan(lp, k, j, c, n_on)


def test_polish_without_a_mip_plan_returns_the_start_filled_meanwhile(monkeypatch):
    """A MIP child that reports nothing (stopped when no better plan came in time): the plan
    is the greedy start filled while it ran — feasible, every query once — not an error."""
    data, lp, sol = _day(seed=5)
    calls = []

    def no_plan(model, seconds, stall_s=None, meanwhile=None, first_plan_s=None):
        assert meanwhile is not None
        meanwhile()
        calls.append(first_plan_s)
        return MipOutcome(None, np.inf, -np.inf, False, "killed")

    monkeypatch.setattr(polish_mod, "solve_with_deadline", no_plan)
    k, j, c, n_on, method = polish_mod.polish(lp, sol, data.options.n_lo, data.options.n_hi,
                                              None, 1e-9)
    assert calls == [polish_mod.MIP_FIRST_PLAN_S] and method.startswith("lp+round")
    _check_plan(lp, k, j, c, n_on)


def test_the_priced_start_places_the_longest_left_overs_first_where_they_cost_least(
        monkeypatch):
    """Replaying the priced greedy's placements (bumping off): rows in order of their fastest
    runtime, longest first, and each query on the option of least cost at the LP's prices
    among those it fits (switching a replica on at its cost)."""
    data, lp, sol = _day(seed=8, t_n=6)
    rows, opt = lp.rows, lp.opt
    got = {}
    real = polish_mod._greedy

    def spy(lp_, open_rows, ck, cj, x0, base_load, n_start, n_hi, prices=None, **kw):
        out = real(lp_, open_rows, ck, cj, x0, base_load, n_start, n_hi, prices=prices, **kw)
        if prices is not None and "args" not in got:
            got["args"] = (ck, cj, x0, base_load, n_start, n_hi)
            got["out"] = out
        return out

    monkeypatch.setattr(polish_mod, "_greedy", spy)
    monkeypatch.setattr(polish_mod, "_bump", lambda *a, **k: None)  # (tested on its own)
    polish_mod.polish(lp, sol, opt.n_lo, opt.n_hi, None, 1e-9)
    ck, cj, x0, base_load, n_start, n_hi = got["args"]
    _, pairs, _ = got["out"]
    assert len(pairs) >= 4  # the day leaves several queries over
    fastest = np.where(rows.eligible, rows.runtime, np.inf).min(axis=1)[pairs[:, 0]]
    assert (np.diff(fastest) <= 1e-12).all()
    x = np.floor(x0 + polish_mod.FRACTION_TOL)
    busy = base_load + np.bincount(cj, weights=x * rows.runtime[ck, opt.system[cj]],
                                   minlength=opt.n)
    n_on = np.maximum(n_start, np.ceil(busy / opt.replica_s - 1e-9))
    js = np.arange(opt.n)
    for kk, pick in pairs:  # replay each placement against an independent price
        r = rows.runtime[kk, opt.system]
        need = np.ceil((busy + r) / opt.replica_s - 1e-9)
        priced = (rows.a[kk, opt.system] * opt.g + r * (lp.pricer.beta + sol.mu)
                  + sol.nu[opt.system] + np.maximum(need - n_on, 0) * opt.cost_n)
        ok = opt.allowed(rows, np.full(opt.n, kk), js) & (need <= n_hi)
        assert priced[pick] <= priced[ok].min() + 1e-12 * abs(priced[ok].min())
        busy[pick] += r[pick]
        n_on[pick] = max(n_on[pick], need[pick])


def _fill_by_scan(lp, k, j, c, n_on, passes=fill_mod.FILL_PASSES):
    """The capacity fill with its candidates found by a scan of every entry (reference)."""
    rows, opt = lp.rows, lp.opt
    c = c.astype(np.int64).copy()
    rt_all = rows.runtime[k]
    busy = np.bincount(j, weights=c * rt_all[np.arange(k.size), opt.system[j]],
                       minlength=opt.n)
    cur_cost = lp.pricer.costs(k, j)
    gf = opt.group_first[opt.group]
    moves = []
    for jj in np.argsort(busy - opt.replica_s * n_on):
        s = int(opt.system[jj])
        for _ in range(passes):
            room = float(opt.replica_s[jj] * n_on[jj] - busy[jj])
            if room <= 0:
                break
            cand = np.flatnonzero(rt_all[:, s] <= room)
            kc = k[cand]
            ok = ((c[cand] > 0) & (j[cand] != jj) & rows.eligible[kc, s]
                  & (rows.first[kc] <= gf[jj]) & (gf[jj] <= rows.last[kc]))
            cand = cand[ok]
            gain = cur_cost[cand] - (rows.a[k[cand], s] * opt.g[jj]
                                     + lp.pricer.beta * rt_all[cand, s])
            cand, gain = cand[gain > 0], gain[gain > 0]
            if cand.size == 0:
                break
            r = np.maximum(rt_all[cand, s], 1e-12)
            order = np.argsort(-gain / r, kind="stable")
            cand, r = cand[order], r[order]
            n_fit = np.minimum(c[cand], np.floor(room / r))
            m = np.where(np.cumsum(n_fit * r) <= room * (1 + 1e-12), n_fit, 0).astype(np.int64)
            if not m.any():
                break
            e, mm = cand[m > 0], m[m > 0]
            c[e] -= mm
            np.subtract.at(busy, j[e], mm * rt_all[e, opt.system[j[e]]])
            busy[jj] += float(mm @ r[m > 0])
            moves.append((k[e], np.full(e.size, jj), mm))
    return c, moves


@pytest.mark.parametrize("limit,windows", [(False, False), (True, True)])
def test_fill_candidates_are_those_a_scan_of_every_entry_finds(limit, windows):
    """The fill looks only at the entries that could gain on a system at all, by runtime
    there; on a day whose energies include more idle than some queries use (negative
    per-query terms, so the gain is largest at the *greatest* carbon factor), every class on
    its second-cheapest option, it moves the same queries as a scan of every entry — also
    with token limits (entries a system may not take) and release/deadline windows (time
    classes of one token class: equal runtimes and gains, so the order of ties counts)."""
    rng = np.random.default_rng(44)
    n, t_n = 2000, 3
    p, data, _ = busy_day(rng, rng.integers(1, 200, n), rng.integers(1, 100, n), t_n,
                          limit=limit)
    slot = data.grid.slot_s
    a = rng.integers(0, t_n, n)
    data = prepare(p, 0.5, slot_s=slot, minimise="carbon", carbon=rng.uniform(50, 300, t_n),
                   release_s=a * slot if windows else None,
                   deadline_s=np.minimum(a + rng.integers(1, t_n + 1, n), t_n) * slot
                   if windows else None,
                   provisioning=[Provisioning(idle_power_w=300.0, energy_includes_idle=True)] * 2)
    assert (data.rows.a < 0).any() and (data.rows.a > 0).any()
    if limit:
        assert not data.rows.eligible.all()
    lp = relax.solve_relaxation(data).lp
    rows, opt = data.rows, data.options
    order, n_allowed = options_by_cost(lp)
    k = np.arange(rows.n)
    j = order[k, np.minimum(1, n_allowed - 1)]  # every class on its second-cheapest option
    c = rows.count.astype(np.int64)
    busy = np.bincount(j, weights=c * rows.runtime[k, opt.system[j]], minlength=opt.n)
    n_on = np.ceil(busy / opt.replica_s).astype(np.int64) + 1
    k2, j2, c2, n2 = fill_mod.fill_room(lp, k, j, c, n_on, passes=2)
    c_ref, moves = _fill_by_scan(lp, k, j, c, n_on, passes=2)
    assert moves
    ref = (np.r_[k, *[m[0] for m in moves]], np.r_[j, *[m[1] for m in moves]],
           np.r_[c_ref, *[m[2] for m in moves]])
    nz = ref[2] > 0
    assert np.array_equal(k2, ref[0][nz]) and np.array_equal(j2, ref[1][nz])
    assert np.array_equal(c2, ref[2][nz])


def _taken(order, c, r, room):
    """What the fill's knapsack takes in this order: the prefix whose loads fit the room."""
    n_fit = np.minimum(c[order], np.floor(room / r[order]))
    keep = np.cumsum(n_fit * r[order]) <= room * (1 + 1e-12)
    return order[keep], n_fit[keep]


def test_densest_first_gives_the_knapsack_the_same_prefix_as_a_full_sort():
    """Partial sorting (the densest few hundred, ties included) hands the knapsack the same
    prefix as a stable sort of every candidate — many tied densities, rooms small and large."""
    rng = np.random.default_rng(2)
    for _ in range(200):
        n = int(rng.integers(1, 3000))
        density = rng.choice(rng.uniform(0, 1, int(rng.integers(1, 40))), n)  # many ties
        room = float(rng.uniform(1, 2000))
        r = rng.uniform(0.01, 1, n) * room * 10 ** rng.uniform(-4, 0)  # many fit, or few
        c = rng.integers(1, 4, n)

        want = _taken(np.argsort(-density, kind="stable"), c, r, room)
        got = _taken(fill_mod._densest_first(density, r, room), c, r, room)
        assert np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1])


def test_no_child_process_still_gives_the_filled_start(monkeypatch):
    """Where no child process can start, the MIP has no plan: the greedy start, filled, is
    the plan (with the warning), not a SolverError."""
    from offline_sched.solver import mip_process

    data, lp, sol = _day(seed=5)

    def no_process(*args, **kwargs):
        raise OSError("no processes here")

    monkeypatch.setattr(mip_process.subprocess, "Popen", no_process)
    with pytest.warns(RuntimeWarning, match="could not start a child process"):
        k, j, c, n_on, method = polish_mod.polish(lp, sol, data.options.n_lo,
                                                  data.options.n_hi, None, 1e-9)
    assert method.startswith("lp+round")
    _check_plan(lp, k, j, c, n_on)


def _share_day(seed: int, max_share: tuple[float, float], n: int = 3000, t_n: int = 3):
    """busy_day's two systems with share bounds (at most ``max_share`` of the queries each)."""
    rng = np.random.default_rng(seed)
    tin, tout = rng.integers(1, 200, n), rng.integers(1, 100, n)
    fleet, raw = make_fleet(rng, 2, 1.0, limit=False)
    _, r, ok = raw_costs(raw, tin, tout)
    slot = feasible_slot(raw, r, ok, t_n, 0.9)
    fleet = Fleet(tuple(replace(s, window_s=slot * t_n, max_share=max_share[i])
                        for i, s in enumerate(fleet)))
    p = build_problem(load_workload(pd.DataFrame({"input_tokens": tin, "output_tokens": tout})),
                      fleet)
    data = prepare(p, 0.5, slot_s=slot, minimise="carbon", carbon=rng.uniform(50, 300, t_n),
                   provisioning=[Provisioning(idle_power_w=20.0)] * 2)
    rel = relax.solve_relaxation(data)
    return data, rel.lp, rel.sol


def test_the_start_keeps_share_bounds_and_one_outside_them_does_not_win(monkeypatch):
    """Share bounds: the greedy start places left-overs only where a system has share room,
    and a start outside the bounds never replaces the MIP's plan (a plan 1 query over the
    bound was kept before, being cheaper for breaking it)."""
    data, lp, sol = _share_day(1, (1.0, 0.5))
    k, j, c, n_on, _ = polish_mod.polish(lp, sol, data.options.n_lo, data.options.n_hi, None,
                                         1e-9)
    per = np.bincount(lp.opt.system[j], weights=c, minlength=2)
    assert (per >= lp.share_lo - 1e-9).all() and (per <= lp.share_hi + 1e-9).all()
    _check_plan(lp, k, j, c, n_on)
    # a start taken to break the bounds loses to the MIP's plan, however cheap it looks
    real_fill = polish_mod._fill
    calls = []

    def cheap_start(lp_, plan, end, abs_gap, enough=None):
        out = real_fill(lp_, plan, end, abs_gap, enough)
        calls.append(out)
        return out[0], out[1] - (1e3 if len(calls) == 1 else 0.0), out[2]

    monkeypatch.setattr(polish_mod, "_within_shares", lambda *a: False)
    monkeypatch.setattr(polish_mod, "_fill", cheap_start)
    monkeypatch.setattr(polish_mod, "solve_with_deadline", _mip_returns_its_start)
    k, j, c, n_on, method = polish_mod.polish(lp, sol, data.options.n_lo, data.options.n_hi,
                                              None, 1e-9)
    assert len(calls) == 2 and method.startswith("lp+polish")


def test_a_long_left_over_bumps_open_queries_off_its_lp_option_only_where_that_is_cheaper(
        monkeypatch):
    """Each bump puts the query on an option its row had in the LP, frees enough there by
    taking floored open-row queries placed there, and costs less at the LP's prices (its
    own price there plus each bumped query's cheapest other option less its price there,
    priced densely here) than the cheapest option with room; the start stays a plan."""
    data, lp, sol = _day(seed=9, t_n=6)
    rows, opt = lp.rows, lp.opt
    events = []
    real = polish_mod._bump

    def spy(lp_, k, cost, elsewhere, ck, cj, x, x0, rt, val_c, busy, n_on, prices, n_hi=None):
        x_before, busy_before = x.copy(), busy.copy()
        out = real(lp_, k, cost, elsewhere, ck, cj, x, x0, rt, val_c, busy, n_on, prices, n_hi)
        if out is not None:
            events.append((k, elsewhere, out, ck, cj, x_before, x0, rt, busy_before, n_on.copy(),
                           n_hi))
        return out

    monkeypatch.setattr(polish_mod, "_bump", spy)
    k2, j2, c2, n2, _ = polish_mod.polish(lp, sol, opt.n_lo, opt.n_hi, None, 1e-9)
    _check_plan(lp, k2, j2, c2, n2)
    assert events  # the day has long left-overs without room at home
    assert {n_hi is None for *_, n_hi in events} == {True, False}  # both starts bump
    js = np.arange(opt.n)
    for k, elsewhere, (b, taken), ck, cj, x, x0, rt, busy, n_on, n_hi in events:
        assert ((ck == k) & (cj == b) & (x0 > 0)).any()  # b is one of its LP options
        cols = np.array([c for c, _ in taken])
        n_taken = np.array([n for _, n in taken])
        assert (cj[cols] == b).all() and (ck[cols] != k).all() and (n_taken <= x[cols]).all()
        r_k = rows.runtime[k, opt.system[b]]
        assert busy[b] - n_taken @ rt[cols] + r_k <= opt.replica_s[b] * n_on[b] * (1 + 1e-12)
        priced = lp.pricer.values(np.full(opt.n, k), js, sol.mu, sol.nu)
        total = priced[b]
        for col, n in taken:  # each bumped query: its cheapest other allowed option
            q = int(ck[col])
            ok = opt.allowed(rows, np.full(opt.n, q), js) & (js != b)
            v = lp.pricer.values(np.full(opt.n, q), js, sol.mu, sol.nu)
            if n_hi is not None:  # ... with room for it now, replicas switched on at cost
                need = np.ceil((busy + rows.runtime[q, opt.system]) / opt.replica_s - 1e-9)
                ok &= need <= n_hi
                v = v + np.maximum(need - n_on, 0.0) * opt.cost_n
            total += n * (v[ok].min() - v[b])
        assert total < elsewhere


def test_floating_point_noise_on_a_full_option_is_not_overflow():
    """An option loaded a few 1e-12 s past its capacity (the LP's own rounding) reopens no
    row; a second over reopens its longest rows, enough to cover the second."""
    data, lp, sol = _day(seed=3)
    rows, opt = lp.rows, lp.opt
    k, j, v, _ = polish_mod._entries(lp, sol)
    jj = int(np.bincount(j, minlength=opt.n).argmax())
    on = j == jj
    k, j, v = k[on], j[on], v[on].copy()
    rt = rows.runtime[k, opt.system[jj]]
    n_hi = np.ones(opt.n)
    cap = opt.replica_s[jj]
    v *= cap / float(v @ rt)  # exactly full
    for noise in (0.0, 4e-12, 1e-9):
        load = float((v * (1 + noise / cap)) @ rt)
        assert load >= cap or noise == 0.0
        assert polish_mod._overflow_rows(lp, k, j, v * (1 + noise / cap), n_hi).size == 0
    out = polish_mod._overflow_rows(lp, k, j, v * (1 + 1.0 / cap), n_hi)
    longest = k[np.argsort(-v * rt, kind="stable")]
    assert out.size >= 1 and set(out) == set(longest[:out.size])
    assert float((v * rt)[np.isin(k, out)].sum()) >= 1.0 - 1e-9
    # the same load as many short replica-slots: over by 1e-9 of one of them is overflow
    # (polish's check of the kept rows would refuse it), whatever the capacity
    many = np.full(opt.n, 1000.0)
    short = replace(opt, replica_s=opt.replica_s / 1000.0)
    lp_short = type("LP", (), {"rows": rows, "opt": short})()
    eps = 1e-9 * short.replica_s[jj]
    assert polish_mod._overflow_rows(lp_short, k, j, v * (1 + eps / cap), many).size >= 1


def test_a_filled_start_good_enough_stops_the_mip_and_the_fill(monkeypatch):
    """With ``enough`` above the start's value, the MIP child is stopped as soon as the start
    is in hand (status ``enough``), no fill round runs, and the start is the plan; with
    ``enough`` out of reach the MIP is waited for and the fill runs as without it."""
    data, lp, sol = _day(seed=5)
    statuses: list[str] = []
    fills = []
    real_solve, real_fill_room = polish_mod.solve_with_deadline, polish_mod.fill_room

    def solve(*args, **kwargs):
        out = real_solve(*args, **kwargs)
        statuses.append(out.status)
        return out

    def fill_room(*args, **kwargs):
        fills.append(1)
        return real_fill_room(*args, **kwargs)

    monkeypatch.setattr(polish_mod, "solve_with_deadline", solve)
    monkeypatch.setattr(polish_mod, "fill_room", fill_room)
    k, j, c, n_on, method = polish_mod.polish(lp, sol, data.options.n_lo, data.options.n_hi,
                                              None, 1e-9, enough=np.inf)
    assert statuses == ["enough"] and not fills and method == "lp+round"
    _check_plan(lp, k, j, c, n_on)
    statuses.clear()
    k, j, c, n_on, method = polish_mod.polish(lp, sol, data.options.n_lo, data.options.n_hi,
                                              None, 1e-9, enough=-np.inf)
    assert statuses and statuses[0] != "enough" and fills
    _check_plan(lp, k, j, c, n_on)
    # stopped after the MIP had sent a plan better than the start: the start still stands,
    # the MIP's plan is not filled (that fill is what stopping saves)
    fills.clear()

    def stopped(model, seconds, stall_s=None, meanwhile=None, first_plan_s=None):
        assert meanwhile is not None and meanwhile() is True
        return MipOutcome(model.start_values, -np.inf, -np.inf, False, "enough")

    monkeypatch.setattr(polish_mod, "solve_with_deadline", stopped)
    k, j, c, n_on, method = polish_mod.polish(lp, sol, data.options.n_lo, data.options.n_hi,
                                              None, 1e-9, enough=np.inf)
    assert not fills and method == "lp+round"
    _check_plan(lp, k, j, c, n_on)


def test_a_query_is_bumped_only_towards_options_with_room(monkeypatch):
    """Replaying a real bump with every option made full: the room-aware bump gives up (the
    bumped queries could go nowhere), while the bump by price alone still bumps (a full
    option is cheap at its price); with the state as it was, both bump."""
    data, lp, sol = _day(seed=9, t_n=6)
    opt = lp.opt
    calls = []
    real = polish_mod._bump

    def spy(*args):
        copies = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
        out = real(*args)
        if out is not None and args[-1] is not None:
            calls.append((copies, out))
        return out

    monkeypatch.setattr(polish_mod, "_bump", spy)
    polish_mod.polish(lp, sol, opt.n_lo, opt.n_hi, None, 1e-9)
    assert calls
    args = calls[0][0]

    def replay(busy, n_hi):
        a = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
        a[10], a[13] = busy.copy(), n_hi
        return real(*a)

    busy, n_hi = args[10], args[13]
    assert replay(busy, n_hi) is not None and replay(busy, None) is not None
    full = opt.replica_s * n_hi + 1.0  # every option over (room even for 0 s queries)
    assert replay(full, n_hi) is None
    assert replay(full, None) is not None


def test_the_better_of_the_two_filled_starts_is_kept(monkeypatch):
    """Without share bounds, the start bumping by price alone is filled too (after the
    room-aware one, while the MIP runs) when it differs; the plan kept is the filled start of
    least objective: biased down, the second start is returned, biased up the first."""
    data, lp, sol = _day(seed=9, t_n=6)
    opt = lp.opt
    real_fill = polish_mod._fill
    seen: list[tuple] = []
    bias = [0.0]

    def biased(lp_, plan, end, abs_gap, enough=None):
        out = real_fill(lp_, plan, end, abs_gap, enough)
        seen.append(out[0])
        return out[0], out[1] + (bias[0] if len(seen) == 2 else 0.0), out[2]

    def no_plan(model, seconds, stall_s=None, meanwhile=None, first_plan_s=None):
        assert meanwhile is not None and meanwhile() is False
        return MipOutcome(None, np.inf, -np.inf, False, "killed")

    monkeypatch.setattr(polish_mod, "_fill", biased)
    monkeypatch.setattr(polish_mod, "solve_with_deadline", no_plan)
    for b, want in ((-1e3, 1), (1e3, 0)):
        seen.clear()
        bias[0] = b
        k, j, c, n_on, method = polish_mod.polish(lp, sol, opt.n_lo, opt.n_hi, None, 1e-9)
        assert len(seen) == 2 and not polish_mod._same_plan(seen[0], seen[1])
        assert polish_mod._same_plan((k, j, c, n_on), seen[want])
        _check_plan(lp, k, j, c, n_on)


def test_same_plan_compares_placements_counts_and_replicas():
    """Equal up to the order of entries; any count, option or replica count differs: not."""
    k, j = np.array([0, 1, 2]), np.array([1, 0, 1])
    c, n = np.array([1, 2, 3]), np.array([1, 1])
    order = np.array([2, 0, 1])
    assert polish_mod._same_plan((k, j, c, n), (k[order], j[order], c[order], n))
    assert not polish_mod._same_plan((k, j, c, n), (k, j, c + np.array([0, 0, 1]), n))
    assert not polish_mod._same_plan((k, j, c, n), (k, np.array([1, 1, 1]), c, n))
    assert not polish_mod._same_plan((k, j, c, n), (k, j, c, np.array([1, 2])))
    assert not polish_mod._same_plan((k, j, c, n), (k[:2], j[:2], c[:2], n))
    assert not polish_mod._same_plan((k, j, c, n), None)


def test_a_better_mip_plan_sent_before_the_stop_is_kept(monkeypatch):
    """Stopped as 'enough', the MIP had already sent a plan cheaper than the filled start
    (here: the start's value biased up): that plan is returned, not the start."""
    data, lp, sol = _day(seed=5)
    real_fill = polish_mod._fill

    def dear_fill(lp_, plan, end, abs_gap, enough=None):
        out = real_fill(lp_, plan, end, abs_gap, enough)
        return out[0], out[1] + 1e3, out[2]

    def stopped(model, seconds, stall_s=None, meanwhile=None, first_plan_s=None):
        assert meanwhile is not None
        meanwhile()
        return MipOutcome(model.start_values, -np.inf, -np.inf, False, "enough")

    monkeypatch.setattr(polish_mod, "_fill", dear_fill)
    monkeypatch.setattr(polish_mod, "solve_with_deadline", stopped)
    k, j, c, n_on, method = polish_mod.polish(lp, sol, data.options.n_lo, data.options.n_hi,
                                              None, 1e-9, enough=np.inf)
    assert method == "lp+polish"
    _check_plan(lp, k, j, c, n_on)
