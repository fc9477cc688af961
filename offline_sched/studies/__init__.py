"""Studies over schedules: policy comparison (the report), λ sweeps and the threshold study."""

from .compare import compare_problem, default_policies, report_frame, run_policies
from .lam_sweep import (
    default_sweep_policies,
    milp_frontier,
    parse_lams,
    second_metric,
    sweep,
    token_accuracy,
)
from .thresholds import THRESHOLD_COLUMNS, best_thresholds, threshold_study

__all__ = ["THRESHOLD_COLUMNS", "best_thresholds", "compare_problem", "default_policies",
           "default_sweep_policies", "milp_frontier", "parse_lams", "report_frame",
           "run_policies", "second_metric", "sweep", "threshold_study", "token_accuracy"]
