"""Solving the assignment MILP: status and result types, HiGHS models, relaxation, rounding, diagnosis, PuLP reference."""
