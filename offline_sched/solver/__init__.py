"""Solving the assignment MILP.

``status`` (the :class:`Status` enum and the typed :class:`SolveResult`), ``highs_model`` (the
one silent HiGHS factory, the one status map, the matrix builder), ``class_model`` (a class-level
LP/MIP), ``relaxation`` (the LP relaxation, fast), ``rounding`` (to whole queries), ``exact``
(the exact finish: reduced-cost fixing, then the core MIP), ``hall`` (the
fast infeasibility check per eligibility group), ``diagnosis`` (why infeasible),
``highs_solver`` (the fast path, with incumbent adoption) and ``pulp_reference`` (the per-query
seed formulation).
"""

from .diagnosis import diagnose_infeasibility, quick_infeasibility
from .highs_solver import HighsSolver, adopt_incumbent
from .pulp_reference import solve_pulp
from .status import GAP_TOL, SolveResult, Status, relative_gap

__all__ = ["GAP_TOL", "HighsSolver", "SolveResult", "Status", "adopt_incumbent",
           "diagnose_infeasibility", "quick_infeasibility", "relative_gap", "solve_pulp"]
