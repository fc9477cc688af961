"""An independent per-query optimality oracle for the assignment problem (issue 9).

Everything here is rebuilt from the RAW inputs only: the workload's token counts and the fleet
TOML text (parsed with :mod:`tomllib`, hand-given coefficients only). Nothing of
``offline_sched`` is imported, so a bug in the package cannot leak into the reference.

Semantics implemented (README "Semantics" and the fleet TOML format; ``problem.py`` docstring):

* cost of query q on system s: ``y = in·τin + out·τout + inout·τin·τout + const``, clipped below
  at the floor: the explicit ``floor`` if > 0, else the model's value at τin = τout = 1 if > 0,
  else 1e-3;
* eligibility: token limits ``max_input_tokens``, ``max_output_tokens``, ``max_total_tokens``
  and ``instances > 0``;
* capacity of s: ``instances · window_s`` (a system's own ``window_s`` overrides the fleet's);
* shares: at least ⌈min_share·N⌉ and at most ⌊max_share·N⌋ queries (decimal arithmetic on the
  value as written; the strict rounding only, so generate instances where it is consistent);
* normalisation (``normalize = true``, default): each metric divided by its max |value| over
  eligible (query, system) pairs (1 if that is 0); else 1;
* per-query weight: ``energy-runtime``: λ·e/E + (1−λ)·r/R; ``energy-accuracy``:
  λ·e/E − (1−λ)·A_s·(τin + τout)/A, with accuracies > 1 read as percent.

The oracle is a MILP with one binary per eligible (query, system), solved by HiGHS through
:func:`scipy.optimize.milp`. Float tolerances are handled by bracketing, not by fudge factors:
the solve runs on capacities loosened by ``cap·1e-9 + 1e-6`` (its dual bound is a valid lower
bound for every problem at least as tight, including the exact one), and its rounded solution
is verified, from raw inputs, against capacities tightened by the same amount (its objective
is then a valid upper bound for every problem at least as loose, including the tool's model,
which keeps a 1e-10·cap + 1e-7 s margin below capacity). If the loose solution does not fit
the tight capacities, the tight problem is solved as well.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, OptimizeResult, milp
from scipy.sparse import csr_array

OBJECTIVES = ("energy-runtime", "energy-accuracy")
DEFAULT_WINDOW_S = 86400.0
DEFAULT_FLOOR = 1e-3
CAP_REL = 1e-9
CAP_ABS = 1e-6
HIGHS_OPTIMAL = 0
HIGHS_LIMIT = 1
HIGHS_INFEASIBLE = 2


class OracleError(RuntimeError):
    """The oracle itself could not decide (time limit, unexpected HiGHS status, bad input)."""


@dataclass(frozen=True)
class RawProblem:
    """The per-query problem, computed from raw inputs.

    Attributes:
        query_ids: id of each query, (N,).
        names: system names, (S,).
        energy_j: energy of query q on system s [J], (N, S), floor applied.
        runtime_s: runtime of query q on one replica of s [s], (N, S), floor applied.
        eligible: (N, S) bool.
        weights: objective coefficient per (query, system), (N, S); +inf where ineligible.
        capacity_s: instances · window_s per system, (S,).
        min_count: least queries per system, (S,).
        max_count: most queries per system, (S,).
    """

    query_ids: np.ndarray
    names: list[str]
    energy_j: np.ndarray
    runtime_s: np.ndarray
    eligible: np.ndarray
    weights: np.ndarray
    capacity_s: np.ndarray
    min_count: np.ndarray
    max_count: np.ndarray

    @property
    def scale(self) -> float:
        """Σ_q max_s |w[q, s]| over eligible pairs: the natural size of an objective value."""
        w = np.where(self.eligible, np.abs(self.weights), 0.0)
        return float(w.max(axis=1, initial=0.0).sum())


@dataclass(frozen=True)
class OracleResult:
    """What the oracle proved.

    Attributes:
        feasible_loose: a schedule exists under capacities ``cap·(1+1e-9) + 1e-6``.
        feasible_tight: a schedule exists under capacities ``cap·(1−1e-9) − 1e-6``.
        lower: proven lower bound on the optimum at the loose (hence the exact) capacities;
            NaN when infeasible.
        upper: objective of a verified per-query schedule under the tight capacities (hence
            an upper bound on the optimum of the exact and of the tool's model); NaN when the
            tight problem is infeasible.
        assignment: system index per query of that schedule, or None.
    """

    feasible_loose: bool
    feasible_tight: bool
    lower: float
    upper: float
    assignment: np.ndarray | None


@dataclass(frozen=True)
class Evaluation:
    """A per-query assignment scored from raw inputs.

    Attributes:
        objective: Σ_q w[q, system(q)] (inf if a query is unassigned or ineligible).
        busy_s: device-seconds used per system, (S,).
        queries: queries per system, (S,).
        complete: every query of the workload appears exactly once, on a known system.
        eligible_ok: every query is on a system it is eligible for.
        capacity_ok: busy_s ≤ cap·(1+1e-9) + 1e-6 on every system.
        shares_ok: min_count ≤ queries ≤ max_count on every system.
    """

    objective: float
    busy_s: np.ndarray
    queries: np.ndarray
    complete: bool
    eligible_ok: bool
    capacity_ok: bool
    shares_ok: bool

    @property
    def feasible(self) -> bool:
        """All constraints hold."""
        return self.complete and self.eligible_ok and self.capacity_ok and self.shares_ok


def _metric(spec: dict, tin: np.ndarray, tout: np.ndarray) -> np.ndarray:
    """Hand-given paper-form coefficients evaluated with the documented floor."""
    def raw(i: np.ndarray, o: np.ndarray) -> np.ndarray:
        return (float(spec.get("in", 0.0)) * i + float(spec.get("out", 0.0)) * o
                + float(spec.get("inout", 0.0)) * i * o + float(spec.get("const", 0.0)))

    floor = spec.get("floor")
    if floor is None or not floor > 0:
        at_one = float(raw(np.array([1.0]), np.array([1.0]))[0])
        floor = at_one if at_one > 0 else DEFAULT_FLOOR
    return np.maximum(raw(tin, tout), float(floor))


def _share_count(share: float, n: int, up: bool) -> int:
    exact = Fraction(repr(float(share))) * n  # decimal value as written, times N
    return math.ceil(exact) if up else math.floor(exact)


def _norm(values: np.ndarray, eligible: np.ndarray, normalize: bool) -> float:
    if not normalize or not eligible.any():
        return 1.0
    top = float(np.abs(values[eligible]).max())
    return top if top > 0 else 1.0


def raw_problem(frame: pd.DataFrame, fleet_toml: str, lam: float) -> RawProblem:
    """Build the per-query problem from a workload frame and a fleet TOML text.

    Args:
        frame: columns ``query_id`` (optional), ``input_tokens``, ``output_tokens``.
        fleet_toml: the fleet file's text (inline ``energy``/``runtime`` coefficients only).
        lam: λ in [0, 1].

    Raises:
        OracleError: a fleet feature the oracle does not model (``cost_model``) or bad λ.
    """
    if not 0.0 <= lam <= 1.0:
        raise OracleError(f"lam {lam} outside [0, 1]")
    data = tomllib.loads(fleet_toml)
    tin = frame["input_tokens"].to_numpy(dtype=np.float64)
    tout = frame["output_tokens"].to_numpy(dtype=np.float64)
    n = tin.shape[0]
    ids = (frame["query_id"].astype(str).to_numpy() if "query_id" in frame.columns
           else np.array([f"q{i}" for i in range(n)], dtype=object))
    window = float(data.get("window_s", DEFAULT_WINDOW_S))
    objective = data.get("objective", "energy-runtime")
    if objective not in OBJECTIVES:
        raise OracleError(f"objective {objective!r}")
    normalize = bool(data.get("normalize", True))
    systems = data["system"]
    n_s = len(systems)
    energy = np.empty((n, n_s))
    runtime = np.empty((n, n_s))
    eligible = np.ones((n, n_s), dtype=bool)
    accuracy = np.empty((n, n_s))
    capacity = np.empty(n_s)
    lo = np.empty(n_s, dtype=np.int64)
    hi = np.empty(n_s, dtype=np.int64)
    for s, sys in enumerate(systems):
        if "cost_model" in sys:
            raise OracleError("the oracle models hand-given coefficients only")
        runtime[:, s] = _metric(sys["runtime"], tin, tout)
        energy[:, s] = _metric(sys["energy"], tin, tout) if "energy" in sys else np.nan
        instances = int(sys.get("instances", 1))
        capacity[s] = instances * float(sys.get("window_s", window))
        ok = np.full(n, instances > 0)
        if "max_input_tokens" in sys:
            ok &= tin <= sys["max_input_tokens"]
        if "max_output_tokens" in sys:
            ok &= tout <= sys["max_output_tokens"]
        if "max_total_tokens" in sys:
            ok &= tin + tout <= sys["max_total_tokens"]
        eligible[:, s] = ok
        acc = sys.get("accuracy")
        if acc is not None:
            acc = float(acc) / 100.0 if float(acc) > 1.0 else float(acc)
            accuracy[:, s] = acc * (tin + tout)
        else:
            accuracy[:, s] = np.nan
        lo[s] = _share_count(sys.get("min_share", 0.0), n, up=True)
        hi[s] = _share_count(sys.get("max_share", 1.0), n, up=False)
    e_scale = _norm(energy, eligible, normalize) if lam > 0 else 1.0
    if objective == "energy-accuracy":
        second = -accuracy / _norm(accuracy, eligible, normalize)
    else:
        second = runtime / _norm(runtime, eligible, normalize)
    w = lam * energy / e_scale + (1.0 - lam) * second if lam > 0 else second
    w = np.where(eligible, w, np.inf)
    return RawProblem(query_ids=ids, names=[str(s["name"]) for s in systems], energy_j=energy,
                      runtime_s=runtime, eligible=eligible, weights=w, capacity_s=capacity,
                      min_count=lo, max_count=hi)


def _objective(p: RawProblem, system: np.ndarray) -> float:
    if (system < 0).any():
        return math.inf
    return float(p.weights[np.arange(system.size), system].sum())


def evaluate_index(p: RawProblem, system: np.ndarray, cap_rel: float = CAP_REL,
                   cap_abs: float = CAP_ABS) -> Evaluation:
    """Score a system index per query (−1 = unassigned) against ``p``.

    Capacity holds when busy ≤ max(cap·(1 + cap_rel) + cap_abs, 0) (use negative values to
    check against tightened capacities).
    """
    n, n_s = p.eligible.shape
    system = np.asarray(system, dtype=np.int64)
    placed = system >= 0
    rows = np.flatnonzero(placed)
    busy = np.bincount(system[rows], weights=p.runtime_s[rows, system[rows]], minlength=n_s)
    queries = np.bincount(system[rows], minlength=n_s)
    eligible_ok = bool(p.eligible[rows, system[rows]].all())
    objective = _objective(p, system) if eligible_ok else math.inf
    return Evaluation(
        objective=objective, busy_s=busy, queries=queries,
        complete=bool(placed.all()) and system.shape == (n,),
        eligible_ok=eligible_ok,
        capacity_ok=bool((busy <= np.maximum(p.capacity_s * (1 + cap_rel) + cap_abs, 0.0)).all()),
        shares_ok=bool(((queries >= p.min_count) & (queries <= p.max_count)).all()))


def evaluate(frame: pd.DataFrame, fleet_toml: str, lam: float,
             assignment: pd.DataFrame) -> Evaluation:
    """Score a per-query assignment (``query_id, system``) from raw inputs.

    A query missing from, or repeated in, ``assignment``, or an unknown system name, makes
    ``complete`` false.
    """
    p = raw_problem(frame, fleet_toml, lam)
    pos = {name: s for s, name in enumerate(p.names)}
    row = pd.Series(np.arange(p.query_ids.size), index=pd.Index(p.query_ids))
    ids = assignment["query_id"].astype(str).to_numpy()
    systems = assignment["system"].astype(str).map(pos)
    system = np.full(p.query_ids.size, -1, dtype=np.int64)
    known = systems.notna().to_numpy() & np.isin(ids, p.query_ids)
    duplicated = pd.Series(ids).duplicated().any()
    system[row[ids[known]].to_numpy()] = systems[known].astype(np.int64).to_numpy()
    ev = evaluate_index(p, system)
    if duplicated or not known.all() or len(assignment) != p.query_ids.size:
        return Evaluation(ev.objective, ev.busy_s, ev.queries, False, ev.eligible_ok,
                          ev.capacity_ok, ev.shares_ok)
    return ev


def _milp(p: RawProblem, capacity: np.ndarray, time_limit: float
          ) -> tuple[OptimizeResult, np.ndarray, np.ndarray]:
    """Solve the per-query MILP; returns the scipy result and the (q, s) of each column."""
    n, n_s = p.eligible.shape
    q, s = np.nonzero(p.eligible)
    k = q.size
    cols = np.arange(k)
    one = np.ones(k)
    blocks = [
        LinearConstraint(csr_array((one, (q, cols)), shape=(n, k)), 1.0, 1.0),
        LinearConstraint(csr_array((p.runtime_s[q, s], (s, cols)), shape=(n_s, k)),
                         -np.inf, capacity),
        LinearConstraint(csr_array((one, (s, cols)), shape=(n_s, k)),
                         p.min_count.astype(float), p.max_count.astype(float)),
    ]
    res = milp(p.weights[q, s], integrality=np.ones(k), bounds=Bounds(0.0, 1.0),
               constraints=blocks, options={"mip_rel_gap": 1e-12, "time_limit": time_limit,
                                            "presolve": True})
    return res, q, s


def _index(res: OptimizeResult, q: np.ndarray, s: np.ndarray, n: int) -> np.ndarray:
    take = np.rint(res.x) > 0.5
    system = np.full(n, -1, dtype=np.int64)
    system[q[take]] = s[take]
    if np.bincount(q[take], minlength=n).max(initial=0) > 1:
        raise OracleError("HiGHS returned a query on two systems")
    return system


def oracle_solve(frame: pd.DataFrame, fleet_toml: str, lam: float,
                 time_limit: float = 20.0) -> OracleResult:
    """Solve the per-query MILP from raw inputs, bracketing float tolerances (module doc).

    Args:
        frame: the workload.
        fleet_toml: the fleet file's text.
        lam: λ in [0, 1].
        time_limit: seconds per HiGHS solve.

    Returns:
        The bracketed result.

    Raises:
        OracleError: HiGHS stopped without proving optimality or infeasibility.
    """
    p = raw_problem(frame, fleet_toml, lam)
    n = p.query_ids.size
    infeasible = OracleResult(False, False, math.nan, math.nan, None)
    if not p.eligible.any(axis=1).all() or p.min_count.sum() > n or p.max_count.sum() < n \
            or (p.min_count > p.max_count).any():
        return infeasible  # an orphan query, or share counts that contradict each other
    loose = p.capacity_s * (1 + CAP_REL) + CAP_ABS
    tight = np.maximum(p.capacity_s * (1 - CAP_REL) - CAP_ABS, 0.0)
    res, q, s = _milp(p, loose, time_limit)
    if res.status == HIGHS_INFEASIBLE:
        return infeasible
    if res.status != HIGHS_OPTIMAL:
        raise OracleError(f"HiGHS (loose) ended with status {res.status}: {res.message}")
    lower = float(res.mip_dual_bound)
    system = _index(res, q, s, n)
    ev = evaluate_index(p, system, cap_rel=-CAP_REL, cap_abs=-CAP_ABS)
    if not (ev.complete and ev.eligible_ok and ev.shares_ok):
        raise OracleError("HiGHS returned an assignment that breaks a row constraint")
    if not ev.capacity_ok:  # the loose optimum uses the tolerance band: solve the tight one
        res, q, s = _milp(p, tight, time_limit)
        if res.status == HIGHS_INFEASIBLE:
            return OracleResult(True, False, lower, math.nan, None)
        if res.status != HIGHS_OPTIMAL:
            raise OracleError(f"HiGHS (tight) ended with status {res.status}: {res.message}")
        system = _index(res, q, s, n)
        ev = evaluate_index(p, system, cap_rel=-CAP_REL, cap_abs=-CAP_ABS)
        if not ev.feasible:  # HiGHS's own tolerance: tighten no further, give up loudly
            raise OracleError("tight HiGHS solution does not verify against raw capacities")
    return OracleResult(True, True, min(lower, ev.objective), ev.objective, system)
