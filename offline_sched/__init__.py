"""offline_sched: offline, energy-aware scheduling of LLM inference over heterogeneous fleets.

Measured energy/runtime tables per (model, system) are fitted into cost models; a MILP assigns
every query of a day's job list to a system, minimising λ·energy + (1−λ)·runtime under
capacity limits, and is compared with the seed papers' heuristics.

>>> from offline_sched import solve, compare, fit, load_workload, load_systems
"""

from .api import compare, problem_for, solve
from .costs.fit import fit
from .costs.model import CostModel, MetricModel
from .errors import (
    FitError,
    InfeasibleError,
    InputError,
    MeasurementError,
    OfflineSchedError,
    SolverError,
    SolverTimeLimit,
)
from .fleet import Fleet, System, load_systems
from .problem import AssignmentProblem, build_problem
from .schedule import Schedule
from .workload import Workload, load_workload

__version__ = "0.1.0"

__all__ = [
    "AssignmentProblem", "CostModel", "FitError", "Fleet", "InfeasibleError", "InputError",
    "MeasurementError", "MetricModel", "OfflineSchedError", "Schedule", "SolverError",
    "SolverTimeLimit", "System", "Workload", "build_problem", "compare", "fit", "load_systems",
    "load_workload", "problem_for", "solve", "__version__",
]
