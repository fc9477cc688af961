"""Local improvement of a packing: make room for an overflow query by moves and swaps.

After dealing and refilling, a query o that fits no replica's free tail may still fit once
shorter queries get out of its way:

* *move and insert*: take a query p off replica j and append it to another replica k with
  room for it; o then fits on j if ``room_j + p ≥ o``. Among the replicas j with such a p
  the one left with least room is chosen (best fit), with the longest p that fits
  elsewhere; k is the best fit for p.
* *consolidate*: otherwise room is gathered on the replica j with most room, one step at a
  time: either move a query of j to another replica with room, or swap a query p of j with
  a shorter p′ of another replica k with ``p − p′ ≤ room_k``; each step frees
  ``p`` or ``p − p′`` seconds on j (the largest available, or the least that is enough),
  every replica staying within its slot. Up to :data:`MAX_STEPS` steps per query.

This runs on one (system, slot) group whose queries have no release or deadline inside the
slot (so order within a queue does not matter). It loops over the group's overflow queries,
longest first, at most :data:`MAX_TRIES` of them; each try is vectorised over the group's
replicas and a sorted index of its queries. The caller re-times the group's queues
afterwards (:func:`offline_sched.dispatch.queues.sequence`) and re-checks them.
"""

from __future__ import annotations

import numpy as np

MAX_TRIES = 2000  # overflow queries tried per (system, slot) group
MAX_STEPS = 32  # consolidation steps per overflow query
SAMPLE = 128  # queries of j considered per swap step (evenly spread over its sizes)
SHORTEST, SPREAD = 64, 192  # queries per replica that may move (see _Index)


