"""Exact finish for assignment problems whose classes hold one or a few queries.

The LP relaxation's dual prices y (capacity prices μ ≥ 0, share prices ν) give each eligible
(class c, system s) a reduced cost d[c,s] ≥ 0 and a bound L = g(y). For *any* feasible integral
schedule x (weak duality, written out)

    U(x) − L = Σ d[c,s]·x[c,s] + Σ_s μ_s·(cap_s − load_s(x)) + (share slacks · ν)  ≥  Σ d·x,

so a schedule with U(x) ≤ L + θ has x[c,s] ≤ ⌊θ / d[c,s]⌋ on every pair: **reduced-cost
fixing**. The pairs that survive at threshold θ form the *core* (every class left with a single
surviving system is fixed there); it is a small multiple-choice knapsack over the few binding
capacity rows.

The finish first tries the fill heuristic (:mod:`.fill`: round the LP vertex, refill the
binding systems with cheap moves); a schedule within the target gap of L ends it. Otherwise it
asks questions "is there a schedule with U ≤ L + θ?" (*probes*): the fill heuristic again,
then HiGHS on sub-cores of the cheapest moves (64, 128, ... moves) and on the complete core at
θ, each with the objective cut off at L + θ and stopping at the first schedule found. "Yes"
gives a schedule within θ of L; "no" from the complete core proves that every schedule costs
more than L + θ, which raises the bound (the expanding core of knapsack solvers: Balas &
Zemel, Oper. Res. 28, 1980; Pisinger, Eur. J. Oper. Res. 87, 1995). Probes start at θ = the
target gap and θ doubles after each "no": proofs at small θ are cheap (small cores). Once the
core that holds every better schedule (θ = U − L) has at most twice the columns of the last
probe's, it is the next size up anyway: it is optimised directly from the incumbent, in one
branch-and-bound tree whose proven bound, capped at U, bounds the whole problem. So the method
is chosen by measured quantities (the gap each step leaves, the size of the next core), and
the work grows geometrically. Effort is bounded by a time limit and/or a branch-and-bound
node budget (the latter is deterministic).

Everything here works on plain arrays; it knows nothing of workloads or fleets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import SolverError
from .class_model import margin_capacity
from .fill import FIRST_MOVES, Filler
from .highs_model import highspy_module, new_highs
from .status import Status

FINISH_BUDGET_S = 10.0
"""Seconds the solver gives the core MIPs when the caller sets no time limit (they are only
needed where the LP bound is not tight: classes of one or a few queries, 10^3–10^4 queries)."""


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
    """An optimal LP vertex with the prices that prove its bound.

    Attributes:
        counts: (C, S) LP solution.
        reduced: (C, S) reduced costs at the prices (≥ 0; +inf where ineligible).
        lower_bound: the Lagrangian bound g(y) at the same prices.
        capacity_price: (S,) μ ≥ 0, or None (then the fill heuristic is skipped).
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
        method: what produced the schedule: ``round`` (the incumbent given), ``fill`` (the
            fill heuristic) or ``core`` (a core MIP).
        probes: questions "is there a schedule within θ of L?" answered.
        cores: core MIPs solved.
        nodes: branch-and-bound nodes used.
        solve_s: wall time [s].
    """

    counts: np.ndarray | None
    objective: float
    lower_bound: float
    gap: float
    status: Status
    method: str
    probes: int
    cores: int
    nodes: int
    solve_s: float


def relative_gap(upper: float, lower: float) -> float:
    """(upper − lower) / max(|upper|, 1e-12), floored at 0 (inf without an upper bound)."""
    if not np.isfinite(upper):
        return np.inf
    return max(0.0, (upper - lower) / max(abs(upper), 1e-12))


def core_bounds(problem: ClassArrays, lp: LPCertificate, threshold: float) -> np.ndarray:
    """Upper bound on x[c, s] in any schedule within ``threshold`` of the LP bound.

    ``⌊θ / d⌋`` (capped at the class size) where d > 0; the class size where the LP uses the
    pair or d ≤ 0; 0 where ineligible.

    Returns:
        (C, S) float array.
    """
    n = problem.count.astype(np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(lp.reduced > 0, threshold / lp.reduced, np.inf)
    ub = np.minimum(np.floor(ratio * (1 + 1e-12)), n)
    ub = np.where((lp.counts > 1e-9) | (lp.reduced <= 0), n, ub)
    return np.where(problem.eligible, ub, 0.0)


def _free_columns(ub: np.ndarray) -> int:
    """Columns of a core's MIP: the surviving pairs of classes with more than one."""
    alive = ub > 0
    return int(alive[alive.sum(axis=1) > 1].sum())


