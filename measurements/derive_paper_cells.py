"""Derive the per-cell table of the e-Energy paper's threshold script from the public data.

The e-Energy 2024 paper (Wilkins, Mortier, Keshav, "Hybrid Heterogeneous Clusters Can Lower
the Energy Consumption of LLM Inference Workloads") picks its 32-token threshold with a
published script (``plots/heterogeneous-datacenter/e2dc-artifacts/threshold-histogram-input.py``
in GitHub ``grantwilkins/energy-inference``). Its arithmetic (issue 13) prices a query at the
energy per token of the input-sweep cell at the nearest power of two of its prompt length.
This script derives that per-token table from the aggregated files the script reads,
``e2dc/all-input-stats.csv`` (and, for the docs' "output charged" variant, the output sweep
``e2dc/all-output-stats.csv``), applying the script's rules:

* **Rows kept**: measured inference rows (``Phase`` contains ``inference``; the start-up rows
  ``tokenizer``/``model load`` have no tokens) whose ``Phase`` does **not** contain the
  character ``0``. That drops iteration 0 (the warm-up) and also iterations 10, 20, ... (and,
  in the output sweep, every cell at 1024, 2048 and 4096 tokens, whose phase names contain
  ``0``).
* **Per row**: energy per token = (``CPU Energy (J)`` + ``GPU Energy (J)``) / ``Total Number of
  Tokens``; runtime per token = ``Runtime (s)`` / ``Total Number of Tokens``.
* **Per cell** (system, model, sweep, token bucket): the mean of those per-row values over the
  kept rows, the number of kept rows, and the plain means of energy, runtime and total tokens.
  The bucket is the file's nominal power of two: the prompt length (input sweep,
  ``Number of Input Tokens``, 8..2048) or the output limit (output sweep, ``Number of Output
  Tokens``).

Per-model rows are kept, so that a consumer can pool the models of a system (the script
concatenates the models' rows and averages them: a row-weighted mean, Σ rows·mean / Σ rows)
or use Llama-2 only. Systems: ``Swing AMD+A100`` → ``a100`` (Llama-2, Mistral, Falcon) and
``M1-Pro`` → ``m1-pro`` (Llama-2, Mistral), the two systems of the paper.

Usage::

    python measurements/derive_paper_cells.py [--shared ../shared/data/energy-inference]
                                              [--out offline_sched/data] [--check]

writes ``paper_script_cells.csv`` and ``paper_script_cells.md`` (provenance) to ``--out``;
``--check`` writes nothing and exits 1 when the shipped CSV differs from a fresh derivation.
Exit status 2 when the shared folder is missing. Deterministic; needs only pandas and numpy
and does not import ``offline_sched``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data" / "energy-inference"
DEFAULT_OUT = REPO_ROOT / "offline_sched" / "data"
CSV_NAME = "paper_script_cells.csv"
MD_NAME = "paper_script_cells.md"

#: Source files (relative to the shared energy-inference folder), sweep, bucket column.
SOURCES: tuple[tuple[str, str, str], ...] = (
    ("e2dc/all-input-stats.csv", "input", "Number of Input Tokens"),
    ("e2dc/all-output-stats.csv", "output", "Number of Output Tokens"),
)
SYSTEMS = {"Swing AMD+A100": "a100", "M1-Pro": "m1-pro"}
MODELS = {"Llama-2 (7B)": "llama-2-7b", "Mistral (7B)": "mistral-7b",
          "Falcon (7B)": "falcon-7b"}
NEEDED = ["Phase", "Runtime (s)", "CPU Energy (J)", "GPU Energy (J)", "Model", "System",
          "Total Number of Tokens"]
COLUMNS = ["system", "model", "sweep", "tokens", "rows", "energy_per_token_j",
           "runtime_per_token_s", "mean_energy_j", "mean_runtime_s", "mean_total_tokens"]
FLOAT_FORMAT = "%.12g"
#: Commit of grantwilkins/energy-inference the shared files are byte-identical copies of.
SOURCE_COMMIT = "5c2cfa4a9bdbccc6a037ece3d2eb64322db115ea"


class DeriveError(Exception):
    """The raw files are missing or do not look as expected."""


def kept_rows(raw: pd.DataFrame) -> pd.Series:
    """The script's row rule: inference rows whose ``Phase`` has no character ``0``."""
    phase = raw["Phase"].astype(str)
    return phase.str.contains("inference", regex=False) & ~phase.str.contains("0", regex=False)


