"""Fast infeasibility check per eligibility group (Hall-type bounds), before any LP.

Queries whose eligible systems all lie in a set T can run only on T. Even each on its fastest
system there they need

    need(T) = Σ_{c : E_c ⊆ T} n_c · min_{s ∈ E_c} r[c, s]      device-seconds,

which must fit cap(T) = Σ_{s ∈ T} cap_s — Hall's condition (Hall 1935) for the assignment with
pooled capacities. The same holds for query counts and the share bounds: the queries only T
can take must fit Σ_T max_count, and Σ_T min_count cannot exceed the queries T can take at all
(those with E_c ∩ T ≠ ∅). T = one system and T = the whole fleet are the two classic checks.

Every T ⊆ S is checked at once by a sum over subsets ("zeta transform", O(S·2^S)) of the load
per eligibility pattern, for fleets of up to :data:`FULL_ENUMERATION_MAX` systems; larger fleets
check the patterns present, their pairwise unions and the whole fleet. Work over classes is
one pass (patterns, then bincounts), so 10^6 queries are checked in milliseconds.

The smallest violated group (fewest systems, then largest shortfall) is reported, with the
shortfall in seconds and in replicas (seconds / window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..problem import over_capacity

FULL_ENUMERATION_MAX = 20
"""Fleets up to this many systems have every subset checked (2^20 sums)."""


@dataclass(frozen=True)
class HallViolation:
    """A group of systems that cannot serve the queries only it can take.

    Attributes:
        systems: indices of the systems in the group T.
        kind: ``capacity`` (device-seconds), ``max-share`` or ``min-share`` (query counts).
        need: what the group must provide (seconds, or queries).
        have: what it can provide (seconds, or queries).
        queries: queries involved (only T can take them; for ``min-share``: T can take them).
    """

    systems: tuple[int, ...]
    kind: str
    need: float
    have: float
    queries: int

    @property
    def short(self) -> float:
        """Shortfall: need − have (seconds or queries)."""
        return self.need - self.have


def _patterns(eligible: np.ndarray, values: list[np.ndarray]
              ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Eligibility bit masks present, and each of ``values`` summed per mask.

    Small fleets count into all 2^S masks directly (no sort over classes); larger ones find
    the distinct masks first.
    """
    n_s = eligible.shape[1]
    bits = np.left_shift(np.int64(1), np.arange(n_s, dtype=np.int64))
    mask = eligible.astype(np.int64) @ bits
    if n_s <= FULL_ENUMERATION_MAX:
        return (np.arange(1 << n_s, dtype=np.int64),
                [np.bincount(mask, weights=v, minlength=1 << n_s) for v in values])
    uniq, inverse = np.unique(mask, return_inverse=True)
    return uniq, [np.bincount(inverse, weights=v, minlength=uniq.size) for v in values]


def _subset_sums(values: np.ndarray, masks: np.ndarray, n_s: int) -> np.ndarray:
    """For every T ⊆ S (as a bit mask), Σ values[p] over patterns p ⊆ T; (2^S,)."""
    f = np.zeros(1 << n_s)
    np.add.at(f, masks, values)
    for i in range(n_s):  # loop over systems only
        g = f.reshape(-1, 2, 1 << i)
        g[:, 1, :] += g[:, 0, :]
    return f


def _candidates(masks: np.ndarray, n_s: int) -> np.ndarray:
    """Groups checked on large fleets: patterns present, their pairwise unions, the fleet."""
    pairs = (masks[:, None] | masks[None, :]).ravel() if masks.size <= 2000 else masks
    full = np.array([(1 << n_s) - 1], dtype=np.int64)
    return np.unique(np.concatenate([masks, pairs, full]))