def _sub_thresholds(lp: LPCertificate, eligible: np.ndarray, theta: float) -> list[float]:
    """Thresholds of the sub-cores below θ: the FIRST_MOVES cheapest moves, then doubling."""
    cand = eligible & (lp.counts <= 1e-9) & (lp.reduced > 0) & (lp.reduced <= theta)
    d = np.sort(lp.reduced[cand])
    out, k = [], FIRST_MOVES
    while k < d.size:
        out.append(float(d[k - 1]))
        k *= 2
    return out


@dataclass(frozen=True)
class _Answer:
    counts: np.ndarray | None  # a verified schedule with objective ≤ the cut-off, or None
    decided: bool  # a schedule was found, or it was proven that there is none
    nodes: int
    bound: float = -np.inf  # when none: every schedule of the core costs more than this
    method: str = "core"


def _solve_core(problem: ClassArrays, ub: np.ndarray, cutoff: float, resolution: float,
                time_limit: float | None, node_limit: int | None,
                start: np.ndarray | None = None, gap_tol: float | None = None) -> _Answer:
    """Search the core (pairs with ub > 0) for a schedule of objective ≤ ``cutoff``.

    Without ``gap_tol`` HiGHS stops at the first such schedule; a "none" answer proves every
    schedule of the core costs more than cutoff − 2·resolution. With ``gap_tol`` (and no
    cut-off) it optimises from ``start`` to that gap, and ``bound`` is its proven bound.
    """
    p = problem
    n_c, n_s = p.eligible.shape
    alive = ub > 0
    n_alive = alive.sum(axis=1)
    free = np.flatnonzero(n_alive > 1)
    fixed = np.zeros((n_c, n_s), dtype=np.int64)
    one = np.flatnonzero(n_alive == 1)
    fixed[one, np.argmax(alive[one], axis=1)] = p.count[one]
    offset = p.cost(fixed)
    if free.size == 0:
        ok = p.feasible(fixed) and offset <= cutoff
        return _Answer(fixed if ok else None, True, 0, cutoff)
    cls_local, sys = np.nonzero(alive[free])
    cls = free[cls_local]
    k = cls.size
    rt = np.where(p.eligible, p.runtime_s, 0.0)
    hs, h = highspy_module(), new_highs()
    cap = margin_capacity(p.capacity_s)  # HiGHS's tolerance can never overfill a system
    idx = [cls_local, free.size + sys]
    val = [np.ones(k), rt[cls, sys]]
    lo = [p.count[free].astype(np.float64), np.full(n_s, -hs.kHighsInf)]
    hi = [p.count[free].astype(np.float64), cap - p.load(fixed)]
    if p.has_shares:
        placed = fixed.sum(axis=0)
        idx.append(free.size + n_s + sys)
        val.append(np.ones(k))
        lo.append((p.min_count - placed).astype(np.float64))
        hi.append((p.max_count - placed).astype(np.float64))
    per = len(idx)
    lp = hs.HighsLp()
    lp.num_col_ = k
    lp.num_row_ = free.size + n_s * (per - 1)
    lp.col_cost_ = p.weights[cls, sys].astype(np.float64)
    lp.col_lower_ = np.zeros(k)
    lp.col_upper_ = ub[cls, sys].astype(np.float64)
    lp.row_lower_ = np.concatenate(lo)
    lp.row_upper_ = np.concatenate(hi)
    lp.offset_ = float(offset)
    lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(0, per * k + 1, per, dtype=np.int32)
    lp.a_matrix_.index_ = np.column_stack(idx).ravel().astype(np.int32)
    lp.a_matrix_.value_ = np.column_stack(val).ravel()
    lp.integrality_ = [hs.HighsVarType.kInteger] * k
    if h.passModel(lp) == hs.HighsStatus.kError:
        raise SolverError("HiGHS rejected the core model")
    # objective cut-off row Σ w·x ≤ cutoff − fixed cost, tightened by more than HiGHS's
    # feasibility tolerance, so a schedule it accepts is below the cut-off in exact arithmetic
    proven = cutoff
    if np.isfinite(cutoff):  # scaled so HiGHS's row tolerance is `resolution` in objective
        scale = 2.0 * float(h.getOptionValue("mip_feasibility_tolerance")[1]) / resolution
        h.addRow(-hs.kHighsInf, float(cutoff - offset) * scale - 2 * scale * resolution, k,
                 np.arange(k, dtype=np.int32), lp.col_cost_ * scale)
        proven = cutoff - 2 * resolution
    if gap_tol is None:
        h.setOptionValue("mip_max_improving_sols", 1)
    else:
        h.setOptionValue("mip_rel_gap", gap_tol)
        h.setOptionValue("mip_abs_gap", 0.0)
        if start is not None:
            sol = hs.HighsSolution()
            sol.col_value = start[cls, sys].astype(np.float64)
            sol.value_valid = True
            h.setSolution(sol)
    if time_limit is not None:
        h.setOptionValue("time_limit", max(float(time_limit), 0.01))
    if node_limit is not None:
        h.setOptionValue("mip_max_nodes", max(int(node_limit), 1))
    h.run()
    info = h.getInfo()
    nodes = max(int(info.mip_node_count), 0)
    if h.getModelStatus() == hs.HighsModelStatus.kInfeasible:
        return _Answer(None, True, nodes, proven)
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else -np.inf
    decided = h.getModelStatus() == hs.HighsModelStatus.kOptimal or gap_tol is None
    if info.primal_solution_status == 0:
        return _Answer(None, False, nodes, bound)
    counts = fixed.copy()
    counts[cls, sys] = np.rint(np.asarray(h.getSolution().col_value))
    if not p.feasible(counts) or p.cost(counts) > cutoff:
        return _Answer(None, False, nodes, bound)  # beyond HiGHS's tolerances: not decided
    return _Answer(counts, decided, nodes, bound)


