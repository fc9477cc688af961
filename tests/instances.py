"""Random instances for the oracle tests, generated without calling any solver (issue 9).

An :class:`Instance` is what a user would give the tool: a workload frame
(``query_id, input_tokens, output_tokens``), a fleet TOML text with hand-given coefficients,
and λ. :func:`instances` is a hypothesis strategy over

* N queries whose token pairs come from a small pool, so classes hold many queries (with some
  draws of all-distinct pairs: singleton classes);
* 2–4 systems with random non-negative paper-form coefficients (sometimes a negative ``in``
  energy coefficient, so the cost-model floor is exercised), 0–4 instances, optional token
  limits cut at the pool's own values, optional share bounds, optional per-system windows;
* objective ``energy-runtime`` / ``energy-accuracy`` (accuracies as fractions or percent),
  ``normalize`` true / false, λ ∈ {0, 1} or interior;
* capacities that bind: in a third of the draws the window is set so that the total runtime of
  every query on its fastest eligible system is 50–120 % of the fleet's capacity; in the
  others it is 0.95–1.4 times the least window at which a *fractional* assignment exists (an LP
  in scipy), so integrality decides feasibility. Some instances are infeasible; most feasible
  ones are tight.

Only ``tests/oracle.py``'s raw cost evaluation and scipy are used; the package under test is
never called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import strategies as st
from oracle import RawProblem, raw_problem
from scipy.optimize import linprog
from scipy.sparse import csr_array, vstack

LAMBDAS = st.sampled_from([0.0, 1.0]) | st.floats(0.01, 0.99).map(lambda v: round(v, 4))


@dataclass(frozen=True)
class Instance:
    """One test instance: raw inputs only.

    Attributes:
        frame: workload, columns ``query_id, input_tokens, output_tokens``.
        fleet_toml: fleet file text.
        lam: λ.
    """

    frame: pd.DataFrame
    fleet_toml: str
    lam: float

    def __repr__(self) -> str:  # readable hypothesis falsifying examples
        rows = ", ".join(f"({i},{o})" for i, o in zip(self.frame["input_tokens"],
                                                      self.frame["output_tokens"], strict=True))
        return f"Instance(lam={self.lam!r}, tokens=[{rows}],\nfleet_toml='''{self.fleet_toml}''')"


def _num(value: float) -> str:
    return repr(float(value))


def _table(coefs: dict[str, float]) -> str:
    return "{ " + ", ".join(f"{k} = {_num(v)}" for k, v in coefs.items()) + " }"


def fleet_toml(systems: list[dict], window_s: float, objective: str = "energy-runtime",
               normalize: bool = True) -> str:
    """Write a fleet TOML text from plain dicts (keys as in the fleet file format)."""
    lines = [f"window_s = {_num(window_s)}", f'objective = "{objective}"',
             f"normalize = {'true' if normalize else 'false'}"]
    for sys in systems:
        lines.append("[[system]]")
        for key, value in sys.items():
            if isinstance(value, dict):
                lines.append(f"{key} = {_table(value)}")
            elif isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, str):
                lines.append(f'{key} = "{value}"')
            elif isinstance(value, int):
                lines.append(f"{key} = {value}")
            else:
                lines.append(f"{key} = {_num(value)}")
    return "\n".join(lines) + "\n"


def workload_frame(tokens: list[tuple[int, int]]) -> pd.DataFrame:
    """A workload frame with ids ``j0, j1, …`` from (τin, τout) pairs."""
    arr = np.asarray(tokens, dtype=np.int64).reshape(-1, 2)
    return pd.DataFrame({"query_id": [f"j{i}" for i in range(arr.shape[0])],
                         "input_tokens": arr[:, 0], "output_tokens": arr[:, 1]})


def _coef(draw, top: float) -> float:
    """0 sometimes, else a value in (0, top] with 4 significant digits."""
    if draw(st.integers(0, 5)) == 0:
        return 0.0
    return float(f"{draw(st.floats(0.1, 1.0)) * top:.4g}")


def _limit(draw, values: np.ndarray) -> int | None:
    """No limit, or a limit at one of the pool's values (so it really cuts)."""
    if draw(st.integers(0, 2)) > 0:
        return None
    return int(draw(st.sampled_from(sorted(set(values.tolist())))))