def _within(masks: np.ndarray, groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Σ values[p] over patterns p ⊆ each group (large fleets: a pattern × group product)."""
    inside = (masks[:, None] & ~groups[None, :]) == 0
    return values @ inside


def hall_violations(eligible: np.ndarray, runtime_s: np.ndarray, count: np.ndarray,
                    capacity_s: np.ndarray, min_count: np.ndarray, max_count: np.ndarray
                    ) -> list[HallViolation]:
    """Every group of systems short of capacity or share room for the queries only it can take.

    Args:
        eligible: (C, S) bool.
        runtime_s: (C, S) runtime per query [s].
        count: (C,) queries per class.
        capacity_s: (S,) device-seconds per system.
        min_count: (S,) least queries per system.
        max_count: (S,) most queries per system.

    Returns:
        Violations, smallest group first (then largest shortfall); empty if all groups fit.
        Classes no system can take are not considered (the caller reports them).
    """
    n_s = eligible.shape[1]
    ok = eligible.any(axis=1)
    if n_s == 0 or not ok.any():
        return []
    if not ok.all():
        eligible, count, runtime_s = eligible[ok], count[ok], runtime_s[ok]
    count = count.astype(np.float64)
    fastest = np.where(eligible, runtime_s, np.inf).min(axis=1)
    masks, (load, queries) = _patterns(eligible, [count * fastest, count])
    bits = np.left_shift(np.int64(1), np.arange(n_s, dtype=np.int64))
    if n_s <= FULL_ENUMERATION_MAX:
        groups = np.arange(1, 1 << n_s, dtype=np.int64)
        need = _subset_sums(load, masks, n_s)[groups]
        only = _subset_sums(queries, masks, n_s)
        only_t, outside = only[groups], only[((1 << n_s) - 1) ^ groups]
    else:
        groups = _candidates(masks, n_s)
        need = _within(masks, groups, load)
        only_t = _within(masks, groups, queries)
        outside = _within(masks, ((1 << n_s) - 1) ^ groups, queries)
    member = (groups[:, None] & bits[None, :]) != 0
    cap = member.astype(np.float64) @ capacity_s.astype(np.float64)
    hi = member.astype(np.float64) @ max_count.astype(np.float64)
    lo = member.astype(np.float64) @ min_count.astype(np.float64)
    reachable = count.sum() - outside  # queries with at least one eligible system in T
    found = []
    for k in np.flatnonzero(over_capacity(need, cap)):
        found.append(HallViolation(tuple(np.flatnonzero(member[k]).tolist()), "capacity",
                                   float(need[k]), float(cap[k]), int(round(only_t[k]))))
    for k in np.flatnonzero(only_t > hi + 0.5):
        found.append(HallViolation(tuple(np.flatnonzero(member[k]).tolist()), "max-share",
                                   float(only_t[k]), float(hi[k]), int(round(only_t[k]))))
    for k in np.flatnonzero(lo > reachable + 0.5):
        found.append(HallViolation(tuple(np.flatnonzero(member[k]).tolist()), "min-share",
                                   float(lo[k]), float(reachable[k]), int(round(reachable[k]))))
    found.sort(key=lambda v: (len(v.systems), -v.short / max(v.have, 1e-300)))
    return found


def describe(violation: HallViolation, names: list[str], window_s: list[float]) -> str:
    """One sentence on a violation, naming the group and the shortfall (seconds, replicas).

    Args:
        violation: the violation.
        names: system names, by index.
        window_s: each system's window [s] (a replica's capacity), by index.
    """
    v = violation
    group = ", ".join(repr(names[s]) for s in v.systems)
    whole = len(v.systems) == len(names)
    if v.kind == "capacity":
        windows = sorted({window_s[s] for s in v.systems})
        if len(windows) == 1:
            more = f"{math.ceil(v.short / windows[0] - 1e-9)} more replicas of {windows[0]:g} s"
        else:
            more = " or ".join(f"{math.ceil(v.short / window_s[s] - 1e-9)} more {names[s]!r} "
                               "replicas" for s in v.systems)
        if whole:
            return (f"capacity of the fleet is short by {v.short:.6g} s: all {v.queries} "
                    f"queries need at least {v.need:.6g} device-s even each on its fastest "
                    f"eligible system, the fleet has {v.have:.6g} s (≈ {more})")
        they = "it" if len(v.systems) == 1 else "they"
        return (f"capacity of {group} is short by {v.short:.6g} s for the {v.queries} queries "
                f"only {they} can take: they need at least {v.need:.6g} device-s even each on "
                f"its fastest eligible system, {they} {'has' if they == 'it' else 'have'} "
                f"{v.have:.6g} s (≈ {more})")
    if v.kind == "max-share":
        who = (f"all {v.queries} queries" if whole
               else f"the {v.queries} queries that only {group} can take")
        return (f"share bounds: {who} exceed the max_share of {group}, which allows "
                f"{v.have:.0f}; short by {v.short:.0f} queries")
    together = "" if len(v.systems) == 1 else " together"
    if v.queries == 0:
        return (f"{group} must take at least {v.need:.0f} queries{together} (min_share) but no "
                f"query can run on {group} (token limits or instances = 0)")
    return (f"{group} must take at least {v.need:.0f} queries{together} (min_share) but only "
            f"{v.queries} queries can run on {group}")