class _Search:
    """The state of one finish: incumbent, proven bound, effort spent."""

    def __init__(self, problem: ClassArrays, lp: LPCertificate, time_limit: float | None,
                 node_limit: int | None, resolution: float):
        self.p, self.lp = problem, lp
        self.resolution = resolution
        self.start = time.perf_counter()
        self.time_limit = time_limit
        self.nodes_left = node_limit
        self.cores = self.nodes = 0
        self.filler: Filler | None = None

    def left(self) -> float | None:
        if self.time_limit is None:
            return None
        return self.time_limit - (time.perf_counter() - self.start)

    def exhausted(self) -> bool:
        left = self.left()
        return (left is not None and left <= 0) or (self.nodes_left is not None
                                                    and self.nodes_left <= 0)

    def fill(self, budget: float, best: bool = False) -> np.ndarray | None:
        """The fill heuristic's schedule if it is feasible and within ``budget`` of L."""
        lp = self.lp
        if lp.capacity_price is None:
            return None
        if self.filler is None:
            self.filler = Filler(self.p.eligible, self.p.runtime_s, self.p.count,
                                 self.p.capacity_s, lp.counts, lp.reduced, lp.capacity_price)
        counts = self.filler.schedule(budget, best, self.left())
        if counts is None or not self.p.feasible(counts) \
                or self.p.cost(counts) > lp.lower_bound + budget:
            return None
        return counts

    def core(self, ub: np.ndarray, cutoff: float, start: np.ndarray | None = None,
             gap_tol: float | None = None) -> _Answer:
        """One core MIP within the effort left (see :func:`_solve_core`)."""
        if self.exhausted():
            return _Answer(None, False, 0)
        out = _solve_core(self.p, ub, cutoff, self.resolution, self.left(), self.nodes_left,
                          start, gap_tol)
        self.cores += 1
        self.nodes += out.nodes
        if self.nodes_left is not None:
            self.nodes_left -= max(out.nodes, 1)
        return out

    def probe(self, theta: float) -> _Answer:
        """Is there a schedule with U ≤ L + θ? Fill heuristic, sub-cores, complete core."""
        cutoff = self.lp.lower_bound + theta
        found = self.fill(theta)
        if found is not None:
            return _Answer(found, True, 0, method="fill")
        complete = core_bounds(self.p, self.lp, theta)
        size = _free_columns(complete)
        subs = [ub for ub in (core_bounds(self.p, self.lp, t)
                              for t in _sub_thresholds(self.lp, self.p.eligible, theta))
                if 2 * _free_columns(ub) <= size]  # larger ones cost about as much
        out = _Answer(None, True, 0)
        for ub in [*subs, complete]:
            out = self.core(ub, cutoff)
            if out.counts is not None or not out.decided:
                return out
        return out  # the complete core holds none: proven up to out.bound