class _Index:
    """Placed queries sorted by (replica, runtime), for range look-ups.

    Per replica it holds the :data:`SHORTEST` shortest queries and :data:`SPREAD` more
    spread evenly over the rest (the only ones moved or swapped), so edits stay cheap.
    """

    def __init__(self, items: np.ndarray, replica: np.ndarray, runtime: np.ndarray,
                 width: float) -> None:
        order = np.argsort(replica[items] * width + runtime[items], kind="stable")
        items = items[order]
        rep = replica[items]
        rank = np.arange(items.shape[0]) - np.searchsorted(rep, rep, side="left")
        count = np.bincount(rep)[rep]
        stride = np.maximum((count - SHORTEST) // SPREAD, 1)
        self.item = items[(rank < SHORTEST) | ((rank - SHORTEST) % stride == 0)]
        self.rep = replica[self.item]
        self.r = runtime[self.item]
        self.width = width
        self.key = self.rep * width + self.r

    def _look(self, reps: np.ndarray, limit: np.ndarray, largest: bool) -> np.ndarray:
        limit = np.clip(limit, -0.25 * self.width, 0.5 * self.width)  # stay in rep's range
        pos = np.searchsorted(self.key, reps * self.width + limit,
                              side="right" if largest else "left")
        out = np.full(reps.shape[0], -1, dtype=np.int64)
        if self.key.shape[0] == 0:  # no placed query to look up
            return out
        steps = (-1, -2, -3) if largest else (0, 1, 2)  # the float key may be an ulp off
        for step in steps:
            p = pos + step
            ok = (out < 0) & (p >= 0) & (p < self.key.shape[0])
            p_safe = np.where(ok, p, 0)
            ok &= self.rep[p_safe] == reps
            ok &= (self.r[p_safe] <= limit) if largest else (self.r[p_safe] >= limit)
            out[ok] = p_safe[ok]
        return out

    def largest_at_most(self, reps: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """Position of the longest query ≤ limit on each replica (−1 where none)."""
        return self._look(reps, limit, largest=True)

    def smallest_at_least(self, reps: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """Position of the shortest query ≥ limit on each replica (−1 where none)."""
        return self._look(reps, limit, largest=False)

    def span(self, rep: int) -> tuple[int, int]:
        """Index positions ``[a, b)`` of one replica's queries (ascending runtime)."""
        a, b = np.searchsorted(self.rep, [rep, rep + 1])
        return int(a), int(b)

    def remove(self, pos: int) -> tuple[int, float]:
        item, r = int(self.item[pos]), float(self.r[pos])
        self.item = np.delete(self.item, pos)
        self.rep = np.delete(self.rep, pos)
        self.r = np.delete(self.r, pos)
        self.key = np.delete(self.key, pos)
        return item, r

    def add(self, item: int, rep: int, r: float) -> None:
        k = rep * self.width + r
        pos = int(np.searchsorted(self.key, k))
        self.item = np.insert(self.item, pos, item)
        self.rep = np.insert(self.rep, pos, rep)
        self.r = np.insert(self.r, pos, r)
        self.key = np.insert(self.key, pos, k)


class _Group:
    """One group's replicas: tails and the placed-query index, with the edits kept in step."""

    def __init__(self, index: _Index, tails: np.ndarray, hi: float, replica: np.ndarray,
                 start: np.ndarray, end: np.ndarray) -> None:
        self.index, self.tails, self.hi = index, tails, hi
        self.replica, self.start, self.end = replica, start, end
        self.touched: set[int] = set()

    def room(self) -> np.ndarray:
        return self.hi - self.tails

    def put(self, q: int, j: int, r: float) -> None:
        """Append query q (runtime r) to replica j."""
        self.replica[q] = j
        self.start[q] = self.tails[j]
        self.end[q] = self.tails[j] + r
        self.tails[j] += r
        self.index.add(q, j, r)

    def move(self, pos: int, k: int) -> None:
        """Move the query at index position pos to replica k."""
        j = int(self.index.rep[pos])
        q, r = self.index.remove(pos)
        self.tails[j] -= r
        self.touched.add(j)
        self.put(q, k, r)

    def swap(self, pos_p: int, pos_q: int) -> None:
        """Exchange two queries of different replicas."""
        j, k = int(self.index.rep[pos_p]), int(self.index.rep[pos_q])
        p, pr = self.index.remove(max(pos_p, pos_q))
        q, qr = self.index.remove(min(pos_p, pos_q))
        if pos_p < pos_q:
            p, pr, q, qr = q, qr, p, pr
        self.tails[j] -= pr
        self.tails[k] -= qr
        self.touched.update((j, k))
        self.put(p, k, pr)
        self.put(q, j, qr)


def make_room(overflow: np.ndarray, members: np.ndarray, runtime: np.ndarray,
              replica: np.ndarray, start: np.ndarray, end: np.ndarray,
              tails: np.ndarray, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Place overflow queries of one group by moving and swapping shorter queries.

    Args:
        overflow: the group's queries that fit no tail, longest first.
        members: all the group's queries (placed or not).
        runtime: runtime per query (all queries).
        replica: replica per query (updated in place; −1 = not placed).
        start: start per query (updated for the queries moved or placed; the caller
            re-times the group).
        end: end per query (likewise).
        tails: free-from time of each replica of the group (updated in place).
        hi: the slot end.

    Returns:
        ``(left, touched)``: the overflow queries still not placed, and the replicas a
        query moved off (their queues need re-timing).
    """
    placed = members[replica[members] >= 0]
    if placed.size == 0:  # nothing to move or swap: the overflow stays
        return np.asarray(overflow, dtype=np.int64), np.empty(0, dtype=np.int64)
    width = 4.0 * float(runtime[members].max()) + 1.0
    grp = _Group(_Index(placed, replica, runtime, width), tails, hi, replica, start, end)
    left = [int(q) for q in overflow[MAX_TRIES:]]
    for q in overflow[:MAX_TRIES]:
        o = float(runtime[q])
        j = _direct(grp, o)
        if j is None:
            j = _move_and_insert(grp, o)
        if j is None:
            j = _consolidate(grp, o)
        if j is None:
            left.append(int(q))
        else:
            grp.put(int(q), j, o)
    return np.asarray(left, dtype=np.int64), np.array(sorted(grp.touched), dtype=np.int64)


def _direct(grp: _Group, o: float) -> int | None:
    fits = grp.tails + o <= grp.hi
    if not fits.any():
        return None
    return int(np.argmin(np.where(fits, grp.room(), np.inf)))


def _move_and_insert(grp: _Group, o: float) -> int | None:
    """Move one shorter query out of the way (best fit); the replica freed, or None."""
    room = grp.room()
    m = room.shape[0]
    reps = np.arange(m)
    j1 = int(np.argmax(room))
    second = float(np.max(np.delete(room, j1))) if m > 1 else -np.inf
    elsewhere = np.where(reps == j1, second, room[j1])
    pos = grp.index.largest_at_most(reps, elsewhere)
    ok = pos >= 0
    p_r = np.where(ok, grp.index.r[np.maximum(pos, 0)], 0.0)
    ok &= (grp.tails - p_r) + o <= grp.hi
    if not ok.any():
        return None
    j = int(np.argmin(np.where(ok, room + p_r - o, np.inf)))
    fits = grp.tails + p_r[j] <= grp.hi
    fits[j] = False
    if not fits.any():
        return None
    grp.move(int(pos[j]), int(np.argmin(np.where(fits, room, np.inf))))
    return j


def _consolidate(grp: _Group, o: float) -> int | None:
    """Gather room on the replica with most room by moves and swaps; it, or None."""
    j = int(np.argmax(grp.room()))
    for _ in range(MAX_STEPS):
        need = o - (grp.hi - grp.tails[j])
        if grp.tails[j] + o <= grp.hi:
            return j
        if not _step(grp, j, need):
            return None
    return j if grp.tails[j] + o <= grp.hi else None


def _step(grp: _Group, j: int, need: float) -> bool:
    """One move or swap freeing room on j (the least that covers need, else the most)."""
    a, b = grp.index.span(j)
    if a == b:
        return False
    room = grp.room()
    room[j] = -np.inf
    others = np.flatnonzero(np.isfinite(room) & (room > 0))
    if others.size == 0:
        return False
    pick = np.unique(np.linspace(a, b - 1, min(SAMPLE, b - a)).astype(np.int64))
    mine = grp.index.r[pick]
    # moves: j's query p to the replica k with most room (p ≤ room_k)
    move_gain = np.where(mine <= room.max(), mine, -np.inf)
    # swaps: p of j with the shortest p' ≥ p − room_k on k (gain p − p' ≤ room_k)
    gp = np.repeat(mine, others.size)
    gk = np.tile(others, mine.size)
    pos = grp.index.smallest_at_least(gk, gp - room[gk])
    swap_gain = np.where(pos >= 0, gp - grp.index.r[np.maximum(pos, 0)], -np.inf)
    swap_gain[swap_gain <= 0] = -np.inf
    gains = np.concatenate([move_gain, swap_gain])
    if not np.isfinite(gains).any():
        return False
    enough = np.isfinite(gains) & (gains >= need)
    best = (int(np.argmin(np.where(enough, gains, np.inf))) if enough.any()
            else int(np.argmax(gains)))
    if best < mine.size:
        k = int(np.argmin(np.where(room >= mine[best], room, np.inf)))
        grp.move(int(pick[best]), k)
    else:
        i = best - mine.size
        grp.swap(int(pick[i // others.size]), int(pos[i]))
    return True
