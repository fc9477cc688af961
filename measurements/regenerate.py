"""Regenerate the shipped cost-model coefficients from the measurement tables.

Fits every table ``measurements/<system>/<model>.csv`` with the ``default`` form and with the
``paper`` form (9-fold cross-validated MAPE, fold shuffle seed 0) and writes

* ``offline_sched/data/coefficients.csv``: the fitted-coefficients format of
  :func:`offline_sched.costs.fit.coefficients_frame`, one row per (model, system, form, metric),
  rows sorted by those keys, the union of both forms' ``coef_*`` columns (a form's row leaves
  the other form's columns empty), floats written with 10 significant digits;
* ``offline_sched/data/coefficients.md``: provenance: the tables (rows, SHA-256), the command,
  the library versions and a paper-vs-default summary;
* ``offline_sched/data/paper_script_cells.csv`` and ``.md``: the per-cell table of the
  e-Energy paper's threshold script, by ``measurements/derive_paper_cells.py``, whenever the
  shared folder is present (it is derived from the raw e2dc files, not from the tables);
  skipped with a note when it is absent.

Usage::

    python measurements/regenerate.py                 # fit the committed tables
    python measurements/regenerate.py --from-shared   # first re-derive the tables from
                                                      # ../shared/data/energy-inference
    python measurements/regenerate.py --check         # exit 1 if a shipped CSV differs

The output is deterministic: the LP fits (HiGHS) and the fold shuffle are seeded, so re-running
on the same tables gives the same CSV.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
TABLES = REPO_ROOT / "measurements"
DATA = REPO_ROOT / "offline_sched" / "data"
DERIVE = TABLES / "derive_tables.py"
PAPER_CELLS = TABLES / "derive_paper_cells.py"
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data" / "energy-inference"
FORMS = ("default", "paper")
CV_FOLDS = 9
FLOAT_FORMAT = "%.10g"
KEYS = ["model", "system", "form", "metric"]

if str(REPO_ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO_ROOT))

from offline_sched.costs.fit import coefficients_frame, fit  # noqa: E402
from offline_sched.costs.forms import FEATURES, get_form  # noqa: E402


def _shown(path: Path) -> str:
    """A path relative to the repository when inside it, else as given (for provenance)."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def find_tables(root: Path) -> list[Path]:
    """All measurement tables ``<root>/<system>/<model>.csv``, sorted."""
    return sorted(p for p in root.glob("*/*.csv") if p.is_file())


def fit_tables(tables: Sequence[Path]) -> pd.DataFrame:
    """Fit every table with every form; return the sorted fitted-coefficients frame."""
    frames = []
    for path in tables:
        for form in FORMS:
            frames.append(coefficients_frame(fit(path, form=form, cv_folds=CV_FOLDS,
                                                 source=_shown(path))))
    frame = pd.concat(frames, ignore_index=True)
    used = {f for form in FORMS for f in get_form(form).features}
    coef_cols = [f"coef_{f}" for f in FEATURES if f in used]
    rest = [c for c in frame.columns if not c.startswith("coef_") and c not in KEYS]
    frame = frame[[*KEYS[:2], "metric", "form", *coef_cols, *rest]]
    return frame.sort_values(KEYS, kind="stable").reset_index(drop=True)


