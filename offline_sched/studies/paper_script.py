"""The e-Energy paper's own threshold method, exactly as its published script computes it.

Wilkins, Mortier, Keshav, "Hybrid Heterogeneous Clusters Can Lower the Energy Consumption of
LLM Inference Workloads" (ACM e-Energy 2024, DOI 10.1145/3632775.3662830) choose a single
prompt-length threshold with the script
``plots/heterogeneous-datacenter/e2dc-artifacts/threshold-histogram-input.py`` of GitHub
``grantwilkins/energy-inference``. Its arithmetic, as described in issue 13 (no code copied):

* **Cells**: the input sweep (nine fixed prompts, nominal lengths 8, 16, ..., 2048, output
  limit 32) of each system. Per measured row, energy per token = (CPU + GPU energy) /
  ``Total Number of Tokens`` of that row; rows whose ``Phase`` contains the character ``0``
  are dropped (iterations 0, 10, 20, ...); a cell's value is the mean over its kept rows. The
  table ships as ``offline_sched/data/paper_script_cells.csv`` (see its ``.md``).
* **Models**: the script reads every model measured on a system and concatenates their rows
  before averaging (``pool_models=True``): Llama-2, Mistral and Falcon 7B on the A100,
  Llama-2 and Mistral 7B on the M1-Pro. That is a row-weighted mean over the models' cells
  (Σ rows·mean / Σ rows), not a mean of per-model means; the two differ only in the M1-Pro
  1024 and 2048 cells, whose models have unequal row counts (22/14 and 6/3). With
  ``pool_models=False`` only the Llama-2-7B rows are read (the paper's model).
* **Bucket**: a prompt of n tokens is priced at the cell ``2 ** round(log2(n))``. For an
  integer n ≥ 1, log2(n) is never a half-integer (2^(k+½) is irrational), so Python's and
  numpy's round-half-to-even and a round-half-up agree; :func:`script_bucket` computes the
  nearest power of two in log scale exactly, in integers. Buckets outside the measured cells
  (n ≤ 5 → 4 or less; n ≥ 2897 → 4096 or more) are clamped to the smallest / largest measured
  cell (8, 2048), and a warning says how many queries were clamped.
* **Query energy** = the cell's energy per token × the prompt length n. The output length is
  ignored (every query is priced as if it generated the cell's ~32 tokens).
* **Policy**: for each threshold T (default the powers of two 8…2048), queries with n ≤ T run
  on the M1-Pro, the others on the A100. No capacity limit.

Runtime: the issue specifies the energy arithmetic only. The runtime columns apply the same
arithmetic to ``Runtime (s)`` (the cell's mean runtime per token × n); they include the M1's
2 s pre-generation sleep. ``objective`` and ``makespan_s`` have no meaning here (no λ, no
pools) and are NaN; ``feasible`` is always true; ``best`` is the least-energy threshold (the
smallest on ties).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from offline_sched.errors import InputError

GPU_SYSTEM = "a100"
SMALL_SYSTEM = "m1-pro"
PAPER_MODEL = "llama-2-7b"
DEFAULT_THRESHOLDS = tuple(2 ** k for k in range(3, 12))  # 8 ... 2048
CELL_COLUMNS = ("system", "model", "sweep", "tokens", "rows", "energy_per_token_j",
                "runtime_per_token_s")
STUDY_COLUMNS = ["kind", "policy", "feature", "threshold", "best", "feasible", "objective",
                 "energy_j", "energy_kwh", "runtime_s", "mean_runtime_s", "makespan_s",
                 "energy_saving_vs_all_gpu_pct", "runtime_change_vs_all_gpu_pct",
                 f"queries_{SMALL_SYSTEM}", f"queries_{GPU_SYSTEM}"]
J_PER_KWH = 3.6e6
MAX_TOKENS = 2 ** 31 - 1
_SWEEPS = ("input", "output")


# --------------------------------------------------------------------------- cells table


def default_cells_path() -> Path:
    """The shipped cells table, ``offline_sched/data/paper_script_cells.csv``."""
    return Path(str(resources.files("offline_sched") / "data" / "paper_script_cells.csv"))


def _as_written(value: object) -> str:
    """A value for an error message: numpy scalars shown as plain Python values."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _bad(where: str, row: int, column: str, value: object, why: str) -> InputError:
    return InputError(f"{where}, row {row}, column {column}: value {_as_written(value)} {why}")


