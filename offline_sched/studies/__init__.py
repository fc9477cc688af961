"""Studies over schedules: policy comparison (the report), λ sweeps and the threshold study."""
