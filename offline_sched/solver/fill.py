"""Primal heuristic of the exact finish: round the LP vertex and fill the binding capacities.

At the LP optimum every binding system s (capacity price μ_s > 0) is full, and a schedule x is
worse than the LP bound L by exactly (weak duality, no share rows)

    U(x) − L = Σ d[c,t]·x[c,t] + Σ_s μ_s·slack_s(x),

so a good integral schedule keeps the LP's choices, places the few split queries, and then
refills every binding system to within a hair with *cheap moves* (small reduced cost d) of
single queries. Filling all binding rows at once is a multi-dimensional subset-sum; this module
makes it a sequence of one-dimensional ones (a triangular order):

* binding systems are ordered so that the last one has the most cheap moves to non-binding
  systems, the one before it the most to those and the last, and so on;
* each system s in turn is filled by moves between s and the systems *after* it (non-binding
  ones absorb anything): its slack must end in [0, budget / μ_s], at least cost, with up to
  four moves found by meet-in-the-middle (all singles and pairs of the cheapest moves, sorted
  by their load change; a range-minimum query finds the best partner of each);
* the moves' effect on later systems shifts those systems' targets.

The result is verified from scratch (capacities, shares, objective); nothing here is trusted
without that check. It is a heuristic: when it finds nothing the exact finish's core MIPs
still decide.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

FIRST_MOVES = 64
"""Moves per system in the first meet-in-the-middle table; doubled until a fill is found (the
work of all tables together is then at most 4/3 of the last one's)."""
MAX_PAIR_MOVES = 1024
"""Largest number of moves whose pairs are tabled for one system (≈ 5·10^5 pairs)."""
MAX_PLACEMENTS = 64
"""Placements of the LP's split queries tried, closest to the LP first."""


def lp_base(lp_counts: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The integral part of an LP solution and the queries per class it leaves unplaced.

    Returns:
        ``(base, residual)``: (C, S) int64 counts (values within 1e-7 of an integer are
        rounded, others floored) and (C,) int64 queries still to place.
    """
    near = np.abs(lp_counts - np.rint(lp_counts)) <= 1e-7
    base = np.maximum(np.where(near, np.rint(lp_counts), np.floor(lp_counts)), 0)
    base = base.astype(np.int64)
    over = base.sum(axis=1) - count
    for c in np.flatnonzero(over > 0):  # tolerance pushed a class over its size (rare)
        base[c, np.argmax(base[c])] -= over[c]
    return base, count - base.sum(axis=1)


def _range_min(values: np.ndarray) -> list[np.ndarray]:
    """Sparse table of argmins over windows of length 2^k (for O(1) range-minimum queries)."""
    table = [np.arange(values.size)]
    k = 1
    while 2 * k <= values.size:
        prev = table[-1]
        left, right = prev[:-k], prev[k:]
        table.append(np.where(values[right] < values[left], right, left))
        k *= 2
    return table


def _query(values: np.ndarray, table: list[np.ndarray], lo: np.ndarray, hi: np.ndarray
           ) -> np.ndarray:
    """Argmin of ``values`` over [lo, hi) per query (hi > lo)."""
    level = np.floor(np.log2(hi - lo)).astype(np.int64)
    out = np.empty(lo.size, dtype=np.int64)
    for k in np.unique(level):
        m = level == k
        a, b = table[k][lo[m]], table[k][hi[m] - (1 << k)]
        out[m] = np.where(values[b] < values[a], b, a)
    return out


def _moves(base: np.ndarray, eligible: np.ndarray, reduced: np.ndarray, limit: float):
    """Single-query moves (class, from, to) off the base with reduced-cost change ≤ limit."""
    n_s = eligible.shape[1]
    cls, src = np.nonzero(base > 0)
    cls, src = np.repeat(cls, n_s), np.repeat(src, n_s)
    dst = np.tile(np.arange(n_s), cls.size // n_s)
    ok = eligible[cls, dst] & (dst != src)
    cls, src, dst = cls[ok], src[ok], dst[ok]
    d = reduced[cls, dst] - reduced[cls, src]
    ok = d <= limit
    return cls[ok], src[ok], dst[ok], d[ok]


def _triangle(binding: list[int], src: np.ndarray, dst: np.ndarray, d: np.ndarray,
              n_s: int) -> list[int]:
    """Order binding systems so each has cheap moves to the systems after it.

    Built from the back: the last system is the one whose FIRST_MOVES-th cheapest move to a
    non-binding system costs least, the one before it likewise towards those and the last, ...
    """
    after = np.ones(n_s, dtype=bool)
    after[binding] = False
    order: list[int] = []
    left = list(binding)
    while left:
        score = []
        for s in left:
            mine = np.sort(d[((src == s) & after[dst]) | ((dst == s) & after[src])])
            score.append(mine[min(FIRST_MOVES, mine.size) - 1] if mine.size else np.inf)
        s = left.pop(int(np.argmin(score)))
        order.append(s)
        after[s] = True
    return order[::-1]


class _PairTable:
    """All singles and pairs (distinct classes) of some moves, sorted by their load change."""

    def __init__(self, v: np.ndarray, cost: np.ndarray, cls: np.ndarray):
        m = v.size
        i, j = np.triu_indices(m, 1)
        keep = cls[i] != cls[j]
        first = np.concatenate([[-1], np.arange(m), i[keep]])
        second = np.concatenate([[-1], np.full(m, -1), j[keep]])
        v0, cost0 = np.append(v, 0.0), np.append(cost, 0.0)  # index -1: no move
        load = v0[first] + v0[second]
        price = cost0[first] + cost0[second]
        order = np.argsort(load, kind="stable")
        self.first, self.second = first[order], second[order]
        self.load, self.price = load[order], price[order]
        self.cls = cls
        self.rmq = _range_min(self.price)

    def best(self, target: float, eps: float, used: np.ndarray
             ) -> tuple[float, np.ndarray | None]:
        """Least-cost union of two entries with load in [target − eps, target].

        Returns:
            ``(Σ cost, move indices)``, or ``(inf, None)``; moves of classes in ``used`` and
            repeated classes are refused.
        """
        lo = np.searchsorted(self.load, target - eps - self.load, "left")
        hi = np.searchsorted(self.load, target - self.load, "right")
        ok = np.flatnonzero(hi > lo)
        if ok.size == 0:
            return np.inf, None
        partner = _query(self.price, self.rmq, lo[ok], hi[ok])
        total = self.price[ok] + self.price[partner]
        for k in np.argsort(total, kind="stable")[:64]:  # the best few without a conflict
            items = [x for x in (self.first[ok[k]], self.second[ok[k]], self.first[partner[k]],
                                 self.second[partner[k]]) if x >= 0]
            classes = self.cls[items]
            if len(set(classes.tolist())) == len(items) and not used[classes].any():
                return float(total[k]), np.asarray(items, dtype=np.int64)
        return np.inf, None


class Filler:
    """Fill heuristic for one LP vertex; build once, ask for many budgets.

    Args:
        eligible: (C, S) bool.
        runtime_s: (C, S) runtime per query [s].
        count: (C,) queries per class.
        capacity_s: (S,) capacities the schedule must fit [s].
        lp_counts: (C, S) LP solution (a vertex).
        reduced: (C, S) reduced costs at the LP's prices.
        capacity_price: (S,) the LP's capacity prices μ ≥ 0.
    """

    def __init__(self, eligible: np.ndarray, runtime_s: np.ndarray, count: np.ndarray,
                 capacity_s: np.ndarray, lp_counts: np.ndarray, reduced: np.ndarray,
                 capacity_price: np.ndarray):
        n_s = eligible.shape[1]
        self.rt = np.where(eligible, runtime_s, 0.0)
        self.capacity_s = np.asarray(capacity_s, dtype=np.float64)
        self.mu = np.asarray(capacity_price, dtype=np.float64)
        self.base, residual = lp_base(lp_counts, count)
        self.units = np.repeat(np.arange(count.size), np.maximum(residual, 0))
        self.reduced = reduced
        frac = lp_counts - self.base
        options = [np.flatnonzero(lp_counts[c] > 1e-9) for c in self.units]
        combos = list(itertools.islice(itertools.product(*options), 4096))
        far = [sum(1.0 - frac[c, s] for c, s in zip(self.units, combo, strict=True))
               for combo in combos]
        self.combos = [combos[k] for k in np.argsort(far, kind="stable")[:MAX_PLACEMENTS]]
        binding = [int(s) for s in np.flatnonzero(self.mu > 0)]
        self.cls, self.src, self.dst, self.d = _moves(self.base, eligible, reduced, np.inf)
        self.order = _triangle(binding, self.src, self.dst, self.d, n_s)
        self.load0 = np.einsum("cs,cs->s", self.base, self.rt)
        self.rows: list[tuple[np.ndarray, np.ndarray, dict[int, _PairTable]]] = []
        for k, s in enumerate(self.order):  # moves between s and the systems after it
            later = np.ones(n_s, dtype=bool)
            later[self.order[:k + 1]] = False
            into = (self.dst == s) & later[self.src]
            out = (self.src == s) & later[self.dst]
            cand = np.flatnonzero(into | out)
            cand = cand[np.argsort(self.d[cand], kind="stable")]
            v = np.where(into[cand], self.rt[self.cls[cand], self.dst[cand]],
                         -self.rt[self.cls[cand], self.src[cand]])
            self.rows.append((cand, v, {}))

    def _table(self, row: int, size: int) -> _PairTable:
        cand, v, tables = self.rows[row]
        if size not in tables:
            part = cand[:size]
            mu = float(self.mu[self.order[row]])
            tables[size] = _PairTable(v[:size], self.d[part] - mu * v[:size], self.cls[part])
        return tables[size]

    def _fill_row(self, row: int, target: float, eps: float, used: np.ndarray,
                  deadline: float) -> tuple[float, np.ndarray | None]:
        cand = self.rows[row][0]
        size = FIRST_MOVES
        while True:  # the cheapest moves first, doubling until a fill is found
            value, items = self._table(row, size).best(target, eps, used)
            if items is not None or size >= min(cand.size, MAX_PAIR_MOVES) \
                    or time.perf_counter() > deadline:
                return value, None if items is None else cand[items]
            size *= 2

    def schedule(self, budget: float, best: bool = False, time_limit: float | None = None
                 ) -> np.ndarray | None:
        """A schedule whose reduced-cost estimate of U − L is ≤ ``budget``, or None.

        Args:
            budget: largest U − L wanted (objective units; may be inf).
            best: try every placement and keep the cheapest (else stop at the first).
            time_limit: seconds; no larger table is built and no further placement tried
                after it.

        Capacities are checked; shares and the objective are the caller's to verify.
        """
        rt, mu = self.rt, self.mu
        deadline = np.inf if time_limit is None else time.perf_counter() + time_limit
        found, found_cost = None, np.inf
        for combo in self.combos:
            if time.perf_counter() > deadline:
                break  # where the split queries go, closest to the LP first
            slack = self.capacity_s - self.load0
            spent = 0.0
            for c, s in zip(self.units, combo, strict=True):
                slack[s] -= rt[c, s]
                spent += max(float(self.reduced[c, s]), 0.0)
            used = np.zeros(self.base.shape[0], dtype=bool)
            chosen: list[int] = []
            for row, s in enumerate(self.order):
                value, moves = self._fill_row(row, float(slack[s]), (budget - spent) / mu[s],
                                              used, deadline)
                if moves is None:
                    break
                spent += value + mu[s] * float(slack[s])
                for m in moves:
                    slack[self.src[m]] += rt[self.cls[m], self.src[m]]
                    slack[self.dst[m]] -= rt[self.cls[m], self.dst[m]]
                    used[self.cls[m]] = True
                    chosen.append(int(m))
            else:
                if spent <= budget and (slack >= 0).all() and spent < found_cost:
                    found = self.base.copy()
                    np.add.at(found, (self.units, np.asarray(combo, dtype=np.int64)), 1)
                    np.add.at(found, (self.cls[chosen], self.src[chosen]), -1)
                    np.add.at(found, (self.cls[chosen], self.dst[chosen]), 1)
                    found_cost = spent
                    if not best:
                        break
        return found
