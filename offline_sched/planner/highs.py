"""HiGHS for the time-slot planner: the package's one silent factory and one status map."""

from __future__ import annotations

from ..solver.highs_model import highspy_module, model_status, new_highs, set_time_limit

__all__ = ["highspy_module", "model_status", "new_highs", "set_time_limit"]
