"""Shared fixtures: small fleets and workloads built in code (no external data needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import random_workload

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

FLEET_TOML = """
window_s = 3600
description = "test fleet"
[[system]]
name = "small"
model = "llama-2-7b"
instances = 4
max_output_tokens = 512
energy = { in = 0.5, out = 20.0, inout = 0.05 }
runtime = { in = 0.002, out = 1.2, inout = 0.0002 }
[[system]]
name = "gpu"
model = "llama-2-7b"
instances = 2
gpu = true
energy = { in = 0.3, out = 25.0, inout = 0.04, const = 5.0 }
runtime = { in = 0.001, out = 0.08, inout = 0.0001, const = 0.1 }
"""


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET_TOML)
    return path


@pytest.fixture
def workload_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    frame = random_workload(rng, 300)
    frame.insert(0, "query_id", [f"job-{i}" for i in range(len(frame))])
    path = tmp_path / "jobs.csv"
    frame.to_csv(path, index=False)
    return path