def _shares(draw, n_systems: int, n: int) -> list[tuple[float, float]]:
    """Share bounds (2 decimals) whose strict rounding ⌈min·N⌉, ⌊max·N⌋ is consistent."""
    bounds = []
    for _ in range(n_systems):
        lo = draw(st.sampled_from([0.0, 0.0, 0.05, 0.1, 0.2, 0.3]))
        hi = draw(st.sampled_from([1.0, 1.0, 0.9, 0.75, 0.5, 0.4]))
        bounds.append((lo, max(lo, hi)))
    lo_sum = sum(math.ceil(round(lo * n, 9)) for lo, _ in bounds)
    hi_sum = sum(math.floor(round(hi * n, 9)) for _, hi in bounds)
    if sum(lo for lo, _ in bounds) > 1.0 or lo_sum > n:
        bounds = [(0.0, hi) for _, hi in bounds]
    if hi_sum < n:
        bounds = [(lo, 1.0) for lo, _ in bounds]
    return bounds


@st.composite
def instances(draw, max_queries: int = 40, max_systems: int = 4) -> Instance:
    """Hypothesis strategy of :class:`Instance` (see the module docstring)."""
    n = draw(st.integers(1, max_queries))
    distinct = draw(st.integers(0, 4)) == 0
    pool_size = n if distinct else draw(st.integers(1, min(6, n)))
    pool = draw(st.lists(st.tuples(st.integers(1, 400), st.integers(1, 300)),
                         min_size=pool_size, max_size=pool_size,
                         unique=distinct))
    pick = draw(st.lists(st.integers(0, pool_size - 1), min_size=n, max_size=n))
    tokens = [pool[i] for i in pick] if not distinct else pool
    frame = workload_frame(tokens)
    tin = frame["input_tokens"].to_numpy()
    tout = frame["output_tokens"].to_numpy()

    n_systems = draw(st.integers(2, max_systems))
    objective = draw(st.sampled_from(["energy-runtime", "energy-accuracy"]))
    normalize = draw(st.booleans())
    lam = draw(LAMBDAS)
    share = draw(st.integers(0, 2)) == 0
    bounds = _shares(draw, n_systems, n) if share else [(0.0, 1.0)] * n_systems
    systems = []
    for s in range(n_systems):
        energy = {"in": _coef(draw, 1.0), "out": _coef(draw, 30.0),
                  "inout": _coef(draw, 0.05), "const": _coef(draw, 10.0)}
        if draw(st.integers(0, 5)) == 0:
            energy["in"] = -_coef(draw, 2.0)  # may drive small queries below the floor
        runtime = {"in": _coef(draw, 0.01), "out": _coef(draw, 0.2),
                   "inout": _coef(draw, 1e-3), "const": _coef(draw, 0.5)}
        sys: dict = {"name": f"s{s}", "model": "m", "gpu": s == 0,
                     "instances": draw(st.sampled_from([0, 1, 1, 2, 3, 4]))}
        for key, values in (("max_input_tokens", tin), ("max_output_tokens", tout),
                            ("max_total_tokens", tin + tout)):
            if s > 0:  # s0 never has limits, so most instances have a catch-all system
                limit = _limit(draw, values)
                if limit is not None:
                    sys[key] = limit
        if objective == "energy-accuracy" or draw(st.booleans()):
            acc = draw(st.floats(0.3, 0.9))
            sys["accuracy"] = round(acc * 100, 2) if draw(st.booleans()) else round(acc, 4)
        lo, hi = bounds[s]
        if lo > 0:
            sys["min_share"] = lo
        if hi < 1:
            sys["max_share"] = hi
        if draw(st.integers(0, 4)) == 0:
            sys["window_s"] = draw(st.sampled_from([0.5, 2.0]))  # relative; scaled below
        sys["energy"] = energy
        sys["runtime"] = runtime
        systems.append(sys)
    if systems[0]["instances"] == 0 and draw(st.integers(0, 3)) > 0:
        systems[0]["instances"] = 1
    p = raw_problem(frame, fleet_toml(systems, 1.0, objective, normalize), lam)  # window 1
    if draw(st.integers(0, 2)) == 0:
        window = _binding_window(p, draw(st.floats(0.5, 1.2)))
    else:
        window = _fractional_window(p, draw(st.floats(0.95, 1.4)))
    for sys in systems:
        if "window_s" in sys:
            sys["window_s"] = float(f"{sys['window_s'] * window:.12g}")
    return Instance(frame, fleet_toml(systems, window, objective, normalize), lam)


