"""Switch-ons that pay: the rows that keep ``up`` honest when a start-up has negative cost.

The models count switch-ons by ``up[s,t] ≥ N[s,t] − N[s,t−1]``, ``up ≥ 0`` at cost
``c_up = λ·SU_s·g_t/M``: with ``c_up ≥ 0`` the optimum has ``up = max(0, N_t − N_{t−1})``,
the real count. A negative price makes ``c_up < 0``: a start-up then *earns*, and those rows
alone let ``up`` run to its bound for free (a loose bound, and plans chosen for start-ups
that never happen). For each ``up`` of negative cost this module adds

    up ≤ N_t   and   up ≤ hi − N_{t−1}

valid for every plan (no more replicas are switched on than are on now, or were off before):
exact for integral N when ``hi = 1``. Above that a model may still credit a switch-on where
``N_t = N_{t−1} < hi``; but the same slot's price is then negative, so really switching one
more replica on there earns the credit (and its idle energy) in a feasible plan, and the
models stay relaxations: every bound remains valid, and the final replica counts are chosen
exactly (:func:`~offline_sched.planner.expand.best_on`) and scored by the true count. A
binary per switch-on would make the MIPs exact in every case; on the tests' instances (one to
three replicas, windows, negative prices) these rows alone reach the oracle's optimum.

:func:`add_switch_on_rows` appends both kinds of rows to a HiGHS instance (the counting rows
for every option, the limits only where ``c_up < 0``), for every model that holds N and up
as columns (the replica bound, the Benders master, the repair MIP; the restricted LP builds
its counting rows with its matrix and adds only the limits, :func:`add_paying_limits`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .highs import highspy_module


def paying(cost_up: np.ndarray | None) -> np.ndarray:
    """Indices (options j = s·G + g) whose switch-on has negative cost."""
    if cost_up is None:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.asarray(cost_up).ravel() < 0)


def add_switch_on_rows(h: Any, n_col: int, up_col: int, n_groups: int, n_hi: np.ndarray,
                       cost_up: np.ndarray | None) -> None:
    """Append ``up − N_t + N_{t−1} ≥ 0`` for every option, then the paying limits.

    Args:
        h: HiGHS instance holding N at columns ``n_col + j`` and up at ``up_col + j``.
        n_col: first N column.
        up_col: first up column.
        n_groups: G (options of one system are consecutive, one per slot).
        n_hi: most replicas on per option, (J,).
        cost_up: switch-on cost per option, or None.
    """
    inf = highspy_module().kHighsInf
    for j in range(int(np.asarray(n_hi).size)):  # loop over options: one row each
        prev = j % n_groups > 0
        idx = [up_col + j, n_col + j] + ([n_col + j - 1] if prev else [])
        val = [1.0, -1.0] + ([1.0] if prev else [])
        h.addRow(0.0, inf, len(idx), np.array(idx, dtype=np.int32), np.array(val))
    add_paying_limits(h, n_col, up_col, n_groups, n_hi, cost_up)


def add_paying_limits(h: Any, n_col: int, up_col: int, n_groups: int, n_hi: np.ndarray,
                      cost_up: np.ndarray | None) -> int:
    """Append ``up ≤ N_t`` and ``up ≤ hi − N_{t−1}`` where ``c_up < 0``; return how many rows.

    Args: as :func:`add_switch_on_rows`.
    """
    inf = highspy_module().kHighsInf
    added = 0
    for j in paying(cost_up):  # loop over the paying switch-ons only
        h.addRow(-inf, 0.0, 2, np.array([up_col + j, n_col + j], dtype=np.int32),
                 np.array([1.0, -1.0]))  # up − N_t ≤ 0
        added += 1
        if j % n_groups > 0:  # up + N_{t−1} ≤ hi
            h.addRow(-inf, float(n_hi[j]), 2,
                     np.array([up_col + j, n_col + j - 1], dtype=np.int32), np.array([1.0, 1.0]))
            added += 1
    return added
