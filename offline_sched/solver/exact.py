"""Exact finish for assignment problems whose classes hold one or a few queries.

The LP relaxation's prices y (capacity prices μ ≥ 0, share prices ν) give each eligible
(class c, system s) a reduced cost d[c,s] ≥ 0 and a bound L = g(y). For *any* feasible integral
schedule x (weak duality, written out)

    U(x) − L = Σ d[c,s]·x[c,s] + Σ_s μ_s·(cap_s − load_s(x)) + (share slacks · ν)  ≥  Σ d·x,

so a schedule with U(x) ≤ L + θ has x[c,s] ≤ ⌊θ / d[c,s]⌋ on every pair: **reduced-cost
fixing**. The pairs that survive at θ form the *core*; a class left with one surviving system
is fixed there. With an incumbent of objective U, θ = U − L keeps every better schedule in the
core, so the core's MIP, solved by HiGHS from the incumbent, decides the whole problem: its
proven bound B gives the global bound min(B, L + θ) (schedules outside the core cost more than
L + θ ≥ U). The core is a small multiple-choice knapsack over the few binding capacity rows:
a basic LP optimum has at most one fractional class per coupling row, and only classes with a
second system of reduced cost below the gap survive.

That core can be large when the incumbent is poor (the rounded LP vertex is often 10^-3 off
where classes are singletons), so the finish grows it, measured in *moves* (eligible pairs
the LP leaves unused, cheapest reduced cost first): the first core may make the
:data:`FIRST_CORE_MOVES` cheapest, each next one :data:`CORE_GROWTH` times as many, until θ
reaches U − L. Each core is solved from the best schedule so far (the previous core's schedule
lies in the next one), HiGHS stopping once it is within the target gap of its bound; each gives
a schedule and the bound min(B, L + θ). Cores before the last get half the time left, so a
hard one cannot starve the rest. The finish ends when the gap is certified, the complete core
(θ = U − L) is decided, or the effort runs out. Without any schedule the same steps run
until the core holds every pair; if that one is infeasible, so is the problem.

A core expected to be cut off (the last one used its whole time, and this one is larger in
proportion than the time it gets) runs in a child process killed at its limit
(:mod:`.mip_process`): in process, HiGHS's root node overran a 1.8 s limit by 22 s on a
27,644-pair core. A killed core proves no bound; the bound stays that of the cores before.

Effort is bounded by a time limit and/or a branch-and-bound node budget (the latter is
deterministic). Everything here works on plain arrays; it knows nothing of workloads or fleets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .class_model import margin_capacity
from .highs_model import build_highs, set_time_limit
from .mip_process import MipOutcome, from_highs, solve_with_deadline
from .status import GAP_TOL, Status, relative_gap

FINISH_BUDGET_S = 30.0
"""Seconds the core MIPs may take when the caller sets no time limit (then ``gap``)."""
FIX_SLACK_REL = 1e-9
"""θ is widened by this fraction (and a 1e-12·|U| floor), so float error in the reduced costs
can never fix out a pair that a better schedule uses."""
FIRST_CORE_MOVES = 256
"""Moves (unused pairs, cheapest reduced cost first) the first core may make."""
CORE_GROWTH = 4
"""Each core may make this many times the moves of the one before (geometric work)."""
STAGE_SHARE = 0.5
"""Share of the time left that a core other than the last may take (the last takes all)."""


@dataclass(frozen=True)
class ClassArrays:
    """The class-level assignment problem as plain arrays.

    Attributes:
        eligible: (C, S) bool.
        runtime_s: (C, S) runtime per query [s].
        weights: (C, S) objective per query (+inf where ineligible).
        count: (C,) queries per class.
        capacity_s: (S,) device-seconds per system (every schedule returned fits them).
        min_count: (S,) least queries per system.
        max_count: (S,) most queries per system.
    """

    eligible: np.ndarray
    runtime_s: np.ndarray
    weights: np.ndarray
    count: np.ndarray
    capacity_s: np.ndarray
    min_count: np.ndarray
    max_count: np.ndarray

    @property
    def has_shares(self) -> bool:
        """Whether any share bound can bind."""
        return bool((self.min_count > 0).any() or (self.max_count < self.count.sum()).any())

    def cost(self, counts: np.ndarray) -> float:
        """Σ w·x over the used (class, system) pairs."""
        used = counts > 0
        return float(np.sum(self.weights[used] * counts[used]))

    def load(self, counts: np.ndarray) -> np.ndarray:
        """Busy device-seconds per system, (S,)."""
        return np.einsum("cs,cs->s", counts, np.where(self.eligible, self.runtime_s, 0.0))

    def feasible(self, counts: np.ndarray) -> bool:
        """Whether integral ``counts`` place every query on eligible systems within bounds."""
        if (counts < 0).any() or (counts[~self.eligible] != 0).any() \
                or (counts.sum(axis=1) != self.count).any():
            return False
        per = counts.sum(axis=0)
        return bool((self.load(counts) <= self.capacity_s).all()
                    and (per >= self.min_count).all() and (per <= self.max_count).all())


@dataclass(frozen=True)
class LPCertificate:
    """An LP solution with the prices that prove its bound.

    Attributes:
        counts: (C, S) LP solution.
        reduced: (C, S) reduced costs at the prices (≥ 0; +inf where ineligible).
        lower_bound: the Lagrangian bound g(y) at the same prices.
        capacity_price: (S,) μ ≥ 0, or None (informative only).
    """

    counts: np.ndarray
    reduced: np.ndarray
    lower_bound: float
    capacity_price: np.ndarray | None = None


@dataclass(frozen=True)
class ExactResult:
    """Outcome of :func:`exact_finish`.

    Attributes:
        counts: the best schedule found, (C, S) int64, or None.
        objective: its objective U (inf if none).
        lower_bound: certified lower bound on the optimum.
        gap: relative gap (U − bound) / |U|.
        status: ``optimal`` (gap within tolerance), ``gap`` (effort or time exhausted) or
            ``infeasible`` (proven: no integral schedule exists).
        method: what produced the schedule: ``round`` (the incumbent given) or ``core``.
        cores: core MIPs solved.
        core_columns: columns of the last core MIP.
        nodes: branch-and-bound nodes used.
        solve_s: wall time [s].
    """

    counts: np.ndarray | None
    objective: float
    lower_bound: float
    gap: float
    status: Status
    method: str
    cores: int
    core_columns: int
    nodes: int
    solve_s: float


def core_bounds(problem: ClassArrays, lp: LPCertificate, threshold: float) -> np.ndarray:
    """Upper bound on x[c, s] in any schedule within ``threshold`` of the LP bound.

    ``⌊θ / d⌋`` (capped at the class size) where d > 0; the class size where d ≤ 0 or the
    LP uses the pair; 0 where ineligible.

    Returns:
        (C, S) float array.
    """
    n = problem.count.astype(np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(lp.reduced > 0, threshold / lp.reduced, np.inf)
    ub = np.minimum(np.floor(ratio), n)
    ub = np.where((lp.counts > 1e-9) | (lp.reduced <= 0), n, ub)
    return np.where(problem.eligible, ub, 0.0)


@dataclass(frozen=True)
class _Core:
    """Outcome of one core MIP."""

    counts: np.ndarray | None  # verified feasible schedule, or None
    bound: float  # proven bound on every schedule inside the core (inf: none exists)
    optimal: bool  # HiGHS finished (the bound is within its gap of the schedule)
    columns: int
    nodes: int


def solve_core(p: ClassArrays, ub: np.ndarray, start: np.ndarray | None, abs_gap: float,
                time_limit: float | None, node_limit: int | None,
                isolated: bool = False) -> _Core:
    """The MIP over the core (pairs with ub > 0); fixed classes enter as a constant.

    ``isolated`` runs HiGHS in a child process killed at ``time_limit``
    (:mod:`.mip_process`): for a core expected to be cut off, where HiGHS's root node can
    overrun its own limit many times over. A killed core proves no bound (−inf).
    """
    alive = ub > 0
    n_alive = alive.sum(axis=1)
    rows = np.arange(p.count.size)
    single = np.argmax(alive, axis=1)
    one = (n_alive == 1) & (ub[rows, single] >= p.count)
    if (n_alive == 0).any():
        return _Core(None, np.inf, True, 0, 0)
    fixed = np.zeros(ub.shape, dtype=np.int64)
    fixed[rows[one], single[one]] = p.count[one]
    offset = p.cost(fixed)
    free = np.flatnonzero(~one)
    if free.size == 0:
        ok = p.feasible(fixed)
        return _Core(fixed if ok else None, offset if ok else np.inf, True, 0, 0)
    placed = fixed.sum(axis=0)
    room = margin_capacity(p.capacity_s) - p.load(fixed)
    if p.has_shares:
        lo, hi = p.min_count - placed, p.max_count - placed
    else:
        lo = hi = None
    model = build_highs(alive[free], np.where(alive[free], p.runtime_s[free], 0.0),
                        p.count[free], room, lo, hi, integer=True)
    h, cls, sys = model.h, model.cls, model.sys
    k = cls.size
    h.changeColsCost(k, np.arange(k, dtype=np.int32), p.weights[free][cls, sys])
    h.changeColsBounds(k, np.arange(k, dtype=np.int32), np.zeros(k),
                       ub[free][cls, sys].astype(np.float64))
    options: dict = {"mip_rel_gap": 0.0, "mip_abs_gap": float(abs_gap)}
    if node_limit is not None:
        options["mip_max_nodes"] = max(int(node_limit), 1)
    start_vals = None if start is None else start[free][cls, sys].astype(np.float64)
    if isolated:
        out = solve_with_deadline(from_highs(h, start_vals, options),
                                  np.inf if time_limit is None else time_limit)
    else:
        out = _solve_here(h, model.hs, options, start_vals, time_limit)
    if out.finished and out.status in INFEASIBLE_STATUS:
        return _Core(None, np.inf, True, k, out.nodes)
    bound = offset + out.dual_bound if out.finished and np.isfinite(out.dual_bound) \
        else -np.inf
    optimal = out.finished and out.status == "Optimal"
    if out.values is None:
        return _Core(None, bound, optimal, k, out.nodes)
    counts = fixed.copy()
    counts[free[cls], sys] = np.rint(out.values).astype(np.int64)
    return _Core(counts if p.feasible(counts) else None, bound, optimal, k, out.nodes)


INFEASIBLE_STATUS = ("Infeasible", "Primal infeasible or unbounded")
"""HiGHS's model status texts that prove a core has no schedule."""