def exact_finish(problem: ClassArrays, lp: LPCertificate, incumbent: np.ndarray | None,
                 gap_tol: float = 1e-6, time_limit: float | None = None,
                 node_limit: int | None = None) -> ExactResult:
    """Close the gap between an incumbent and the LP bound, with a certified bound.

    Fill heuristic; probes at θ = target, 2·target, ...; then the complete core at U − L
    (see the module docstring).

    Args:
        problem: the class-level problem.
        lp: an optimal LP vertex, its reduced costs and bound.
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
    best = None if incumbent is None else np.asarray(incumbent, dtype=np.int64)
    upper = problem.cost(best) if best is not None else np.inf
    width = gap_tol * max(min(abs(base), abs(upper)), 1e-12) * (1 - 1e-6)
    search = _Search(problem, lp, time_limit, node_limit, resolution=1e-3 * width)
    method = "round"
    filled = search.fill(upper - base if np.isfinite(upper) else np.inf, best=True)
    if filled is not None and problem.cost(filled) < upper:
        best, upper, method = filled, problem.cost(filled), "fill"
    proven, probes, step, last = 0.0, 0, width, 0  # every schedule has U ≥ L + proven
    res = search.resolution
    while relative_gap(upper, base + proven) > gap_tol and not search.exhausted():
        theta = upper - base if np.isfinite(upper) else np.inf
        complete = core_bounds(problem, lp, theta)
        if probes and _free_columns(complete) <= 2 * last:
            # the core holding every better schedule is the next size up: optimise it from
            # the incumbent; its proven bound (capped at U) bounds the whole problem
            out = search.core(complete, np.inf, best, gap_tol)
            if out.counts is not None and problem.cost(out.counts) < upper:
                best, upper, method = out.counts, problem.cost(out.counts), "core"
            proven = max(proven, min(out.bound, base + theta) - base)
            break
        certify = upper - base - width + 2 * res  # a "no" here closes the gap
        theta = min(proven + step, certify)  # never at or above U: only better schedules
        if probes == 0 and certify <= 2 * theta:  # the first doubling would reach it
            theta = certify
        theta = max(theta, proven + res)
        out = search.probe(theta)  # cheap proofs first: small θ, small cores
        probes += 1
        last = _free_columns(core_bounds(problem, lp, theta))
        if out.counts is not None:
            if problem.cost(out.counts) >= upper:  # pragma: no cover - θ < U − L
                break
            best, upper, method = out.counts, problem.cost(out.counts), out.method
        elif out.decided:
            proven = max(proven, out.bound - base)
            step *= 2
        else:
            break
    lower = base + proven
    gap = relative_gap(upper, lower)
    if best is None:
        status = Status.INFEASIBLE if np.isinf(proven) else Status.GAP
    else:
        status = Status.OPTIMAL if gap <= gap_tol else Status.GAP
    return ExactResult(best, upper, lower, gap, status, method, probes, search.cores,
                       search.nodes, time.perf_counter() - search.start)
