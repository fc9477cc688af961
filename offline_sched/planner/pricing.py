"""Pricing every (row, option) pair at given dual prices, without a rows × options matrix.

At capacity prices μ_j ≥ 0 and share prices ν_s, a query of row k on option j = (s, group)
costs

    a[k, j] = a_k,s · g_j + r_k,s · (β + μ_j) + ν_s

(its objective term plus the capacity and share it uses, priced). For one system and one
window of allowed groups this is r_k,s · (ρ_k,s · g_j + m_j) with ρ = a/r and m = β + μ:
a family of lines in ρ, whose lower envelope gives every row's best group by one
``searchsorted`` of its ρ. Rows are sorted by (window, ρ) once, so pricing 10^6 rows on
S systems costs S vectorised passes, not S·T.

This gives the Lagrangian dual function, a proven lower bound for any prices:

    D(μ, ν) = Σ_k n_k · min_j a[k, j]  −  Σ_s (ν_s⁺·hi_s − ν_s⁻·lo_s)

and the checks that make the restricted LPs exact (no row may have a cheaper option than
the LP uses).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Options, Rows

TINY_RUNTIME = 1e-300
_NO_ROWS = np.zeros(0, dtype=np.int64)


def lower_envelope(slope: np.ndarray, intercept: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Lower envelope of the lines y = slope·x + intercept over all real x.

    Returns:
        ``(lines, breaks)``: indices of the envelope's lines from x = −∞ to +∞, and the x
        where each hands over to the next (``len(lines) − 1`` values, increasing).
    """
    order = np.lexsort((intercept, -slope))  # slope descending, then intercept ascending
    lines: list[int] = []
    xs: list[float] = []
    for i in order:  # loop over one system's slot groups (≤ T)
        a, b = float(slope[i]), float(intercept[i])
        if lines and float(slope[lines[-1]]) == a:
            continue  # same slope, higher (or equal) intercept: never strictly below
        while lines:
            a1, b1 = float(slope[lines[-1]]), float(intercept[lines[-1]])
            x = (b - b1) / (a1 - a)
            if xs and x <= xs[-1]:
                lines.pop()
                xs.pop()
                continue
            xs.append(x)
            break
        lines.append(int(i))
    return np.array(lines, dtype=np.int64), np.array(xs, dtype=np.float64)


@dataclass(frozen=True)
class Priced:
    """Best option of every row at some prices.

    Attributes:
        option: best option per row, (n,); −1 if the row has none.
        value: its priced cost a[k, option], (n,); +inf if none.
        margin: priced cost of the nearest competitor minus ``value`` (≥ 0), (n,), or None.
    """

    option: np.ndarray
    value: np.ndarray
    margin: np.ndarray | None


