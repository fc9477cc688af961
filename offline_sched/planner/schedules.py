"""Plans in time as :class:`~offline_sched.Schedule` objects, for ``solve``/``compare``/``sweep``.

* :func:`plan_schedule` is the ``milp`` policy when a call plans in time (see
  :mod:`.settings`): the time-slot MILP of :mod:`.model`, or, where the model is today's
  (one slot, no idle power, no windows), today's solver with the plan's figures on top.
* :func:`plan_policies` scores every policy of a comparison by the planner's evaluation,
  with provisioning: ``milp``; ``always-on``, ``as-soon-as-possible`` and ``wait-awhile``
  (:mod:`.baselines`); and today's policies (thresholds, all-GPU, ...) keeping their names,
  their routing placed as soon as possible with replicas powered on as needed.
* :func:`always_on_view` gives an unplanned schedule its per-slot view (one slot, every
  replica on).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from ..solver.status import SolveResult, Status
from .baselines import BASELINES, as_soon_as_possible
from .data import PlanData
from .evaluate import evaluate
from .expand import best_on
from .model import GAP_TOL, PlanResult, _result, _trivial, prepare, solve_plan
from .settings import PlanSettings

if TYPE_CHECKING:
    from .. import AssignmentProblem, Schedule

PLAN_BASELINES = tuple(BASELINES)
"""Baselines a comparison in time adds: ``always-on``, ``as-soon-as-possible``,
``wait-awhile``."""


def _entries(data: PlanData, counts: np.ndarray) -> tuple[np.ndarray, ...]:
    """(time class, system, slot 0, count) entries of per-token-class counts, one slot."""
    counts = np.asarray(counts, dtype=np.int64)
    tclass_of = np.empty(data.problem.classes.n_classes, dtype=np.int64)
    tclass_of[data.tclasses.base] = np.arange(data.tclasses.n_classes)
    c, s = np.nonzero(counts)
    return tclass_of[c], s.astype(np.int64), np.zeros(c.size, dtype=np.int64), counts[c, s]


def always_on_view(problem: AssignmentProblem, lam: float, counts: np.ndarray) -> PlanResult:
    """Today's model seen as a plan: one slot, every replica on, the fleet's idle power."""
    data = prepare(problem, lam)
    k, s, t, c = _entries(data, counts)
    on = np.array([[sy.instances] for sy in problem.fleet], dtype=np.int64)
    return PlanResult(data=data, policy="always-on", k=k, system=s, slot=t, count=c, on=on,
                      evaluation=evaluate(data, k, s, t, c, on), method="always-on")


def to_schedule(plan: PlanResult, name: str | None = None,
                result: SolveResult | None = None) -> Schedule:
    """A plan as a :class:`~offline_sched.Schedule` (``planned`` set; per-query systems)."""
    from ..schedule import Schedule

    system, _ = plan.query_plan()
    return Schedule(plan.data.problem, name or plan.policy, plan.data.lam,
                    counts=plan.counts_by_class(), system_index_=np.asarray(system),
                    result=result, solve_s=plan.solve_s, planned=plan)


def _solve_result(plan: PlanResult) -> SolveResult:
    lower = float(plan.lower_bound)
    status = Status.OPTIMAL if plan.status == "optimal" else Status.GAP
    limit = plan.info.get("status") if isinstance(plan.info, dict) else None
    if status is Status.GAP and limit == str(Status.TIME_LIMIT):
        status = Status.TIME_LIMIT
    return SolveResult(plan.counts_by_class(), status, float(plan.objective),
                       lower if np.isfinite(lower) else -np.inf,
                       float(plan.gap) if np.isfinite(plan.gap) else np.inf,
                       float(plan.solve_s), f"plan:{plan.method}")


def milp_plan(problem: AssignmentProblem, lam: float, settings: PlanSettings, *,
              solver: str = "highs", time_limit: float | None = None,
              gap_tol: float | None = None, data: PlanData | None = None) -> PlanResult:
    """The optimal plan in time (see :func:`offline_sched.planner.model.plan`).

    Where the model is today's (one slot, no idle power or start-ups, no windows), today's
    solver (``solver``) gives the routing and the plan powers on only the replicas it needs;
    otherwise the planner's own solver runs (HiGHS). ``data``: the prepared model when the
    caller has it (a comparison prepares it once for every policy).

    Raises:
        InputError: bad settings, signals or windows (named); ``solver`` other than
            ``highs`` for a model that is not today's.
        InfeasibleError: no plan exists (short slots and systems named).
    """
    from ..errors import InputError
    from ..policies import milp

    t0 = time.perf_counter()
    tol = GAP_TOL if gap_tol is None else gap_tol
    if data is None:
        data = prepare(problem, lam, **settings.plan_kwargs())  # type: ignore[arg-type]
    if not _trivial(data):
        if solver != "highs":
            raise InputError(f"solver, value {solver!r}: planning in time (slots, idle power, "
                             "signals or windows) solves with 'highs' only")
        return solve_plan(data, gap_tol=tol, time_limit=time_limit, t0=t0)
    sched = milp(problem, lam, solver=solver, time_limit=time_limit, gap_tol=gap_tol)
    k, s, t, c = _entries(data, sched.counts)
    busy = np.zeros((data.n_systems, 1))
    np.add.at(busy, (s, t), c * data.rows.runtime[k, s])
    on = best_on(data, busy)
    res = sched.result
    lower = float(res.lower_bound) if res is not None else float("nan")
    info = {} if res is None else {"status": str(res.status), "gap": res.gap,
                                   "method": res.method}
    # one slot, no idle power: the planner's objective is today's, so today's bound holds
    return _result(data, "milp", k, s, t, c, on, evaluate(data, k, s, t, c, on), lower, tol,
                   t0, f"today:{res.method if res else solver}", info)


def plan_schedule(problem: AssignmentProblem, lam: float, settings: PlanSettings,
                  **options: object) -> Schedule:
    """:func:`milp_plan` as the ``milp`` schedule (``result`` and ``planned`` set)."""
    plan = milp_plan(problem, lam, settings, **options)  # type: ignore[arg-type]
    return to_schedule(plan, "milp", _solve_result(plan))


def plan_policies(problem: AssignmentProblem, lam: float, names: list[str],
                  settings: PlanSettings, cache: dict | None = None,
                  **options: object) -> list[Schedule]:
    """Every policy of a comparison, scored as plans in time (module docstring).

    Args:
        problem: the problem.
        lam: λ.
        names: policies (``milp``, today's policy names, and :data:`PLAN_BASELINES`).
        settings: the planning settings.
        cache: a dict kept across calls at the same λ (one name per call): the planner's
            data and today's routing are built once.
        **options: ``solver``, ``time_limit``, ``gap_tol`` of the MILP; ``seed`` of
            ``random``.

    Raises:
        InfeasibleError: the MILP has no plan, or (for the baselines) today's one-slot
            model has no schedule.
    """
    from ..policies import milp, run_policy

    milp_opts = {k: v for k, v in options.items() if k in ("solver", "time_limit", "gap_tol")}
    cache = {} if cache is None else cache
    if "data" not in cache:
        cache["data"] = prepare(problem, lam, **settings.plan_kwargs())  # type: ignore[arg-type]
    data: PlanData = cache["data"]
    out: list[Schedule] = []
    for name in names:
        if name == "milp":
            out.append(plan_schedule(problem, lam, settings, data=data, **milp_opts))
        elif name in BASELINES:
            if "routing" not in cache:  # today's one-slot routing, shared by the baselines
                cache["routing"] = np.asarray(milp(problem, lam, **milp_opts).counts)  # type: ignore[arg-type]
            out.append(to_schedule(BASELINES[name](data, cache["routing"])))
        else:
            sched = run_policy(name, problem, lam, seed=options.get("seed", 0))  # type: ignore[arg-type]
            placed = as_soon_as_possible(data, np.asarray(sched.counts), name=name)
            out.append(to_schedule(placed, name))
            out[-1].params = dict(sched.params)
    return out


def default_plan_policies(names: list[str]) -> list[str]:
    """Today's default policy names with :data:`PLAN_BASELINES` after ``milp``."""
    out = [n for n in names if n not in PLAN_BASELINES]
    at = out.index("milp") + 1 if "milp" in out else 0
    return out[:at] + list(PLAN_BASELINES) + out[at:]
