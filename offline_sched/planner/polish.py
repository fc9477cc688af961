"""Whole queries and whole replicas for large models: a small repair MIP around the LP's plan.

The restricted LP (:class:`~offline_sched.planner.lp.RestrictedLP`) of a large model has a
basic optimum: every row but a few (at most about one per capacity and share row) sits whole
on one option, and the replica-slots on N_j are fractional only where capacity does not bind.
:func:`polish` keeps those whole placements and re-decides, as one small MIP solved by HiGHS
in a child process killed at its time limit (:mod:`offline_sched.solver.mip_process`):

* the *open* rows: the fractional (split) rows and, on every option they or a fractional N
  touch, the :data:`OPEN_PER_OPTION` shortest rows placed there (swaps with them repack the
  option's capacity into whole queries);
* every N_j (integer, within the caller's bounds and at least what the kept rows need), and
  the switch-ons when there is start-up energy.

An open row may use its own options, its best option on each system at the LP's prices and
every option in play. The MIP starts from a greedy rounding (floor, then each left-over query,
longest first, where it costs least at the LP's prices, switching a replica on if it must,
bumping shorter ones towards options with room), so a plan is at hand whatever the time
limit. While the MIP runs in its child process, this process fills that start
(:func:`~.fill.fill_room`) and, where it differs, a second one bumping by price alone; the
MIP's plan is filled too, and the best is returned. A filled start within the caller's
``enough`` stops the MIP at once. Kept rows and replica bounds make it a restriction: its
value is an upper bound only; the certified gap comes from the caller's lower bound.
"""

from __future__ import annotations

import heapq
import time

import numpy as np

from ..errors import SolverError
from ..solver.mip_process import from_highs, solve_with_deadline
from .data import Options
from .fill import fill_room
from .highs import highspy_module, new_highs
from .lp import LPSolution, RestrictedLP
from .rounding import option_objective
from .switchons import add_switch_on_rows

OPEN_PER_OPTION = 60
"""Shortest rows per option in play that the repair MIP may move (fewer where the MIP would
exceed :data:`MIP_MAX_COLUMNS`). Measured (2026-12-02): the bundled example day planned
for carbon, gap 5.2e-4 with 20, 3.6e-4 with 60 or 150 (+0.1 s); the example day for energy
and the 10^6 benchmark are capped by the column limit and unchanged."""
MIP_MAX_COLUMNS = 15_000
"""About the largest repair MIP (HiGHS's root node alone grows steeply beyond: measured 3 s
at 17k columns, 30+ s at 26k on the 10^6-query benchmark; the MIP runs in a child process
killed at its time limit, :mod:`offline_sched.solver.mip_process`)."""
MIP_FIRST_PLAN_S = 1.0
"""The repair MIP is stopped when no plan better than its start has come within this many
seconds (:func:`~offline_sched.solver.mip_process.solve_with_deadline`'s ``first_plan_s``).
On eight captured fine-LP solutions of the 10^6 benchmark (2026-12-03) its better plans
came from the feasibility jump 0.27–0.45 s after the child started, or not at all within
its 3 s (HiGHS's root cut separation runs 7.5 s there, its sub-MIP plans came at 13 s)."""
FILL_ROUNDS = 8
"""Most rounds of :func:`fill_room` on each plan filled (the greedy start, while the repair
MIP runs, and the MIP's plan after it), each over every option."""
FILL_MIN_GAIN = 0.01
"""Fill rounds stop after one that gains less than this share of the MIP's gap tolerance
(measured on the 10^6 benchmark: the third round gained 2e-5 of a 2.5e-3 tolerance, the
later ones nothing)."""
COLUMNS_PER_ROW = 12
"""Options of least reduced cost an open row may move to."""
FRACTION_TOL = 1e-6
POLISH_TIME_S = 3.0
"""Most seconds for the repair MIP (at most half the time left; the start's fill rounds run
meanwhile, the MIP plan's after)."""
MIP_STALL_S = 0.3
"""The repair MIP is stopped once no plan better than its start has come for this long and
for as long as the last one took to find
(:func:`~offline_sched.solver.mip_process.solve_with_deadline`).
On the 10^6 benchmark its plans come from the feasibility jump within 0.2–0.4 s of HiGHS's
start, after which root cut separation runs for 8 s: the same plan at 0.3 s of stall as at
1 s and at the full 3 s (2026-12-02; earlier, four seeds: the same plans at 1 s as at
3 s); the bundled example day (carbon) likewise; a repair whose plans keep coming keeps its
time."""