def _binding_window(p: RawProblem, ratio: float) -> float:
    """Fleet window making Σ_q (fastest eligible runtime) = ratio · total capacity.

    ``p`` is the problem with a fleet window of 1 (systems' own windows relative to it).
    """
    fastest = np.where(p.eligible, p.runtime_s, np.inf).min(axis=1)
    need = float(fastest[np.isfinite(fastest)].sum())
    per_window = float(p.capacity_s.sum())
    if per_window <= 0 or need <= 0:
        return 1.0
    return float(f"{need / (ratio * per_window):.12g}")


def _fractional_window(p: RawProblem, factor: float) -> float:
    """``factor`` times the least window at which the problem is fractionally feasible.

    The least window comes from an LP over fractional assignments (scipy's ``linprog``, not
    the package under test): min t s.t. each query assigned once, Σ_q r·x ≤ t·capacity(window
    1) per system, share bounds. Near factor 1 integrality decides feasibility. Falls back to
    :func:`_binding_window` when even the LP is infeasible (orphans, shares).
    """
    n, n_s = p.eligible.shape
    q, s = np.nonzero(p.eligible)
    k = q.size
    if k == 0 or not p.eligible.any(axis=1).all():
        return _binding_window(p, 1.0)
    cols = np.arange(k)
    assign = csr_array((np.ones(k), (q, cols)), shape=(n, k + 1))
    load = csr_array((np.r_[p.runtime_s[q, s], -p.capacity_s],
                      (np.r_[s, np.arange(n_s)], np.r_[cols, np.full(n_s, k)])),
                     shape=(n_s, k + 1))
    count = csr_array((np.ones(k), (s, cols)), shape=(n_s, k + 1))
    a_ub = vstack([load, count, -count])
    b_ub = np.r_[np.zeros(n_s), p.max_count, -p.min_count]
    cost = np.r_[np.zeros(k), 1.0]
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=assign, b_eq=np.ones(n),
                  bounds=[(0, 1)] * k + [(0, None)], method="highs")
    if res.status != 0 or not res.x[-1] > 0:
        return _binding_window(p, 1.0)
    return float(f"{res.x[-1] * factor:.12g}")


def singleton_instance(seed: int, n: int = 40, n_systems: int = 4,
                       factor: float = 1.02) -> Instance:
    """Seeded instance of all-distinct token pairs (singleton classes), capacities tight.

    Systems differ in speed and energy per token (so the cheapest system is not the fastest);
    the last one has a ``max_output_tokens`` limit at the median output (an eligibility
    pattern). The window is ``factor`` times the least window at which a fractional
    assignment exists (:func:`_fractional_window`): near 1 the capacities bind hard and
    integrality decides; below 1 the instance is infeasible.
    """
    rng = np.random.default_rng(seed)
    pairs = set()
    while len(pairs) < n:
        pairs.add((int(rng.integers(1, 2000)), int(rng.integers(1, 600))))
    frame = workload_frame(sorted(pairs))
    systems = []
    for s in range(n_systems):
        speed, frugal = rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0)
        sys: dict = {"name": f"s{s}", "model": "m", "instances": int(rng.integers(1, 4)),
                     "energy": {"in": float(f"{0.05 * frugal:.4g}"),
                                "out": float(f"{3.0 * frugal:.4g}"),
                                "const": float(f"{rng.uniform(0, 5):.4g}")},
                     "runtime": {"in": float(f"{1e-3 / speed:.4g}"),
                                 "out": float(f"{0.03 / speed:.4g}"),
                                 "const": float(f"{rng.uniform(0, 0.2):.4g}")}}
        if s == n_systems - 1 and s > 0:
            sys["max_output_tokens"] = int(np.median(frame["output_tokens"]))
        systems.append(sys)
    p = raw_problem(frame, fleet_toml(systems, 1.0), 0.5)
    window = _fractional_window(p, factor)
    return Instance(frame, fleet_toml(systems, window), float(rng.choice([0.0, 0.3, 0.5, 1.0])))
