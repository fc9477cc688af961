"""Measurement-table schema: per-query energy and runtime of one (model, system) pair.

A measurement table has one row per measured query (or per query of a batch, divided by the
batch size) with the required columns

=================  ========  ===============================================================
column             unit      meaning
=================  ========  ===============================================================
``model``          –         model name, e.g. ``llama-2-7b``
``system``         –         system (hardware pool) name, e.g. ``a100``
``input_tokens``   tokens    prompt length τin (integer ≥ 1)
``output_tokens``  tokens    generated tokens τout (integer ≥ 1)
``runtime_s``      s         wall-clock time of the query on one replica (> 0)
``energy_j``       J         energy of the query (> 0); empty where no meter existed
=================  ========  ===============================================================

Any further columns are metadata (``hardware``, ``device_count``, ``dtype``, ``batch_size``,
``kv_cache``, ``repeat``, ``idle_power_w``, ``energy_raw_j``, ``meter``, ``versions``,
``timestamp``, ``source``, ...) and are carried along untouched.
"""

from __future__ import annotations

import os

import pandas as pd

from ..errors import InputError
from ..io.frames import float_column, int_column, read_frame, require_columns

REQUIRED_COLUMNS = ["model", "system", "input_tokens", "output_tokens", "runtime_s", "energy_j"]


def validate_table(frame: pd.DataFrame, source: object = "<table>") -> pd.DataFrame:
    """Check a measurement table and return a clean copy with canonical dtypes.

    Args:
        frame: raw table.
        source: file name for error messages.

    Returns:
        A copy with ``input_tokens``/``output_tokens`` as int64, ``runtime_s``/``energy_j`` as
        float64 (``energy_j`` NaN where not measured) and ``model``/``system`` as str.

    Raises:
        InputError: a missing column or a bad value (with row, column and value).
    """
    require_columns(frame, REQUIRED_COLUMNS, source)
    out = frame.copy()
    for col in ("model", "system"):
        miss = out[col].isna().to_numpy()
        if miss.any():
            i = int(miss.argmax())
            raise InputError(f"{source}: row {i + 1}, column {col!r}: empty value")
        out[col] = out[col].astype(str).str.strip()
    out["input_tokens"] = int_column(out, "input_tokens", source)
    out["output_tokens"] = int_column(out, "output_tokens", source)
    out["runtime_s"] = float_column(out, "runtime_s", source)
    out["energy_j"] = float_column(out, "energy_j", source, allow_missing=True)
    return out


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a measurement table (CSV, Parquet or JSON Lines).

    Args:
        path: the table file.

    Returns:
        The validated table (see :func:`validate_table`).
    """
    return validate_table(read_frame(path), source=path)