def window_ids(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (first, last) windows as an (n_w, 2) array, and each row's window index."""
    key = first.astype(np.int64) * (int(last.max(initial=0)) + 1) + last
    uniq, inverse = np.unique(key, return_inverse=True)
    span = int(last.max(initial=0)) + 1
    return np.stack([uniq // span, uniq % span], axis=1), inverse.ravel()


class Pricer:
    """Prices all rows of a :class:`Rows` on all options.

    Args:
        rows: the rows.
        options: the options.
        beta: (1 − λ)/R, the runtime weight.
    """

    def __init__(self, rows: Rows, options: Options, beta: float):
        self.rows, self.opt, self.beta = rows, options, beta
        n_s = rows.a.shape[1]
        windows, self.window_of = window_ids(rows.first, rows.last)
        gf = options.group_first
        self.window_groups = [np.flatnonzero((gf >= w[0]) & (gf <= w[1])) for w in windows]
        self.by_system = []
        for s in range(n_s):  # loop over systems only
            idx = np.flatnonzero(rows.eligible[:, s])
            rt = np.maximum(rows.runtime[idx, s], TINY_RUNTIME)
            rho = rows.a[idx, s] / rt
            order = np.lexsort((rho, self.window_of[idx])) if len(windows) > 1 else \
                np.argsort(rho, kind="stable")
            idx, rho = idx[order], rho[order]
            w = self.window_of[idx]
            present = np.unique(w)
            bounds = np.searchsorted(w, np.r_[present, present[-1] + 1] if present.size
                                     else np.array([0]))
            self.by_system.append((idx, rho, rows.a[idx, s], rows.runtime[idx, s], present,
                                    bounds))

    def _envelope_options(self, s: int, m: np.ndarray, want_neighbours: bool
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best option per row of system s, in its sorted order.

        Also the envelope neighbours of that option (−1 where none, or when not wanted).
        """
        idx, rho, _, _, present, bounds = self.by_system[s]
        n_g = self.opt.n_groups
        opt = np.empty(idx.size, dtype=np.int64)
        left = np.full(idx.size, -1, dtype=np.int64) if want_neighbours else _NO_ROWS
        right = np.full(idx.size, -1, dtype=np.int64) if want_neighbours else _NO_ROWS
        for w, lo, hi in zip(present, bounds[:-1], bounds[1:], strict=True):  # windows only
            js = s * n_g + self.window_groups[w]
            lines, breaks = lower_envelope(self.opt.g[js], m[js])
            if lines.size == 1:
                opt[lo:hi] = js[lines[0]]
                continue
            # rho is sorted within the window: line i holds the rows from the first whose rho
            # reaches breaks[i - 1] (searchsorted(breaks, rho, "right") == i) to the next
            cuts = np.searchsorted(rho[lo:hi], breaks, side="left")
            runs = np.diff(np.r_[0, cuts, hi - lo])
            on = js[lines]
            opt[lo:hi] = np.repeat(on, runs)
            if want_neighbours:
                left[lo:hi] = np.repeat(np.r_[-1, on[:-1]], runs)
                right[lo:hi] = np.repeat(np.r_[on[1:], -1], runs)
        return opt, left, right

    def price(self, mu: np.ndarray, nu: np.ndarray, margin: bool = False) -> Priced:
        """Best option of every row at capacity prices ``mu`` (J,) and share prices ``nu`` (S,).

        Args:
            mu: capacity prices (≥ 0).
            nu: share prices.
            margin: also return each row's margin to its nearest competitor (its best
                option on another system, or a neighbouring envelope line on its own).
        """
        n = self.rows.n
        m = self.beta + np.asarray(mu, dtype=np.float64)
        g = self.opt.g
        best_val = np.full(n, np.inf)
        best_opt = np.full(n, -1, dtype=np.int64)
        second = np.full(n, np.inf)
        near = np.full(n, np.inf)
        first = True
        for s, (idx, _, a, rt, _, _) in enumerate(self.by_system):  # loop over systems
            if idx.size == 0:
                continue
            opt, left, right = self._envelope_options(s, m, margin)
            val_sorted = a * g[opt] + rt * m[opt] + nu[s]
            if idx.size == n:
                val = np.empty(n)
                val[idx] = val_sorted
                o = np.empty(n, dtype=np.int64)
                o[idx] = opt
            else:
                val = np.full(n, np.inf)
                val[idx] = val_sorted
                o = np.full(n, -1, dtype=np.int64)
                o[idx] = opt
            if margin:  # this system's neighbouring envelope lines, priced
                near_s = np.full(n, np.inf)
                for other in (left, right):
                    ok = other >= 0
                    oc = np.maximum(other, 0)
                    alt = np.where(ok, a * g[oc] + rt * m[oc] + nu[s], np.inf)
                    near_s[idx] = np.minimum(near_s[idx], alt)
                second = np.where(val < best_val, best_val, np.minimum(second, val))
            if first:  # nothing to compare with yet (best_val is all inf)
                best_val, best_opt, first = val, o, False
                if margin:
                    near = near_s
                continue
            better = val < best_val
            best_val = np.where(better, val, best_val)
            best_opt = np.where(better, o, best_opt)
            if margin:  # the neighbours that count are those of the best system's line
                near = np.where(better, near_s, near)
        gap = np.maximum(np.minimum(second, near) - best_val, 0.0) if margin else None
        return Priced(best_opt, best_val, gap)

    def per_system(self, mu: np.ndarray, nu: np.ndarray) -> np.ndarray:
        """Each row's best option on each system, (n, S); −1 where not eligible."""
        m = self.beta + np.asarray(mu, dtype=np.float64)
        out = np.full((self.rows.n, len(self.by_system)), -1, dtype=np.int64)
        for s, (idx, *_rest) in enumerate(self.by_system):  # loop over systems
            if idx.size:
                out[idx, s] = self._envelope_options(s, m, False)[0]
        return out

    def values(self, k: np.ndarray, j: np.ndarray, mu: np.ndarray, nu: np.ndarray
               ) -> np.ndarray:
        """Priced cost a[k, j] of given (row, option) pairs (elementwise)."""
        s = self.opt.system[j]
        return (self.rows.a[k, s] * self.opt.g[j]
                + self.rows.runtime[k, s] * (self.beta + mu[j]) + nu[s])

    def costs(self, k: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Objective coefficient per query of given (row, option) pairs."""
        s = self.opt.system[j]
        return self.rows.a[k, s] * self.opt.g[j] + self.beta * self.rows.runtime[k, s]

    def dual_value(self, priced: Priced, nu: np.ndarray, lo: np.ndarray | None,
                   hi: np.ndarray | None) -> float:
        """D(μ, ν) of :meth:`price`'s result (shares' constant terms included)."""
        d = float(self.rows.count @ priced.value)
        if lo is not None:
            d -= float(np.maximum(nu, 0.0) @ hi - np.maximum(-nu, 0.0) @ lo)
        return d
