"""Synthetic day-long job lists: a documented, seeded mixture of query types.

The default mixture is loosely calibrated on public traces: the Azure LLM inference trace
2023 (conversation: median context 1020, median output 129 tokens; Patel et al., ISCA 2024)
and GSM8K (median input 62, output 119 Llama-2 tokens). Token counts are log-normal per
component, rounded and clipped to the component's range.

=============  =======  =================  ================  =====================
component      share    input median (σ)   output median (σ)  clip in / out
=============  =======  =================  ================  =====================
short          0.15     20 (0.6)           12 (0.7)          [2, 128] / [1, 64]
chat           0.45     80 (0.9)           130 (0.7)         [4, 2048] / [4, 1024]
long-context   0.30     1100 (0.5)         140 (0.6)         [256, 3072] / [8, 1024]
code           0.10     300 (0.7)          380 (0.5)         [16, 2048] / [32, 2048]
=============  =======  =================  ================  =====================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Component:
    """One kind of query in the mixture (token counts are log-normal, then clipped)."""

    name: str
    share: float
    input_median: float
    input_sigma: float
    output_median: float
    output_sigma: float
    input_clip: tuple[int, int]
    output_clip: tuple[int, int]


DEFAULT_MIX = (
    Component("short", 0.15, 20, 0.6, 12, 0.7, (2, 128), (1, 64)),
    Component("chat", 0.45, 80, 0.9, 130, 0.7, (4, 2048), (4, 1024)),
    Component("long-context", 0.30, 1100, 0.5, 140, 0.6, (256, 3072), (8, 1024)),
    Component("code", 0.10, 300, 0.7, 380, 0.5, (16, 2048), (32, 2048)),
)


def synthetic_workload(n: int, seed: int = 0, mix: tuple[Component, ...] = DEFAULT_MIX,
                       with_ids: bool = True) -> pd.DataFrame:
    """Draw a job list of ``n`` queries from a mixture (vectorised, seeded).

    Args:
        n: number of queries.
        seed: random seed; the same seed gives the same job list.
        mix: mixture components (shares are normalised).
        with_ids: add a ``query_id`` column ``q0, q1, …``.

    Returns:
        DataFrame ``query_id, input_tokens, output_tokens, kind``.
    """
    rng = np.random.default_rng(seed)
    shares = np.array([c.share for c in mix], dtype=np.float64)
    kind = rng.choice(len(mix), size=n, p=shares / shares.sum())
    tin = np.empty(n, dtype=np.int64)
    tout = np.empty(n, dtype=np.int64)
    z_in, z_out = rng.standard_normal(n), rng.standard_normal(n)
    for k, c in enumerate(mix):
        m = kind == k
        tin[m] = np.clip(np.rint(c.input_median * np.exp(c.input_sigma * z_in[m])),
                         *c.input_clip)
        tout[m] = np.clip(np.rint(c.output_median * np.exp(c.output_sigma * z_out[m])),
                          *c.output_clip)
    frame = pd.DataFrame({"input_tokens": tin, "output_tokens": tout,
                          "kind": np.array([c.name for c in mix])[kind]})
    if with_ids:
        frame.insert(0, "query_id", np.char.add("q", np.arange(n).astype(str)))
    return frame