def to_csv_text(frame: pd.DataFrame) -> str:
    """The CSV text exactly as shipped."""
    return frame.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def provenance(frame: pd.DataFrame, tables: Sequence[Path], command: str) -> str:
    """The Markdown provenance note written next to the CSV."""
    lines = [
        "# Shipped cost-model coefficients: provenance",
        "",
        "`coefficients.csv` holds per-query energy [J] and runtime [s] models of one replica,",
        "one row per (model, system, form, metric), in the fitted-coefficients format of",
        "`offline_sched.costs.fit.coefficients_frame`. Forms (see `offline_sched/costs/forms.py`):",
        "",
        "* `default`: overhead + prefill(τin) + Σ over generated tokens of a step cost at",
        "  context length L (1, L, L², hinges at 64/256/1024/2048), fitted by minimising the",
        "  mean absolute relative error with non-negative coefficients (HiGHS LP).",
        "* `paper`: α0·τin + α1·τout + α2·τin·τout by OLS without intercept (Wilkins et al.,",
        "  arXiv 2407.04014), kept for comparison; it predicts negative costs on part of the",
        "  range (clipped at the `floor` column when used).",
        "",
        "Rows with the same (model, system) exist for both forms: pick one with the `form`",
        "column.",
        "",
        "## How it was produced",
        "",
        "```",
        command,
        "```",
        "",
        f"Each table fitted with `offline_sched.costs.fit.fit(table, form, cv_folds={CV_FOLDS})`",
        "(fold shuffle seed 0); `cv_mape` is the 9-fold cross-validated MAPE over rows, as a",
        "fraction. Library versions: "
        + ", ".join(f"{d} {_version(d)}" for d in ("numpy", "pandas", "highspy"))
        + f", Python {platform.python_version()}.",
        "",
        "## Source tables",
        "",
        "Derived by `measurements/derive_tables.py` from the public measurements of Wilkins,",
        "Mortier and Keshav (GitHub `grantwilkins/energy-inference`, commit",
        "`5c2cfa4a9bdbccc6a037ece3d2eb64322db115ea`; no LICENSE file, cite the papers); see",
        "`measurements/README.md` for the cleaning steps. Caveats that carry over: one query",
        "per row (no batching), **KV cache off**, idle power included in energy, M1-Pro",
        "runtime without the scripts' 2 s sleep, and only one-factor sweeps (input sweep at",
        "τout ≈ 32, output sweep at τin ≈ 38): the full input × output grids are held out, so",
        "grid-wide accuracy comes from the form's structure, not from grid data.",
        "",
        "| table | rows | SHA-256 |",
        "|---|---|---|",
    ]
    for path in tables:
        data = path.read_bytes()
        rows = max(data.count(b"\n") - 1, 0)
        lines.append(f"| `{_shown(path)}` | {rows} | "
                     f"`{hashlib.sha256(data).hexdigest()}` |")
    lines += ["", "## Cross-validated MAPE, paper vs default (9-fold)", "",
              "| model | system | metric | n | paper | default |", "|---|---|---|---|---|---|"]
    wide = frame.pivot_table(index=["model", "system", "metric"], columns="form",
                             values=["cv_mape", "n"], aggfunc="first")
    for (model, system, metric), row in wide.iterrows():
        lines.append(f"| {model} | {system} | {metric} | {int(row[('n', 'default')])} | "
                     f"{100 * row[('cv_mape', 'paper')]:.1f} % | "
                     f"{100 * row[('cv_mape', 'default')]:.1f} % |")
    return "\n".join(lines) + "\n"


def paper_cells(shared: Path | None, out: Path, check: bool) -> int:
    """Regenerate (or, with ``check``, compare) the paper-script cells table.

    Returns the exit status of ``derive_paper_cells.py``; 0 with a note on stderr when the
    shared folder is absent (the shipped table is kept).
    """
    folder = shared if shared is not None else DEFAULT_SHARED
    if not folder.is_dir():
        print(f"{out / 'paper_script_cells.csv'}: skipped (shared data not found: {folder})",
              file=sys.stderr)
        return 0
    cmd = [sys.executable, str(PAPER_CELLS), "--shared", str(folder), "--out", str(out)]
    return subprocess.run(cmd + (["--check"] if check else []), check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-shared", action="store_true",
                        help="first re-derive the tables with measurements/derive_tables.py")
    parser.add_argument("--shared", type=Path, default=None,
                        help="shared energy-inference folder for --from-shared and the "
                             "paper-script cells (default: ../shared/data/energy-inference)")
    parser.add_argument("--tables", type=Path, default=TABLES,
                        help="folder of <system>/<model>.csv tables (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DATA,
                        help="folder for coefficients.csv/.md and paper_script_cells.csv/.md "
                             "(default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the shipped coefficients.csv (or, when "
                             "the shared data is present, paper_script_cells.csv) differs")
    args = parser.parse_args(argv)

    if args.from_shared:
        cmd = [sys.executable, str(DERIVE), "--out", str(args.tables)]
        if args.shared is not None:
            cmd += ["--shared", str(args.shared)]
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            return done.returncode
    tables = find_tables(args.tables)
    if not tables:
        print(f"error: no measurement tables under {args.tables}", file=sys.stderr)
        return 2
    frame = fit_tables(tables)
    text = to_csv_text(frame)
    csv_path = args.out / "coefficients.csv"
    if args.check:
        same = csv_path.is_file() and csv_path.read_text() == text
        print(f"{csv_path}: {'up to date' if same else 'DIFFERS from a fresh fit'}")
        cells = paper_cells(args.shared, args.out, check=True)
        return 0 if same and cells == 0 else 1
    command = "python measurements/regenerate.py" + (" --from-shared" if args.from_shared
                                                     else "")
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path.write_text(text)
    md_path = args.out / "coefficients.md"
    md_path.write_text(provenance(frame, tables, command))
    print(f"wrote {csv_path} ({len(frame)} rows) and {md_path}")
    return paper_cells(args.shared, args.out, check=False)


if __name__ == "__main__":
    sys.exit(main())