def validate_cells(table: pd.DataFrame, where: str = "cells") -> pd.DataFrame:
    """Check a cells table and return it typed (extra columns are kept).

    Args:
        table: one row per (system, model, sweep, tokens) with :data:`CELL_COLUMNS`; values
            may be strings as read from a CSV.
        where: name of the source in error messages (e.g. the file).

    Returns:
        A copy with ``tokens``, ``rows`` as int64 and the per-token columns as float64.

    Raises:
        InputError: a missing column, a bad value (naming the 1-based data row, the column
            and the value as written), a duplicate cell, or no input-sweep cells for the
            A100 or the M1-Pro.
    """
    missing = [c for c in CELL_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{where}: missing column(s) {', '.join(missing)}")
    out = table.reset_index(drop=True).copy()
    for col in ("system", "model", "sweep"):
        text = out[col]
        for i, v in enumerate(text):
            if not isinstance(v, str) or not v.strip():
                raise _bad(where, i + 1, col, v, "is not a name")
        out[col] = text.astype(str).str.strip()
    for i, v in enumerate(out["sweep"]):
        if v not in _SWEEPS:
            raise _bad(where, i + 1, "sweep", v, f"is not one of {', '.join(_SWEEPS)}")
    for col, integer in (("tokens", True), ("rows", True), ("energy_per_token_j", False),
                         ("runtime_per_token_s", False)):
        raw = out[col]
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(num) & (num > 0)
        if integer:
            ok &= (num == np.round(num)) & (num <= MAX_TOKENS)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            kind = "a positive integer" if integer else "a positive finite number"
            raise _bad(where, i + 1, col, raw.iloc[i], f"is not {kind}")
        out[col] = num.astype(np.int64) if integer else num
    dup = out.duplicated(["system", "model", "sweep", "tokens"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{where}, row {i + 1}: duplicate cell (system "
                         f"{out.at[i, 'system']!r}, model {out.at[i, 'model']!r}, sweep "
                         f"{out.at[i, 'sweep']!r}, tokens {int(out.at[i, 'tokens'])})")
    for system in (GPU_SYSTEM, SMALL_SYSTEM):
        if not ((out["system"] == system) & (out["sweep"] == "input")).any():
            raise InputError(f"{where}: no input-sweep cells for system {system!r}")
    return out


def load_paper_cells(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Read and validate a cells table (default: the shipped one).

    Args:
        path: a CSV in the format of ``offline_sched/data/paper_script_cells.csv``.

    Returns:
        The validated table (see :func:`validate_cells`).

    Raises:
        InputError: unreadable file or invalid contents, naming the file.
    """
    p = Path(path) if path is not None else default_cells_path()
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read the cells table ({exc})") from None
    return validate_cells(raw, where=str(p))


def script_cells(cells: pd.DataFrame, *, pool_models: bool = True,
                 sweep: str = "input") -> pd.DataFrame:
    """Per-(system, tokens) per-token values as the script averages them.

    Args:
        cells: a validated cells table.
        pool_models: True: every model's rows of the system (row-weighted mean over the
            models' cells, as the script's concatenation does); False: Llama-2-7B only.
        sweep: ``input`` (the method's cells) or ``output``.

    Returns:
        Indexed by (``system``, ``tokens``), columns ``rows``, ``energy_per_token_j``,
        ``runtime_per_token_s``, ``models`` (comma-separated names pooled).

    Raises:
        InputError: no cells left (e.g. no Llama-2-7B rows when not pooling).
    """
    sel = cells[cells["sweep"] == sweep]
    if not pool_models:
        sel = sel[sel["model"] == PAPER_MODEL]
    if sel.empty:
        raise InputError(f"cells: no {sweep}-sweep rows"
                         + ("" if pool_models else f" for model {PAPER_MODEL!r}"))
    n = sel["rows"].to_numpy(dtype=np.float64)
    work = pd.DataFrame({"system": sel["system"].to_numpy(), "tokens": sel["tokens"].to_numpy(),
                         "rows": sel["rows"].to_numpy(), "model": sel["model"].to_numpy(),
                         "e": sel["energy_per_token_j"].to_numpy() * n,
                         "r": sel["runtime_per_token_s"].to_numpy() * n})
    g = work.groupby(["system", "tokens"], sort=True)
    out = g.agg(rows=("rows", "sum"), e=("e", "sum"), r=("r", "sum"),
                models=("model", lambda m: ",".join(sorted(m))))
    out["energy_per_token_j"] = out.pop("e") / out["rows"]
    out["runtime_per_token_s"] = out.pop("r") / out["rows"]
    return out[["rows", "energy_per_token_j", "runtime_per_token_s", "models"]]


# --------------------------------------------------------------------------- arithmetic


def script_bucket(tokens: Sequence[int] | np.ndarray) -> np.ndarray:
    """``2 ** round(log2(n))`` for integer n ≥ 1, computed exactly in integers.

    With k = floor(log2 n), the nearer power of two in log scale is 2^(k+1) when
    n² > 2^(2k+1) and 2^k otherwise (equality is impossible: 2^(2k+1) is not a square).

    Args:
        tokens: integer token counts in 1..2^31 − 1.

    Returns:
        The buckets, int64.

    Raises:
        InputError: a count outside 1..2^31 − 1.
    """
    n = np.asarray(tokens, dtype=np.int64)
    if n.size and (n.min() < 1 or n.max() > MAX_TOKENS):
        bad = n[(n < 1) | (n > MAX_TOKENS)][0]
        raise InputError(f"tokens: value {int(bad)} is not in 1..{MAX_TOKENS}")
    k = np.frexp(n.astype(np.float64))[1].astype(np.int64) - 1  # floor(log2 n), exact
    up = n * n > np.left_shift(np.int64(1), 2 * k + 1)          # n² < 2^62: no overflow
    return np.left_shift(np.int64(1), k + up.astype(np.int64))


def _tokens(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"{name}: expected a 1-D sequence of token counts, got shape "
                         f"{arr.shape}")
    if arr.size == 0:
        raise InputError(f"{name}: no queries")
    try:
        num = np.asarray(pd.to_numeric(pd.Series(arr), errors="coerce"), dtype=np.float64)
    except (TypeError, ValueError):
        num = np.full(arr.size, np.nan)
    ok = np.isfinite(num) & (num >= 1) & (num == np.round(num)) & (num <= MAX_TOKENS)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise InputError(f"{name}, row {i + 1}: value {_as_written(arr[i])} is not an integer in "
                         f"1..{MAX_TOKENS}")
    return num.astype(np.int64)


def _thresholds(values: Sequence[float] | None) -> np.ndarray:
    if values is None:
        return np.asarray(DEFAULT_THRESHOLDS, dtype=np.float64)
    raw = np.asarray(list(values), dtype=object)
    if raw.size == 0:
        raise InputError("thresholds: no values given")
    num = np.asarray(pd.to_numeric(pd.Series(raw), errors="coerce"), dtype=np.float64)
    bad = ~np.isfinite(num) | (num < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"thresholds: value {_as_written(raw[i])} is not a finite number ≥ 0")
    return np.unique(num)


def _per_query(table: pd.DataFrame, system: str, bucket: np.ndarray, tin: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Energy and runtime of every query on one system; counts clamped below / above."""
    try:
        cells = table.xs(system, level="system")
    except KeyError:
        raise InputError(f"cells: no input-sweep cells for system {system!r}") from None
    measured = cells.index.to_numpy(dtype=np.int64)
    lo, hi = int(measured.min()), int(measured.max())
    b = np.clip(bucket, lo, hi)
    pos = np.searchsorted(measured, b)
    pos = np.minimum(pos, measured.size - 1)
    gap = measured[pos] != b
    if gap.any():
        missing = sorted(set(b[gap].tolist()))
        raise InputError(f"cells: system {system!r} has no input-sweep cell at "
                         f"{', '.join(map(str, missing))} tokens (measured: "
                         f"{', '.join(map(str, measured.tolist()))})")
    e = cells["energy_per_token_j"].to_numpy()[pos] * tin
    r = cells["runtime_per_token_s"].to_numpy()[pos] * tin
    return e, r, int((bucket < lo).sum()), int((bucket > hi).sum())


# --------------------------------------------------------------------------- the study


def paper_script_study(input_tokens: Sequence[int] | np.ndarray | pd.Series,
                       output_tokens: Sequence[int] | np.ndarray | pd.Series | None = None,
                       *, pool_models: bool = True, thresholds: Sequence[float] | None = None,
                       cells: pd.DataFrame | str | os.PathLike[str] | None = None
                       ) -> pd.DataFrame:
    """The e-Energy threshold study priced exactly as the paper's published script.

    Every query costs the energy per token of the input-sweep cell at its prompt's nearest
    power of two (``2 ** round(log2(n))``, clamped to the measured cells 8…2048) times its
    prompt length n; the output length is ignored. For each threshold T, queries with
    n ≤ T go to the M1-Pro and the rest to the A100 (no capacity limit). See the module
    docstring for the full rules and the runtime convention.

    Args:
        input_tokens: prompt length of every query (integers ≥ 1).
        output_tokens: generated length of every query; validated (same length, integers
            ≥ 1) but not used, as in the script.
        pool_models: True (the script): average the rows of every model measured on the
            system (A100: Llama-2, Mistral, Falcon 7B; M1-Pro: Llama-2, Mistral 7B);
            False: Llama-2-7B rows only.
        thresholds: thresholds T (default: the powers of two 8…2048); sorted, duplicates
            dropped.
        cells: a cells table (DataFrame or CSV path) instead of the shipped one.

    Returns:
        One ``kind = threshold`` row per T (policy ``threshold-input``, feature ``input``),
        then the ``kind = reference`` rows ``all-a100`` and ``all-m1-pro``. Columns as
        :func:`offline_sched.study.threshold_study`: ``kind, policy, feature, threshold,
        best, feasible, objective, energy_j, energy_kwh, runtime_s, mean_runtime_s,
        makespan_s, energy_saving_vs_all_gpu_pct, runtime_change_vs_all_gpu_pct,
        queries_m1-pro, queries_a100``; ``objective`` and ``makespan_s`` are NaN. ``attrs``
        holds ``method``, ``pool_models``, ``models`` (per system), ``clamped_below`` and
        ``clamped_above`` (queries priced at the smallest / largest cell).

    Raises:
        InputError: bad token counts, thresholds or cells table.
    """
    tin = _tokens(input_tokens, "input_tokens")
    if output_tokens is not None:
        tout = _tokens(output_tokens, "output_tokens")
        if tout.size != tin.size:
            raise InputError(f"output_tokens: {tout.size} values for {tin.size} queries")
    if cells is None:
        table = load_paper_cells()
    elif isinstance(cells, pd.DataFrame):
        table = validate_cells(cells)
    else:
        table = load_paper_cells(cells)
    per_token = script_cells(table, pool_models=pool_models)
    thr = _thresholds(thresholds)
    bucket = script_bucket(tin)
    e_gpu, r_gpu, lo_g, hi_g = _per_query(per_token, GPU_SYSTEM, bucket, tin)
    e_small, r_small, lo_s, hi_s = _per_query(per_token, SMALL_SYSTEM, bucket, tin)
    clamped_below, clamped_above = max(lo_g, lo_s), max(hi_g, hi_s)
    if clamped_below or clamped_above:
        warnings.warn(f"paper-script: {clamped_below} queries below and {clamped_above} above "
                      "the measured prompt cells priced at the nearest cell", stacklevel=2)

    order = np.argsort(tin, kind="stable")
    k = np.searchsorted(tin[order], thr, side="right")  # queries with n ≤ T

    def at_threshold(gpu: np.ndarray, small: np.ndarray) -> np.ndarray:
        cum = np.r_[0.0, np.cumsum((small - gpu)[order])]
        return gpu.sum() + cum[k]

    n = tin.size
    energy = np.r_[at_threshold(e_gpu, e_small), e_gpu.sum(), e_small.sum()]
    runtime = np.r_[at_threshold(r_gpu, r_small), r_gpu.sum(), r_small.sum()]
    n_small = np.r_[k, 0, n]
    n_thr = thr.size
    best = np.zeros(n_thr + 2, dtype=bool)
    best[int(np.argmin(energy[:n_thr]))] = True
    frame = pd.DataFrame({
        "kind": ["threshold"] * n_thr + ["reference"] * 2,
        "policy": ["threshold-input"] * n_thr + [f"all-{GPU_SYSTEM}", f"all-{SMALL_SYSTEM}"],
        "feature": ["input"] * n_thr + ["", ""],
        "threshold": np.r_[thr, np.nan, np.nan],
        "best": best, "feasible": True, "objective": np.nan,
        "energy_j": energy, "energy_kwh": energy / J_PER_KWH,
        "runtime_s": runtime, "mean_runtime_s": runtime / n, "makespan_s": np.nan,
        "energy_saving_vs_all_gpu_pct": 100.0 * (energy[n_thr] - energy) / energy[n_thr],
        "runtime_change_vs_all_gpu_pct": 100.0 * (runtime - runtime[n_thr]) / runtime[n_thr],
        f"queries_{SMALL_SYSTEM}": n_small.astype(np.int64),
        f"queries_{GPU_SYSTEM}": (n - n_small).astype(np.int64),
    })
    frame = frame[STUDY_COLUMNS]
    models = per_token["models"].groupby(level="system").agg(
        lambda m: ",".join(sorted(set(",".join(m).split(",")))))
    frame.attrs.update({"method": "paper-script", "pool_models": bool(pool_models),
                        "models": models.to_dict(), "clamped_below": clamped_below,
                        "clamped_above": clamped_above})
    return frame


__all__ = ["CELL_COLUMNS", "DEFAULT_THRESHOLDS", "GPU_SYSTEM", "PAPER_MODEL", "SMALL_SYSTEM",
           "STUDY_COLUMNS", "default_cells_path", "load_paper_cells", "paper_script_study",
           "script_bucket", "script_cells", "validate_cells"]
