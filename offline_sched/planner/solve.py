"""From the LP relaxation to an integral plan with a certified gap.

1. The LP relaxation (:func:`~offline_sched.planner.relax.solve_relaxation`).
2. Its **proven lower bound**: the Lagrangian dual at the LP's prices,
   ``D(μ, ν) + h(μ)``, where D prices every query of every class at its cheapest option
   (:class:`~offline_sched.planner.pricing.Pricer`) and h is the least value of the replica
   terms ``Σ (c_j − L_j·μ_j)·N_j + Σ c_up·up`` over their bounds. Weak duality makes it a
   bound on the MILP whatever the LP solver's tolerances.
3. **Whole replicas** (:mod:`.benders`) and **whole queries** (:mod:`.rounding`).
4. The gap ``(U − bound)/|U|`` is reported; ``optimal`` when it is within ``gap_tol``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InfeasibleError, SolverError
from .benders import benders, cut_constant
from .data import PlanData
from .highs import model_status, new_highs
from .lp import LPSolution, RestrictedLP
from .polish import polish
from .pricing import Priced, Pricer
from .relax import FINE_SIFT_S, MAX_FREE, Relaxation, solve_relaxation
from .rounding import FULL_MIP_MAX_COLUMNS, OVERFLOW_TOL, round_plan
from .switchons import add_switch_on_rows

GROW_SHARE = 0.8
"""Share of the time limit by which a restricted LP that overflows stops growing."""
LARGE_BENDERS_TOL = 2.5
"""Large models: Benders stops when its replica counts are within this many tenths of the
tolerance of the bound (the rounding of whole queries needs the rest)."""
LARGE_BENDERS_STALL_SHARE = 0.25
"""Large models: Benders stops once its rounds in a row without progress (neither the best
point's LP value nor the bound moved) have taken this share of the LP relaxation's time
(the model's own reference effort), and at least :data:`LARGE_BENDERS_STALL_MIN_S`. A rule
in rounds did not hold: on ``test_benders_stall_rounds_and_the_repeated_point_cap``'s day
the master's bound stays at the LP's for three rounds and then rises by 0.8 % (certified
gap 7.9e-3 → 1.6e-5) with one pricing of close calls, for five rounds with another (the
margins of the best system only, 2026-12-03), while those rounds take milliseconds; on
the planner benchmark's windows day the bound never moved in 4–10 rounds of 1–10 s each
(5–20 s, its best point the LP's replicas rounded up)."""
ENOUGH_SHARE = 0.5
"""Large models: the repair stops its MIP as soon as the filled greedy start lies within this
share of the tolerance of the proven bound (the plan is then certified whatever the MIP would
find; on the planner benchmark's 10^6 day the MIP was otherwise awaited 1 s for a plan no
better than the start, :data:`~.polish.MIP_FIRST_PLAN_S`)."""
LARGE_BENDERS_STALL_MIN_S = 1.0
"""Least seconds of rounds without progress before Benders stops (large models)."""


@dataclass(frozen=True)
class OptionPlan:
    """An integral plan over options (slot groups not yet split into slots).

    Attributes:
        k: time class of each entry.
        j: option of each entry.
        count: queries of class k on option j (> 0), int64.
        n_on: replica-slots on per option, (J,) int64.
        lower_bound: proven lower bound on the optimal objective.
        lp_objective: the LP relaxation's value.
        method: how the integral plan was found.
        info: solver facts (rounds, free rows, timings).
    """

    k: np.ndarray
    j: np.ndarray
    count: np.ndarray
    n_on: np.ndarray
    lower_bound: float
    lp_objective: float
    method: str
    info: dict = field(default_factory=dict)


def replica_term_min(data: PlanData, mu: np.ndarray) -> float:
    """h(μ) = min over replica counts (and switch-ons) of Σ (c_j − L_j·μ_j)·N_j + Σ c_up·up."""
    opt = data.options
    coef = opt.cost_n - opt.replica_s * mu
    if data.cost_up is None:
        return float(np.minimum(coef * opt.n_lo, coef * opt.n_hi).sum())
    h = new_highs()
    n_j = opt.n
    up_hi = opt.n_hi / opt.group_size[opt.group]
    h.addVars(2 * n_j, np.r_[opt.n_lo, np.zeros(n_j)], np.r_[opt.n_hi, up_hi])
    h.changeColsCost(2 * n_j, np.arange(2 * n_j, dtype=np.int32),
                     np.r_[coef, data.cost_up.ravel()])
    add_switch_on_rows(h, 0, n_j, opt.n_groups, opt.n_hi, data.cost_up)
    h.run()
    if model_status(h) != "optimal":
        raise SolverError("HiGHS could not bound the replica terms")
    return float(h.getInfo().objective_function_value)


def lower_bound(data: PlanData, sol: LPSolution) -> float:
    """The Lagrangian bound ``D(μ, ν) + h(μ)`` at the LP's prices (see the module docstring)."""
    mu = sol.mu  # any μ ≥ 0 gives a bound; the overflow o is not part of the real problem
    d = float(data.rows.count @ sol.priced.value)
    if data.share_lo is not None:
        d -= float(np.maximum(sol.nu, 0.0) @ data.share_hi
                   - np.maximum(-sol.nu, 0.0) @ data.share_lo)
    return d + replica_term_min(data, mu)


def lagrangian(data: PlanData, pricer: Pricer, mu: np.ndarray, nu: np.ndarray,
               priced: Priced) -> float:
    """``D(μ, ν) + h(μ)`` over the pricer's rows, given their pricing at (μ, ν)."""
    return pricer.dual_value(priced, nu, data.share_lo, data.share_hi) + \
        replica_term_min(data, mu)


def capped_bound(data: PlanData, pricer: Pricer, mu: np.ndarray, nu: np.ndarray) -> float:
    """The best Lagrangian bound over a few cappings of ``mu`` (and zero prices).

    Prices of an LP stopped while it still overflows carry the overflow penalty, which makes
    ``D + h`` useless; any prices μ ≥ 0 bound the MILP, so capped ones are tried instead.
    """
    best = -np.inf
    caps = np.r_[0.0, np.quantile(mu, [0.25, 0.5, 0.75, 0.9])]
    for cap in np.unique(caps):  # loop over a few caps
        m = np.minimum(mu, cap)
        best = max(best, lagrangian(data, pricer, m, nu, pricer.price(m, nu)))
    return best


def _slots_text(data: PlanData, j: int) -> str:
    """The slots of option j for messages: ``slot 3 [10800 s, 14400 s)`` or ``slots 3, 4``."""
    slots = np.flatnonzero(data.options.group_of_slot == data.options.group[j])
    length = data.grid.slot_s
    if slots.size == 1:
        return f"slot {slots[0]} [{slots[0] * length:g} s, {(slots[0] + 1) * length:g} s)"
    return f"slots {', '.join(map(str, slots))}"


def diagnose(data: PlanData, overflow: np.ndarray) -> str:
    """Name the slots and systems short of capacity, in seconds and replicas."""
    opt = data.options
    fleet = data.problem.fleet
    parts = []
    for j in np.flatnonzero(overflow > OVERFLOW_TOL * np.maximum(opt.replica_s, 1.0)):
        s = int(opt.system[j])
        size = int(opt.group_size[opt.group[j]])
        where = _slots_text(data, int(j))
        extra = int(np.ceil(overflow[j] / opt.replica_s[j] - 1e-9))
        inst = fleet[s].instances
        parts.append(f"{where} on {fleet[s].name!r} is short by {overflow[j]:.6g} s = "
                     f"{extra} replica{'s' if extra != 1 else ''}"
                     f"{' per slot' if size == 1 else '-slots'} beyond its {inst} instances")
    return ("infeasible: the queries cannot all be placed inside their windows; "
            + "; ".join(parts))


def solve_options(data: PlanData, time_limit: float | None = None,
                  gap_tol: float = 1e-6) -> OptionPlan:
    """LP relaxation, bound and rounding (see the module docstring).

    Raises:
        InfeasibleError: some queries cannot be placed (slots and systems short named), or
            the share bounds cannot be met.
        SolverError: HiGHS failed.
    """
    start = time.perf_counter()
    try:
        rel = solve_relaxation(data, time_limit, gap_tol)
    except SolverError as exc:
        if "share" in str(exc):
            raise InfeasibleError("infeasible: the share bounds cannot be met together with "
                                  "the capacities and windows") from None
        raise
    lp, sol = rel.lp, rel.sol
    tol = OVERFLOW_TOL * np.maximum(data.options.replica_s, 1.0)
    if (sol.overflow > tol).any() and not sol.exact:  # a restriction overflows: grow it
        end = None if time_limit is None else start + GROW_SHARE * time_limit
        try:
            sol = lp.sift(_left(None if time_limit is None else start + time_limit),
                          max_free=2 * MAX_FREE, deadline=end, until_feasible=True)
        except SolverError:  # out of time: the restriction's overflow stands (error below)
            pass
    t_lp = time.perf_counter() - start
    overflows = bool((sol.overflow > tol).any())
    if overflows and sol.exact:
        raise InfeasibleError(diagnose(data, sol.overflow))
    if overflows and rel.groups is None:
        raise SolverError("no feasible plan found within the planner's limits; try a longer "
                          "time_limit")
    bound = lp_bound = lower_bound(data, sol)
    if rel.groups is not None:  # the group LP's prices may bound better
        g_sol = rel.groups[1]
        bound = max(bound, replica_term_min(data, g_sol.mu) + cut_constant(
            data, g_sol, rel.pricer))
        bound = max(bound, rel.bound)
        if (g_sol.overflow > tol).any() or overflows:  # penalty-level prices bound badly
            bound = max(bound, capped_bound(data, rel.pricer, g_sol.mu, g_sol.nu))
        lp_bound = bound
    lp_value = sol.objective
    opt = data.options
    full = (lp.fixed_opt.max(initial=-1) < 0 and lp.complete
            and lp.col_k.size <= FULL_MIP_MAX_COLUMNS)
    deadline = None if time_limit is None else start + time_limit
    replicas_cost = bool((opt.cost_n != 0).any() or data.cost_up is not None)
    if full:
        k, j, c, n_on, method, bound, rounds = _round_full(data, lp, sol, bound, gap_tol,
                                                           deadline, replicas_cost)
    else:
        k, j, c, n_on, method, bound, rounds, sol = _round_large(
            data, rel, sol, bound, gap_tol, deadline, replicas_cost and not overflows, t_lp)
    info = {"lp_s": t_lp, "round_s": time.perf_counter() - start - t_lp,
            "lp_objective": lp_value, "lp_bound": lp_bound,
            "lp_rounds": sol.rounds, "benders_rounds": rounds,
            "free_rows": int((lp.fixed_opt < 0).sum()), "columns": int(lp.col_k.size),
            "groups": 0 if rel.groups is None else int(rel.groups[2].max()) + 1}
    return OptionPlan(k=k, j=j, count=c, n_on=n_on, lower_bound=bound,
                      lp_objective=sol.objective, method=method, info=info)


def _left(deadline: float | None, reserve: float = 0.0) -> float | None:
    """Seconds to ``deadline`` less ``reserve`` (at least a little), or None."""
    if deadline is None:
        return None
    return max(deadline - time.perf_counter() - reserve, 0.05)


def _round_full(data: PlanData, lp: RestrictedLP, sol: LPSolution, bound: float,
                gap_tol: float, deadline: float | None, replicas_cost: bool):
    """Small models: Benders on the whole LP, then the rounding MIP over the whole model."""
    opt = data.options
    rounds = 0
    if replicas_cost:
        res = benders(data, lp, sol, gap_tol, deadline)
        bound = max(bound, res.lower_bound)
        rounds = res.rounds
        sol = lp.sift()
    try:
        k, j, c, n_on, method, mip_bound = round_plan(lp, sol, _left(deadline), opt.n_lo,
                                                      opt.n_hi, None)
    except InfeasibleError as exc:
        raise InfeasibleError(f"{exc}: {split_diagnosis(data, sol)}") from None
    return k, j, c, n_on, method, max(bound, mip_bound), rounds


def split_diagnosis(data: PlanData, sol: LPSolution) -> str:
    """Where the LP relaxation needs split queries: per (slot, system), its load there."""
    opt, rows = data.options, data.rows
    fleet = data.problem.fleet
    frac = np.abs(sol.x - np.rint(sol.x)) > 1e-7
    parts = []
    for jj in np.unique(sol.col_j[frac]):  # loop over the options holding split queries
        on = sol.col_j == jj
        s = int(opt.system[jj])
        load = float(sol.x[on] @ rows.runtime[sol.col_k[on], s])
        where = _slots_text(data, int(jj))
        longest = float(rows.runtime[sol.col_k[on], s].max())
        parts.append(f"{where} on {fleet[s].name!r} would need {load:.6g} s of queries up to "
                     f"{longest:.6g} s long in {opt.replica_s[jj]:.6g} s per replica "
                     f"({int(opt.n_hi[jj])} replica-slot{'s' if opt.n_hi[jj] != 1 else ''})")
    return ("; ".join(parts) or "capacity too tight for whole queries") + \
        " (more replicas, longer slots or wider windows would help)"


def _round_large(data: PlanData, rel: Relaxation, sol: LPSolution, bound: float,
                 gap_tol: float, deadline: float | None, replicas_cost: bool, lp_s: float):
    """Large models: whole replicas from Benders, the LP re-solved there, a repair MIP.

    The restricted LP is first re-solved with the LP's replica counts rounded up (one more
    replica where it overflows); where that is within a quarter of the tolerance of the
    proven bound, those counts stand. Otherwise Benders runs, stopping as soon as its best
    integral counts are within that of the bound, and the restricted LP is re-solved at its
    counts (unless they are the rounded-up ones). :func:`~.polish.polish` then makes the few
    fractional rows whole.
    """
    opt = data.options
    lp = rel.lp
    rounds = 0
    now = time.perf_counter()
    rem = None if deadline is None else max(deadline - now, 0.0)
    reserve = 0.0 if rem is None else min(1.0, 0.1 * rem)  # for splitting and scoring
    if replicas_cost and (rem is None or rem > 4 * reserve):
        tol = OVERFLOW_TOL * np.maximum(opt.replica_s, 1.0)
        first = sol

        def fine_at(n_fix: np.ndarray) -> tuple[LPSolution | None, np.ndarray]:
            """The fine LP with N fixed (one more replica where the restriction overflows)."""
            out = None
            for _ in range(3):  # loop over at most three tries
                lp.fix_on(n_fix)
                sift_end = time.perf_counter() + FINE_SIFT_S
                if rem is not None:
                    sift_end = min(sift_end, now + 0.6 * rem)
                try:
                    out = lp.sift(_left(deadline, 2 * reserve), max_free=MAX_FREE,
                                  deadline=sift_end)
                except SolverError:  # out of time: the caller repairs the relaxation's plan
                    return None, n_fix
                over = out.overflow > tol
                if not over.any():
                    break
                n_fix = np.where(over, np.minimum(n_fix + 1, opt.n_hi), n_fix)
            return out, n_fix

        # the LP's replicas rounded up first: where the fine LP there is already within
        # Benders' own tolerance of the bound, Benders has nothing to find
        n_up = np.minimum(np.ceil(sol.n_on - 1e-9), opt.n_hi)
        at_up, n_up = fine_at(n_up)
        close = at_up is not None and not (at_up.overflow > tol).any() and (
            at_up.objective - bound
            <= 0.1 * LARGE_BENDERS_TOL * gap_tol * max(abs(at_up.objective), 1e-12))
        if at_up is None:
            sol = first
        elif close:
            sol = at_up
        else:
            stop = None if rem is None else now + 0.4 * rem
            stall_s = max(LARGE_BENDERS_STALL_MIN_S, LARGE_BENDERS_STALL_SHARE * lp_s)
            if rel.groups is None:
                res = benders(data, lp, first, LARGE_BENDERS_TOL * gap_tol, stop,
                              known_bound=bound, stall_s=stall_s)
            else:  # inner problems over the groups (small, warm); cuts priced on every class
                glp, g_sol, _ = rel.groups
                res = benders(data, glp, g_sol, LARGE_BENDERS_TOL * gap_tol, stop,
                              pricer=rel.pricer, known_bound=bound,
                              stall_s=stall_s)
            bound = max(bound, res.lower_bound)
            rounds = res.rounds
            n_fix = res.n_on.astype(np.float64)
            if np.array_equal(n_fix, n_up) and rel.groups is not None:
                sol = at_up  # solved already (Benders ran on the group LP)
            else:
                at_fix, _ = fine_at(n_fix)
                sol = first if at_fix is None else at_fix
        lp.fix_on(None)
    abs_gap = 0.05 * gap_tol * max(abs(bound), 1e-12)
    enough = bound + ENOUGH_SHARE * gap_tol * abs(bound)
    k, j, c, n_on, method = polish(lp, sol, opt.n_lo, opt.n_hi, _left(deadline, reserve),
                                   abs_gap, enough=enough)
    return k, j, c, n_on, method, bound, rounds, sol
