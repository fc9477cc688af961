"""The one suffix rule: which file names are Parquet, CSV or JSON Lines."""

from __future__ import annotations

import os
from pathlib import Path

PARQUET_SUFFIXES = (".parquet", ".pq")
"""Suffixes read and written as Parquet; every other output is CSV."""
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
            ".ndjson": "jsonl", ".json": "jsonl"}
"""Input suffix → format."""


def is_parquet(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a Parquet file (by suffix); anything else is written as CSV."""
    return Path(path).suffix.lower() in PARQUET_SUFFIXES