def derive_sweep(raw: pd.DataFrame, sweep: str, bucket_col: str, source: str) -> pd.DataFrame:
    """Per-(system, model, bucket) cells of one aggregated file (see the module docstring)."""
    missing = [c for c in [*NEEDED, bucket_col] if c not in raw.columns]
    if missing:
        raise DeriveError(f"{source}: missing columns {', '.join(missing)}")
    rows = raw[kept_rows(raw) & raw["System"].isin(list(SYSTEMS))
               & raw["Model"].isin(list(MODELS))].copy()
    tokens = rows["Total Number of Tokens"].to_numpy(dtype=np.float64)
    if (tokens <= 0).any() or not np.isfinite(tokens).all():
        raise DeriveError(f"{source}: kept rows with a non-positive Total Number of Tokens")
    energy = (rows["CPU Energy (J)"].to_numpy(dtype=np.float64)
              + rows["GPU Energy (J)"].to_numpy(dtype=np.float64))
    runtime = rows["Runtime (s)"].to_numpy(dtype=np.float64)
    frame = pd.DataFrame({
        "system": rows["System"].map(SYSTEMS).to_numpy(),
        "model": rows["Model"].map(MODELS).to_numpy(),
        "sweep": sweep,
        "tokens": rows[bucket_col].to_numpy(dtype=np.int64),
        "ept": energy / tokens, "rpt": runtime / tokens,
        "energy": energy, "runtime": runtime, "total": tokens,
    })
    grouped = frame.groupby(["system", "model", "sweep", "tokens"], sort=True)
    out = grouped.agg(rows=("ept", "size"), energy_per_token_j=("ept", "mean"),
                      runtime_per_token_s=("rpt", "mean"), mean_energy_j=("energy", "mean"),
                      mean_runtime_s=("runtime", "mean"),
                      mean_total_tokens=("total", "mean")).reset_index()
    return out[COLUMNS]


def derive(shared: Path) -> pd.DataFrame:
    """The cells table from the shared energy-inference folder, rows sorted by key."""
    parts = []
    for rel, sweep, bucket_col in SOURCES:
        path = shared / rel
        if not path.is_file():
            raise DeriveError(f"{path}: no such file")
        parts.append(derive_sweep(pd.read_csv(path), sweep, bucket_col, rel))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["system", "model", "sweep", "tokens"],
                           kind="stable").reset_index(drop=True)