def _entries(lp: RestrictedLP, sol: LPSolution
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Current placements ``(k, j, x)`` (fixed rows and LP columns) and the fractional rows."""
    fk = np.flatnonzero(sol.fixed_opt >= 0)
    x = np.maximum(sol.x, 0.0)
    frac = np.abs(x - np.rint(x)) > FRACTION_TOL
    frac_rows = np.unique(sol.col_k[frac])
    use = x > FRACTION_TOL
    k = np.r_[fk, sol.col_k[use]]
    j = np.r_[sol.fixed_opt[fk], sol.col_j[use]]
    v = np.r_[lp.rows.count[fk], x[use]]
    return k, j, v, frac_rows


def _open_rows(lp: RestrictedLP, k: np.ndarray, j: np.ndarray, frac_rows: np.ndarray,
               play: np.ndarray, widen: int = 1) -> np.ndarray:
    """Fractional rows and the shortest rows placed on each option in play.

    At most :data:`OPEN_PER_OPTION` per option, fewer where the MIP would otherwise exceed
    about :data:`MIP_MAX_COLUMNS` columns.
    """
    rows, opt = lp.rows, lp.opt
    is_play = np.zeros(opt.n, dtype=bool)
    is_play[play] = True
    on_play = np.flatnonzero(is_play[j])
    rt = rows.runtime[k[on_play], opt.system[j[on_play]]]
    order = np.lexsort((rt, j[on_play]))  # by option, shortest first
    jj = j[on_play][order]
    first = np.searchsorted(jj, jj, side="left")
    rank = np.arange(jj.size) - first
    room = (MIP_MAX_COLUMNS / COLUMNS_PER_ROW - frac_rows.size) / max(play.size, 1)
    per = int(np.clip(room, 2, OPEN_PER_OPTION)) * widen
    pick = on_play[order][rank < per]
    return np.union1d(frac_rows, k[pick])


def _overflow_rows(lp: RestrictedLP, k: np.ndarray, j: np.ndarray, v: np.ndarray,
                   n_hi: np.ndarray) -> np.ndarray:
    """Rows to move off options whose placed load exceeds every replica (longest first).

    Only a restricted LP stopped early (out of time) leaves such overflow; the LP's own
    rounding noise (a full option 4e-12 s over) is not overflow (see :data:`OVERFLOW_SLACK`).
    """
    rows, opt = lp.rows, lp.opt
    load = v * rows.runtime[k, opt.system[j]]
    cap = opt.replica_s * n_hi
    over = np.bincount(j, weights=load, minlength=opt.n) - cap
    # at most half what polish's own check of the kept rows allows (ceil(load/L − 1e-9))
    slack = np.minimum(OVERFLOW_SLACK * cap + OVERFLOW_SLACK_S, 0.5e-9 * opt.replica_s)
    hit = np.flatnonzero(over > slack)
    if hit.size == 0:
        return np.zeros(0, dtype=np.int64)
    out = []
    for jj in hit:  # loop over the overflowing options
        at = np.flatnonzero(j == jj)
        at = at[np.argsort(-load[at], kind="stable")]
        n_take = int(np.searchsorted(np.cumsum(load[at]), over[jj])) + 1
        out.append(k[at[:n_take]])
    return np.unique(np.concatenate(out))


def _candidates(lp: RestrictedLP, sol: LPSolution, open_rows: np.ndarray, k: np.ndarray,
                j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Allowed columns ``(k, j)`` of the open rows, sorted by row.

    Each open row keeps its own options and gets the :data:`COLUMNS_PER_ROW` allowed options
    of least reduced cost at the LP's prices (the moves a repair can afford) and the two
    cheapest with replicas to spare.
    """
    opt = lp.opt
    n_o, n_j = open_rows.size, opt.n
    rk = np.repeat(open_rows, n_j)
    rj = np.tile(np.arange(n_j), n_o)
    ok = opt.allowed(lp.rows, rk, rj)
    rc = np.where(ok, lp.pricer.values(rk, rj, sol.mu, sol.nu), np.inf).reshape(n_o, n_j)
    top = min(COLUMNS_PER_ROW, n_j)
    best = np.argpartition(rc, top - 1, axis=1)[:, :top]
    good = np.isfinite(np.take_along_axis(rc, best, axis=1))
    # and the two cheapest options with replicas to spare (room for whatever must move)
    spare = np.where(sol.n_on < opt.n_hi - 0.5, rc, np.inf)
    two = min(2, n_j)
    room = np.argpartition(spare, two - 1, axis=1)[:, :two]
    fine = np.isfinite(np.take_along_axis(spare, room, axis=1))
    mine = np.isin(k, open_rows)
    ck = np.r_[np.repeat(open_rows, top)[good.ravel()], np.repeat(open_rows, two)[fine.ravel()],
               k[mine]]
    cj = np.r_[best.ravel()[good.ravel()], room.ravel()[fine.ravel()], j[mine]]
    keys = np.unique(ck * n_j + cj)
    return keys // n_j, keys % n_j


def _greedy(lp: RestrictedLP, open_rows: np.ndarray, ck: np.ndarray, cj: np.ndarray,
            x0: np.ndarray, base_load: np.ndarray, n_start: np.ndarray, n_hi: np.ndarray,
            prices: tuple[np.ndarray, np.ndarray] | None = None,
            base_count: np.ndarray | None = None, bump_room: bool = True
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Floor the open rows' LP values, then place each left-over query where it costs least.

    A left-over query may go to any option its row allows (switching replicas on if it must).
    With ``prices`` (the LP's capacity and share prices μ, ν), the longest left-over queries
    (by their fastest allowed runtime) are placed first and each goes where it costs least
    *at those prices*: a query does not take the room on a scarce option that a query worth
    more there needs (see :data:`LONG_FIRST`); without share bounds a long query may also
    bump shorter ones off an option its row had in the LP (:func:`_bump`), which are then
    placed again in their turn (with ``bump_room``, only queries that have room elsewhere
    now are bumped; see :func:`_bump`). With share bounds and ``base_count`` (the
    kept rows' queries per system), a left-over goes to a system below its least share if
    it may, else to one below its most (where none is, anywhere allowed: the caller checks).

    Returns:
        ``(x on the candidate columns, (k, j) of the extra columns used, N)``, or None when
        a query fits nowhere even with every replica on.
    """
    rows, opt = lp.rows, lp.opt
    x = np.floor(x0 + FRACTION_TOL)
    rt = rows.runtime[ck, opt.system[cj]]
    busy = base_load + np.bincount(cj, weights=x * rt, minlength=opt.n)
    full = busy > opt.replica_s * n_hi * (1 + 1e-12)  # an LP stopped while overflowing
    if full.any():  # its queries there start over
        x[full[cj]] = 0.0
        busy = base_load + np.bincount(cj, weights=x * rt, minlength=opt.n)
    n_on = np.maximum(n_start, np.ceil(busy / opt.replica_s - 1e-9)).astype(np.float64)
    placed = np.bincount(ck, weights=x, minlength=rows.n)
    left = np.zeros(rows.n)
    left[open_rows] = rows.count[open_rows] - placed[open_rows]
    js = np.arange(opt.n)
    added: list[tuple[int, int]] = []
    shares = base_count is not None and lp.share_lo is not None and lp.share_hi is not None
    count = None if base_count is None else \
        base_count + np.bincount(opt.system[cj], weights=x, minlength=base_count.size)
    todo = np.flatnonzero(left > 0.5)
    key = np.zeros(rows.n)  # the order rows are taken in: row order, or longest first
    if prices is not None:  # each row's fastest allowed runtime
        key = -np.where(rows.eligible, rows.runtime, np.inf).min(axis=1)
    rank = {int(kk): i for i, kk in enumerate(todo)}  # a row's left-overs come in a row
    heap = [(float(key[kk]), i, int(kk)) for i, kk in enumerate(todo)]
    heapq.heapify(heap)
    # bumping (without share bounds): the open columns' prices, once
    val_c = None if prices is None or shares else lp.pricer.values(ck, cj, *prices)
    while heap:  # loop over the left-over queries, one at a time (evicted ones come back)
        _, _, kk = heapq.heappop(heap)
        if left[kk] < 0.5:
            continue
        kv = np.full(opt.n, kk)
        allowed = allowed_all = opt.allowed(rows, kv, js)
        r_k = rows.runtime[kk, opt.system]
        cost = (lp.pricer.costs(kv, js) if prices is None
                else lp.pricer.values(kv, js, *prices))
        if shares and count is not None:  # systems with share room, the short ones first
            assert lp.share_lo is not None and lp.share_hi is not None
            may = allowed_all & (count < lp.share_hi - 0.5)[opt.system]
            short = may & (count < lp.share_lo - 0.5)[opt.system]
            allowed = short if short.any() else (may if may.any() else allowed_all)
        need, price = _with_room(opt, cost, r_k, busy, n_on, n_hi, allowed)
        pick = int(np.argmin(price))
        if val_c is not None and prices is not None:  # or at home, others bumped
            home = _bump(lp, int(kk), cost, float(price[pick]), ck, cj, x, x0, rt, val_c,
                         busy, n_on, prices, n_hi if bump_room else None)
            if home is not None:
                b, evicted = home
                for col, n_move in evicted:  # they go back to the queue
                    q = int(ck[col])
                    left[q] += n_move
                    rank.setdefault(q, len(rank))
                    heapq.heappush(heap, (float(key[q]), rank[q], q))
                pick = b
                need[b] = np.ceil((busy[b] + r_k[b]) / opt.replica_s[b] - 1e-9)
                price[b] = cost[b]
        if not np.isfinite(price[pick]):  # every allowed option full: move others off
            if not _make_room(lp, int(kk), allowed, ck, cj, x, added, busy, n_on, n_hi):
                return None
            need, price = _with_room(opt, cost, r_k, busy, n_on, n_hi, allowed)
            pick = int(np.argmin(price))
            if not np.isfinite(price[pick]):
                return None
        added.append((int(kk), pick))
        busy[pick] += r_k[pick]
        n_on[pick] = max(n_on[pick], need[pick])
        if count is not None:
            count[opt.system[pick]] += 1
        left[kk] -= 1
        if left[kk] > 0.5:
            heapq.heappush(heap, (float(key[kk]), rank[int(kk)], int(kk)))
    pairs = np.array(added, dtype=np.int64).reshape(-1, 2)
    return x, pairs, n_on


def _with_room(opt: Options, cost: np.ndarray, r: np.ndarray, busy: np.ndarray,
               n_on: np.ndarray, n_hi: np.ndarray, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Replicas needed and the cost with the replicas switched on, per option.

    ``r`` more seconds on each option need ``need`` replicas; the price is ``cost`` plus the
    replicas that switches on, inf where it does not fit even with every replica on (or is
    not ``allowed``). ``cost`` and ``r`` are per option, or rows of them.
    """
    need = np.ceil((busy + r) / opt.replica_s - 1e-9)
    ok = need <= n_hi if allowed is None else allowed & (need <= n_hi)
    return need, np.where(ok, cost + np.maximum(need - n_on, 0.0) * opt.cost_n, np.inf)


def _bump(lp: RestrictedLP, k: int, cost: np.ndarray, elsewhere: float, ck: np.ndarray,
          cj: np.ndarray, x: np.ndarray, x0: np.ndarray, rt: np.ndarray, val_c: np.ndarray,
          busy: np.ndarray, n_on: np.ndarray, prices: tuple[np.ndarray, np.ndarray],
          n_hi: np.ndarray | None = None) -> tuple[int, list[tuple[int, int]]] | None:
    """Place a query of row ``k`` on one of its LP options by bumping open-row queries there.

    A long left-over query often has no room on the full options its row was split over and
    would go where it costs much more. On each such option of ``k`` (where ``x0`` has some
    of it), the floored open-row queries placed there are taken, least estimated cost per
    second freed first (the estimate: each one's priced cost on its cheapest other allowed
    option, less its priced cost here), until the query fits; they are taken out of ``x``
    and ``busy`` (the caller places them again). Done only where that costs less, at the
    LP's prices, than ``elsewhere``. With ``n_hi``, the other options are only those with
    room for the bumped query now (a replica switched on at its cost, if it must): a full
    option is cheap at its price but takes nothing, and a query bumped towards one went to
    a far dearer system instead (the planner benchmark's windows day: short A100 queries
    bumped onto M1-Pros at 50-70× their runtime, 2026-12-03).

    Returns:
        ``(option, [(candidate column, queries taken off)])``, or None.
    """
    rows, opt = lp.rows, lp.opt
    js = np.arange(opt.n)
    r_k = rows.runtime[k, opt.system]
    best: tuple[float, int, list[tuple[int, int]]] | None = None
    for b in np.unique(cj[(ck == k) & (x0 > FRACTION_TOL)]):  # its LP options
        short = busy[b] + r_k[b] - opt.replica_s[b] * n_on[b]
        if short <= 0 or cost[b] >= elsewhere:
            continue  # it fits there already (the plain choice sees it), or is no cheaper
        at = np.flatnonzero((cj == b) & (x > 0.5) & (ck != k))
        if at.size == 0:
            continue
        kq = ck[at]
        kk_ = np.repeat(kq, opt.n)
        jj_ = np.tile(js, kq.size)
        other = np.where(opt.allowed(rows, kk_, jj_),
                         lp.pricer.values(kk_, jj_, *prices), np.inf).reshape(kq.size, opt.n)
        if n_hi is not None:  # only where it fits now, with the replicas it switches on
            other = _with_room(opt, other, rows.runtime[kq][:, opt.system], busy, n_on,
                               n_hi)[1]
        other[:, b] = np.inf
        est = other.min(axis=1) - val_c[at]
        order = np.argsort(est / np.maximum(rt[at], 1e-12), kind="stable")
        freed, total, taken = 0.0, float(cost[b]), []
        for e in order:  # loop over the option's open queries, until enough is freed
            if freed >= short or not np.isfinite(est[e]):
                break
            n_move = int(min(x[at[e]], np.ceil((short - freed) / max(rt[at[e]], 1e-12))))
            freed += n_move * rt[at[e]]
            total += n_move * est[e]
            taken.append((int(at[e]), n_move))
        if freed >= short and total < elsewhere and (best is None or total < best[0]):
            best = (total, int(b), taken)
    if best is None:
        return None
    _, b, taken = best
    for col, n_move in taken:
        x[col] -= n_move
        busy[b] -= n_move * rt[col]
    return b, taken


def _make_room(lp: RestrictedLP, k: int, allowed: np.ndarray, ck: np.ndarray, cj: np.ndarray,
               x: np.ndarray, added: list, busy: np.ndarray, n_on: np.ndarray,
               n_hi: np.ndarray) -> bool:
    """Move open-row queries off a full option so one query of row ``k`` fits there.

    On the option ``k`` may use that is least short, the open-row queries placed there move,
    cheapest extra cost per second freed first, each to its cheapest other allowed option
    with room, until the query fits. Applied in place (``x``, ``added``, ``busy``, ``n_on``).
    Returns False when the open rows cannot free enough room.
    """
    rows, opt = lp.rows, lp.opt
    cap = opt.replica_s * n_hi * (1 + 1e-12)
    js = np.arange(opt.n)
    r_k = rows.runtime[k, opt.system]
    usable = np.flatnonzero(allowed & (r_k <= opt.replica_s * n_hi))
    if usable.size == 0:
        return False
    for j in usable[np.argsort(busy[usable] + r_k[usable] - cap[usable], kind="stable")]:
        short = busy[j] + r_k[j] - cap[j]
        at = np.flatnonzero((cj == j) & (x > 0.5) & (ck != k))
        if at.size == 0:
            continue
        # per candidate query: its cheapest other option and the extra cost per second freed
        kk = ck[at]
        rt_here = rows.runtime[kk, opt.system[j]]
        cost = lp.pricer.costs(np.repeat(kk, opt.n), np.tile(js, at.size)).reshape(-1, opt.n)
        ok = opt.allowed(rows, np.repeat(kk, opt.n), np.tile(js, at.size)).reshape(-1, opt.n)
        ok[:, j] = False
        delta = np.where(ok, cost - cost[:, [j]], np.inf)
        order = np.argsort(delta.min(axis=1) / np.maximum(rt_here, 1e-300), kind="stable")
        trial_busy = busy.copy()
        moves: list[tuple[int, int]] = []
        freed = 0.0
        for e in order:  # loop over the option's open queries, until enough is freed
            if freed >= short:
                break
            r2 = rows.runtime[kk[e], opt.system]
            room = ok[e] & (trial_busy + r2 <= cap)
            if not room.any():
                continue
            d = int(np.argmin(np.where(room, delta[e], np.inf)))
            n_move = int(min(x[at[e]], np.ceil((short - freed) / max(rt_here[e], 1e-300))))
            n_move = max(1, min(n_move, int((cap[d] - trial_busy[d]) // max(r2[d], 1e-300))))
            trial_busy[d] += n_move * r2[d]
            trial_busy[j] -= n_move * rt_here[e]
            freed += n_move * rt_here[e]
            moves.append((int(e), d, n_move))  # type: ignore[arg-type]
        if freed < short:
            continue
        for e, d, n_move in moves:  # type: ignore[misc]
            x[at[e]] -= n_move
            added.extend([(int(kk[e]), d)] * n_move)
        busy[:] = trial_busy
        n_on[:] = np.maximum(n_on, np.ceil(busy / opt.replica_s - 1e-9))
        return True
    return False


LONG_FIRST = True
"""Start the repair MIP from the long-first greedy at the LP's prices (``_greedy`` with
``prices``; False: the cheapest-first greedy, in row order, at true costs). Either start is
filled while the MIP runs, and the plan kept is the better of the MIP's plan filled and the
start filled. Measured (2026-12-03, eight captured fine-LP solutions of the 10^6-query
benchmark): the long-first start filled loses 0.106 of the objective (gap 2.3e-5) where the
cheapest-first one lost 0.214; with the MIP (and before the start was kept when better) the
losses were 0.031–0.106 (median 0.106) against 0.035–0.248 (median 0.214)."""
OVERFLOW_SLACK = 1e-10
OVERFLOW_SLACK_S = 1e-7
"""An option's placed load is overflow (its longest rows reopened) only beyond this share of
its capacity plus :data:`OVERFLOW_SLACK_S` seconds, and at most half of 1e-9 of one
replica's seconds (the kept rows' own check in :func:`polish`, ``ceil(load/L − 1e-9)``),
well inside the plan check's ``1e-9·capacity + 1e-6 s``. Without it, full options of the
planner benchmark's windows day, 3.6e-12 s over in the LP's floating point, had their
longest rows reopened; the greedy then sent a 174 s query to a V100 at 3,140 s (0.06 of a
0.077 loss, 2026-12-03)."""
WIDEN_MAX = 512
"""Most widening of the open rows per option when the greedy start finds no room (×8 steps)."""


def polish(lp: RestrictedLP, sol: LPSolution, n_lo: np.ndarray, n_hi: np.ndarray,
           time_limit: float | None, abs_gap: float, widen: int = 1,
           enough: float | None = None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """An integral option plan from the restricted LP's solution (see the module docstring).

    Args:
        lp: the restricted LP that produced ``sol``.
        sol: its solution (prices and values).
        n_lo: least replica-slots per option.
        n_hi: most replica-slots per option.
        time_limit: seconds for the MIP and the fill rounds (None: no limit).
        abs_gap: the MIP may stop this close to its own bound (objective units).
        widen: factor on the open rows per option; when the greedy start cannot place a
            left-over query (the open rows cannot free room on full options), the polish is
            retried with 8× as many open rows, up to :data:`WIDEN_MAX`.
        enough: an objective value at which the plan is good enough (the caller's tolerance
            met): when the filled start reaches it, the MIP is stopped then and there
            instead of being waited for (None: always waited for).

    Returns:
        ``(k, j, count, n_on, method)``.

    Raises:
        SolverError: no integral plan found (a left-over query fits nowhere).
    """
    t_start = time.perf_counter()
    hs = highspy_module()
    rows, opt = lp.rows, lp.opt
    n_j = opt.n
    k, j, v, frac_rows = _entries(lp, sol)
    n_lp = np.asarray(sol.n_on, dtype=np.float64)
    frac_n = np.abs(n_lp - np.rint(n_lp)) > FRACTION_TOL
    frac_cols = np.isin(k, frac_rows)
    play = np.union1d(np.unique(j[frac_cols]), np.flatnonzero(frac_n))
    open_rows = np.union1d(_open_rows(lp, k, j, frac_rows, play, widen),
                           _overflow_rows(lp, k, j, v, n_hi))
    keep = ~np.isin(k, open_rows)
    kk, kj, kc = k[keep], j[keep], np.rint(v[keep]).astype(np.int64)
    rt_keep = rows.runtime[kk, opt.system[kj]]
    base_load = np.bincount(kj, weights=kc * rt_keep, minlength=n_j)
    lo = np.maximum(n_lo, np.ceil(base_load / opt.replica_s - 1e-9))
    hi = np.asarray(n_hi, dtype=np.float64)
    if (lo > hi + 0.5).any():
        raise SolverError("polish: the kept rows overflow an option")
    ck, cj = _candidates(lp, sol, open_rows, k, j)
    m = ck.size
    # LP values of the open rows on their candidate columns (start of the greedy)
    x0 = np.zeros(m)
    keys = ck * n_j + cj
    mine = ~keep
    pos = np.searchsorted(keys, k[mine] * n_j + j[mine])
    np.add.at(x0, pos, v[mine])
    n_start = np.clip(np.ceil(n_lp - 1e-9), lo, hi)
    start = None
    base_count = np.bincount(opt.system[kj], weights=kc, minlength=rows.a.shape[1])
    if LONG_FIRST:
        start = _greedy(lp, open_rows, ck, cj, x0, base_load, n_start, hi,
                        prices=(sol.mu, sol.nu), base_count=base_count)
    if start is None:
        start = _greedy(lp, open_rows, ck, cj, x0, base_load, n_start, hi,
                        base_count=base_count)
    if start is None and widen < WIDEN_MAX:
        left = None if time_limit is None else max(
            time_limit - (time.perf_counter() - t_start), 0.05)
        return polish(lp, sol, n_lo, n_hi, left, abs_gap, widen * 8, enough)
    ck0, cj0 = ck, cj  # the candidate columns before the start's join them

    def other_plan() -> tuple | None:  # the start bumping by price alone (built if wanted)
        if not LONG_FIRST or start is None or lp.share_lo is not None:
            return None
        other = _greedy(lp, open_rows, ck0, cj0, x0, base_load, n_start, hi,
                        prices=(sol.mu, sol.nu), base_count=base_count, bump_room=False)
        return None if other is None else _plan_of(kk, kj, kc, ck0, cj0, n_j, *other)
    x_start = n_start_on = None
    if start is not None:  # the columns the greedy used join the MIP's
        x_floor, pairs, n_start_on = start
        add = pairs[:, 0] * n_j + pairs[:, 1]
        keys2 = np.union1d(keys, add)
        x_start = np.zeros(keys2.size)
        x_start[np.searchsorted(keys2, keys)] = x_floor
        np.add.at(x_start, np.searchsorted(keys2, add), 1.0)
        ck, cj = keys2 // n_j, keys2 % n_j
        m = ck.size
    # the MIP: columns N (J), up (with start-up), x (m); rows capacity (J), shares, up, open
    inf = hs.kHighsInf
    h = new_highs()
    rt = rows.runtime[ck, opt.system[cj]]
    s_of = opt.system[cj]
    n_s = rows.a.shape[1]
    h.addVars(n_j, lo, hi)
    c_up = lp.cost_up
    n_up = 0 if c_up is None else n_j
    if n_up:
        h.addVars(n_up, np.zeros(n_up), hi)
    h.addVars(m, np.zeros(m), rows.count[ck])
    n_col = n_j + n_up + m
    cost = np.r_[opt.cost_n, np.zeros(0) if c_up is None else c_up.ravel(),
                 lp.pricer.costs(ck, cj)]
    h.changeColsCost(n_col, np.arange(n_col, dtype=np.int32), cost)
    integer = np.array([hs.HighsVarType.kInteger] * (n_j + m))
    icols = np.r_[np.arange(n_j), n_j + n_up + np.arange(m)].astype(np.int32)
    h.changeColsIntegrality(icols.size, icols, integer)
    xcol = n_j + n_up + np.arange(m)
    # capacity: Σ r·x − L·N ≤ −base_load
    order = np.argsort(cj, kind="stable")
    cstart = np.searchsorted(cj[order], np.arange(n_j))
    for jj in range(n_j):  # loop over options: one capacity row each
        sel = order[cstart[jj]:cstart[jj + 1] if jj + 1 < n_j else m]
        idx = np.r_[jj, xcol[sel]].astype(np.int32)
        h.addRow(-inf, -base_load[jj], idx.size, idx, np.r_[-opt.replica_s[jj], rt[sel]])
    if lp.share_lo is not None and lp.share_hi is not None:
        cnt = np.bincount(opt.system[kj], weights=kc, minlength=n_s)
        for s in range(n_s):  # loop over systems
            sel = np.flatnonzero(s_of == s)
            h.addRow(lp.share_lo[s] - cnt[s], lp.share_hi[s] - cnt[s], sel.size,
                     xcol[sel].astype(np.int32), np.ones(sel.size))
    if n_up:  # up ≥ N_t − N_{t−1}; where start-ups pay, up ≤ N_t and ≤ hi − N_{t−1}
        add_switch_on_rows(h, 0, n_j, opt.n_groups, hi, c_up)
    rstart = np.searchsorted(ck, open_rows)
    rend = np.searchsorted(ck, open_rows, side="right")
    for r, a, b in zip(open_rows, rstart, rend, strict=True):  # loop over the open rows
        h.addRow(rows.count[r], rows.count[r], int(b - a), xcol[a:b].astype(np.int32),
                 np.ones(int(b - a)))
    start_vals = None
    if x_start is not None and n_start_on is not None:
        start_vals = np.zeros(n_col)
        start_vals[:n_j] = n_start_on
        if n_up:
            n_g = opt.n_groups
            prev = np.where(np.arange(n_j) % n_g > 0, np.r_[0.0, n_start_on[:-1]], 0.0)
            start_vals[n_j:n_j + n_up] = np.maximum(n_start_on - prev, 0.0)
        start_vals[n_j + n_up:] = x_start
    t_mip = POLISH_TIME_S if time_limit is None else min(POLISH_TIME_S, 0.5 * time_limit)
    end = None if time_limit is None else t_start + time_limit
    fallback: list[tuple[tuple, float, bool]] = []

    def as_plan(x: np.ndarray, n_on: np.ndarray) -> tuple:  # kept rows + the MIP's columns
        nz = x > 0.5
        return (np.r_[kk, ck[nz]], np.r_[kj, cj[nz]],
                np.r_[kc, np.rint(x[nz]).astype(np.int64)], np.rint(n_on).astype(np.int64))

    start_plan = None
    if x_start is not None and n_start_on is not None:
        start_plan = as_plan(x_start, n_start_on)
    def fill_start() -> bool:  # while the MIP runs: the starts, filled (the MIP's fallback)
        if start_plan is None:
            return False
        plan = start_plan
        for second in (False, True):  # the start, then (if not enough) the other, if it differs
            if second:
                other = other_plan()
                if other is None or _same_plan(other, start_plan):
                    return False
                plan = other
            fallback.append(_fill(lp, plan, end, abs_gap, enough))
            if enough is not None and fallback[-1][1] <= enough and \
                    _within_shares(lp, *fallback[-1][0][:3]):
                return True
        return False

    # in a child process killed at t_mip: HiGHS's root central rounding checks neither its
    # time limit nor its interrupt callbacks (5-43 s past a 3 s limit, see mip_process)
    model = from_highs(h, start_vals, {"mip_rel_gap": 1e-9,
                                       "mip_abs_gap": max(float(abs_gap), 1e-12)})
    out = solve_with_deadline(model, t_mip, stall_s=MIP_STALL_S, meanwhile=fill_start,
                              first_plan_s=MIP_FIRST_PLAN_S)
    vals = out.values
    # the greedy start ignores share bounds: only a start within them competes (one outside
    # them stands only where the MIP has no plan at all, as an infeasible plan)
    start_ok = start_plan is not None and _within_shares(lp, start_plan[0], start_plan[1],
                                                         start_plan[2])
    start_obj = np.inf if start_vals is None or not start_ok else float(model.cost @ start_vals)
    if len(fallback) > 1:  # the better filled start first (both keep the share bounds here)
        fallback.sort(key=lambda f: f[1])
    if out.status == "enough":  # a filled start met the caller's tolerance
        plan, value, filled = fallback[0]
        method = "lp+round" + ("+fill" if filled else "")
        if vals is not None:  # a plan the MIP sent before it was stopped, if better
            mip_plan = as_plan(np.rint(vals[n_j + n_up:n_col]), vals[:n_j])
            if option_objective(lp, *mip_plan) < value and \
                    _within_shares(lp, *mip_plan[:3]):
                plan, method = mip_plan, "lp+polish"
    elif vals is not None and (out.objective < start_obj - 1e-9 * max(abs(start_obj), 1.0)
                               or not fallback or not start_ok):
        plan, value, filled = _fill(lp, as_plan(np.rint(vals[n_j + n_up:n_col]), vals[:n_j]),
                                    end, abs_gap, enough)
        method = "lp+polish" + ("+fill" if filled else "")
        if fallback and start_ok and fallback[0][1] < value:  # the MIP's filled less well
            plan, value, filled = fallback[0]
            method = "lp+round" + ("+fill" if filled else "")
    elif fallback:  # the MIP found nothing better than its start
        plan, value, filled = fallback[0]
        method = "lp+round" + ("+fill" if filled else "")
    else:
        raise SolverError("rounding: a left-over query fits nowhere")
    return (*plan, method)


def _plan_of(kk: np.ndarray, kj: np.ndarray, kc: np.ndarray, ck: np.ndarray, cj: np.ndarray,
             n_j: int, x_floor: np.ndarray, pairs: np.ndarray, n_on: np.ndarray) -> tuple:
    """A greedy start as a plan: the kept rows, its floored columns and its placed queries."""
    on = x_floor > 0.5
    all_keys = np.r_[(ck * n_j + cj)[on], pairs[:, 0] * n_j + pairs[:, 1]]
    weights = np.r_[x_floor[on], np.ones(pairs.shape[0])]
    keys, inv = np.unique(all_keys, return_inverse=True)
    count = np.rint(np.bincount(inv, weights=weights, minlength=keys.size)).astype(np.int64)
    return (np.r_[kk, keys // n_j], np.r_[kj, keys % n_j], np.r_[kc, count],
            np.rint(n_on).astype(np.int64))


def _same_plan(a: tuple, b: tuple | None) -> bool:
    """Whether two plans place the same queries on the same options with the same replicas."""
    if b is None:
        return False
    n = int(max(a[1].max(initial=0), b[1].max(initial=0))) + 1
    ka, kb = a[0] * n + a[1], b[0] * n + b[1]
    oa, ob = np.argsort(ka, kind="stable"), np.argsort(kb, kind="stable")
    return (ka.size == kb.size and bool((ka[oa] == kb[ob]).all())
            and bool((a[2][oa] == b[2][ob]).all()) and bool((a[3] == b[3]).all()))


def _within_shares(lp: RestrictedLP, k: np.ndarray, j: np.ndarray, c: np.ndarray) -> bool:
    """Whether a plan's queries per system lie within the share bounds (True without any)."""
    if lp.share_lo is None or lp.share_hi is None:
        return True
    per = np.bincount(lp.opt.system[j], weights=c, minlength=lp.rows.a.shape[1])
    return bool(((per >= lp.share_lo - 1e-9) & (per <= lp.share_hi + 1e-9)).all())


def _fill(lp: RestrictedLP, plan: tuple, end: float | None, abs_gap: float,
          enough: float | None = None) -> tuple[tuple, float, bool]:
    """A few rounds of :func:`fill_room` on ``plan`` while they gain and time is left.

    Rounds stop once the objective is ``enough`` (if given): the caller's tolerance is met.

    Returns:
        ``(plan, its objective, whether the fill changed it)``.
    """
    value = option_objective(lp, *plan)
    filled = False
    for _ in range(FILL_ROUNDS):  # loop over a few fill rounds, while they gain and time is left
        if (end is not None and time.perf_counter() > end) or \
                (enough is not None and value <= enough):
            break
        better_plan = fill_room(lp, *plan)
        better = option_objective(lp, *better_plan)
        if better >= value - 1e-12 * abs(value):
            break
        gain = value - better
        plan, value, filled = better_plan, better, True
        if gain < FILL_MIN_GAIN * abs_gap:  # the rounds after gain less still
            break
    return plan, value, filled
