"""Cost models: measurement tables, functional forms, fits and guarded per-query predictions."""