def _solve_here(h, hs, options: dict, start_vals: np.ndarray | None,
                time_limit: float | None) -> MipOutcome:
    """:func:`solve_core`'s MIP (built in ``h``) in this process."""
    for name, value in options.items():  # loop over the few options
        h.setOptionValue(name, value)
    set_time_limit(h, time_limit, mip=True)
    if start_vals is not None:
        sol = hs.HighsSolution()
        sol.col_value = start_vals
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    info = h.getInfo()
    values = None
    if info.primal_solution_status != 0:
        values = np.asarray(h.getSolution().col_value, dtype=np.float64)
    return MipOutcome(values, float(info.objective_function_value),
                      float(info.mip_dual_bound), True,
                      h.modelStatusToString(h.getModelStatus()),
                      max(int(info.mip_node_count), 0))


class _Effort:
    """Time and nodes left for the core MIPs of one finish."""

    def __init__(self, time_limit: float | None, node_limit: int | None):
        self.start = time.perf_counter()
        self.time_limit = time_limit
        self.nodes_left = node_limit
        self.cores = self.nodes = self.columns = 0

    def left(self) -> float | None:
        """Seconds left, or None without a limit."""
        if self.time_limit is None:
            return None
        return self.time_limit - (time.perf_counter() - self.start)

    def exhausted(self) -> bool:
        """Whether the time or node budget is spent."""
        left = self.left()
        return (left is not None and left <= 0) or (self.nodes_left is not None
                                                    and self.nodes_left <= 0)

    def solve(self, p: ClassArrays, ub: np.ndarray, start: np.ndarray | None,
              abs_gap: float, time_limit: float | None = None,
              isolated: bool = False) -> _Core:
        """One core MIP within the effort left (and ``time_limit``), accounted for."""
        left = self.left()
        if time_limit is not None:
            left = time_limit if left is None else min(left, time_limit)
        out = solve_core(p, ub, start, abs_gap, left, self.nodes_left, isolated)
        self.cores += 1
        self.nodes += out.nodes
        self.columns = out.columns
        if self.nodes_left is not None:
            self.nodes_left -= max(out.nodes, 1)
        return out