def to_csv_text(frame: pd.DataFrame) -> str:
    """The CSV text exactly as shipped."""
    return frame.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def provenance(frame: pd.DataFrame, shared: Path) -> str:
    """The Markdown provenance note written next to the CSV."""
    lines = [
        "# Per-cell table of the e-Energy paper's threshold script: provenance",
        "",
        f"`{CSV_NAME}` is derived by `measurements/derive_paper_cells.py` (regenerated by",
        "`measurements/regenerate.py` when the shared data is present) and read by",
        "`offline_sched/studies/paper_script.py` (`paper_script_study`).",
        "",
        "## Source files",
        "",
        "Byte-identical copies of blobs of GitHub `grantwilkins/energy-inference`, commit",
        f"`{SOURCE_COMMIT}` (path there: `plots/heterogeneous-datacenter/e2dc-artifacts/`).",
        "The repository has no LICENSE file: only these derived numbers are shipped; cite",
        "Wilkins, Mortier, Keshav, e-Energy 2024, DOI 10.1145/3632775.3662830.",
        "",
        "| file | md5 | SHA-256 |",
        "|---|---|---|",
    ]
    for rel, _, _ in SOURCES:
        data = (shared / rel).read_bytes()
        lines.append(f"| `{rel}` | `{hashlib.md5(data).hexdigest()}` | "
                     f"`{hashlib.sha256(data).hexdigest()}` |")
    lines += [
        "",
        "## The script's rules applied",
        "",
        "* Systems: `Swing AMD+A100` → `a100` (Llama-2, Mistral, Falcon 7B), `M1-Pro` →",
        "  `m1-pro` (Llama-2, Mistral 7B). Models: `Llama-2 (7B)` → `llama-2-7b`, `Mistral (7B)`",
        "  → `mistral-7b`, `Falcon (7B)` → `falcon-7b`.",
        "* Rows kept: `Phase` contains `inference` and does **not** contain the character `0`:",
        "  iterations 0 (warm-up), 10, 20, ... are dropped (M1 Llama-2 keeps 22 of 25 rows at",
        "  1024; M1 Mistral 14 of 16 at 1024). In the output sweep every phase at 1024, 2048 and",
        "  4096 tokens contains `0`, so those cells are absent.",
        "* Per row: energy per token = (`CPU Energy (J)` + `GPU Energy (J)`) / `Total Number of",
        "  Tokens` (CUDA: the re-tokenised prompt + output; M1: nominal prompt + generated);",
        "  runtime per token = `Runtime (s)` / `Total Number of Tokens`. Energies as published:",
        "  idle power included, M1 rows with the 2 s pre-generation sleep.",
        "* Per cell (system, model, sweep, tokens): `energy_per_token_j` and",
        "  `runtime_per_token_s` are means of the per-row values over the `rows` kept rows;",
        "  `mean_energy_j`, `mean_runtime_s`, `mean_total_tokens` are plain means. `tokens` is the",
        "  file's nominal power of two: prompt length (sweep `input`, output limit 32) or output",
        "  limit (sweep `output`, prompt C).",
        "* Pooling (done by the consumer): the script concatenates the models' rows of a system",
        "  and averages, i.e. a row-weighted mean Σ rows·mean / Σ rows over the models.",
        "",
        "## Columns",
        "",
        "| column | unit | meaning |",
        "|---|---|---|",
        "| `system`, `model` | – | see above |",
        "| `sweep` | – | `input` (the method's cells) or `output` (docs variant only) |",
        "| `tokens` | tokens | nominal bucket (power of two) |",
        "| `rows` | – | kept measured rows |",
        "| `energy_per_token_j` | J/token | mean over rows of CPU+GPU energy / total tokens |",
        "| `runtime_per_token_s` | s/token | mean over rows of runtime / total tokens |",
        "| `mean_energy_j`, `mean_runtime_s` | J, s | mean CPU+GPU energy and runtime |",
        "| `mean_total_tokens` | tokens | mean `Total Number of Tokens` |",
        "",
        "## Cells per (system, model, sweep)",
        "",
        "| system | model | sweep | cells | rows | tokens |",
        "|---|---|---|---|---|---|",
    ]
    for (system, model, sweep), grp in frame.groupby(["system", "model", "sweep"], sort=True):
        lines.append(f"| {system} | {model} | {sweep} | {len(grp)} | {int(grp['rows'].sum())} | "
                     f"{int(grp['tokens'].min())}–{int(grp['tokens'].max())} |")
    lines += ["", "Command: `python measurements/derive_paper_cells.py` "
                  f"(floats written with `{FLOAT_FORMAT}`).", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                        help="the shared energy-inference folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help=f"write nothing; exit 1 if the shipped {CSV_NAME} differs")
    args = parser.parse_args(argv)
    if not args.shared.is_dir():
        print(f"error: shared data folder not found: {args.shared}", file=sys.stderr)
        return 2
    try:
        frame = derive(args.shared)
    except DeriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = to_csv_text(frame)
    csv_path = args.out / CSV_NAME
    if args.check:
        same = csv_path.is_file() and csv_path.read_text() == text
        print(f"{csv_path}: {'up to date' if same else 'DIFFERS from a fresh derivation'}")
        return 0 if same else 1
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path.write_text(text)
    (args.out / MD_NAME).write_text(provenance(frame, args.shared))
    print(f"wrote {csv_path} ({len(frame)} cells) and {args.out / MD_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