def _widen(theta: float, scale: float) -> float:
    return theta * (1 + FIX_SLACK_REL) + 1e-12 * scale


def exact_finish(problem: ClassArrays, lp: LPCertificate, incumbent: np.ndarray | None,
                 gap_tol: float = GAP_TOL, time_limit: float | None = None,
                 node_limit: int | None = None) -> ExactResult:
    """Close the gap between an incumbent and the LP bound, with a certified bound.

    Args:
        problem: the class-level problem.
        lp: an LP solution, its reduced costs and bound (any prices: the bound and the
            reduced costs must be computed at the same ones).
        incumbent: (C, S) a feasible integral schedule, or None.
        gap_tol: relative gap to certify.
        time_limit: seconds for the whole finish, or None.
        node_limit: branch-and-bound nodes for all core MIPs together (a deterministic
            effort limit), or None. With neither limit the finish runs until the gap is
            proven.

    Returns:
        The best schedule with its certified bound.
    """
    base = float(lp.lower_bound)
    effort = _Effort(time_limit, node_limit)
    best = None if incumbent is None else np.asarray(incumbent, dtype=np.int64)
    if best is not None and not problem.feasible(best):
        best = None
    upper = problem.cost(best) if best is not None else np.inf
    method = "round"
    lower = base
    moves = np.sort(lp.reduced[problem.eligible & (lp.counts <= 1e-9) & (lp.reduced > 0)])
    size = FIRST_CORE_MOVES
    pace: tuple[float, int] | None = None  # (seconds, pairs) of the last core that was cut off
    while not effort.exhausted() and relative_gap(upper, lower) > gap_tol:
        scale = max(min(abs(base), abs(upper)), 1e-12)
        theta = float(moves[size - 1]) if size < moves.size else np.inf  # inf: every move
        complete = best is not None and theta >= upper - base
        reach = _widen(upper - base if complete else theta, scale)
        ub = core_bounds(problem, lp, reach)
        whole = bool((ub >= np.where(problem.eligible, problem.count[:, None], 0)).all())
        last = complete or whole
        left = effort.left()
        pairs = int((ub > 0).sum())
        share = None if left is None or last else STAGE_SHARE * left
        # a core at the pace of the last one, which was cut off, would need more than its
        # time: it runs in a child process killed at its limit (HiGHS's root node may not
        # stop in time: a 27,644-pair core ran 22 s past a 1.8 s limit in process)
        cut_off = (left is not None and pace is not None
                   and pace[0] * pairs / pace[1] > (left if share is None else share))
        began = time.perf_counter()
        out = effort.solve(problem, ub, best, gap_tol * scale * (1 - 1e-3), share, cut_off)
        pace = None if out.optimal else (time.perf_counter() - began, max(pairs, 1))
        # schedules outside the core cost more than L + reach; inside, at least out.bound
        lower = max(lower, out.bound if whole else min(out.bound, base + reach))
        if out.counts is not None and problem.cost(out.counts) < upper:
            best, upper, method = out.counts, problem.cost(out.counts), "core"
        lower = min(lower, upper)
        if last:
            break  # decided, or the limits were reached inside the last core
        size *= CORE_GROWTH  # a larger core: more of the cheapest moves
    gap = relative_gap(upper, lower)
    if best is None:
        status = Status.INFEASIBLE if np.isinf(lower) and lower > 0 else Status.GAP
    else:
        status = Status.OPTIMAL if gap <= gap_tol else Status.GAP
    return ExactResult(best, upper, lower, gap, status, method, effort.cores, effort.columns,
                       effort.nodes, time.perf_counter() - effort.start)
