"""Mutation check: the oracle tests must FAIL on deliberately broken solvers (issue 9).

For each mutation below, the package is copied to a temporary folder, one exact piece of text
is replaced in one file, and ``python -m pytest tests/test_oracle.py -q -x`` (for
:data:`EXACT_MUTATIONS`, of the exact finish and the Hall check: ``tests/test_exact.py``) runs
against the copy (its folder first on ``PYTHONPATH`` and as the working directory, so the
editable install of the real package is shadowed; the script checks which ``offline_sched``
is imported). The unmutated copy must pass, every mutated copy must fail. Exit status 0 when
every mutation is caught, 1 otherwise (a surviving mutation, a mutation whose text is no
longer found, or a failing baseline).

Usage (from the repository root)::

    python tests/mutation_check.py            # all mutations
    python tests/mutation_check.py weights    # only those whose name contains "weights"

When files move, update the ``file`` column of :data:`MUTATIONS`; when code changes, the
``old`` text (it must occur exactly once).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST = "tests/test_oracle.py"
EXACT_TEST = "tests/test_exact.py"

# (name, file relative to the repository root, old text, new text)
MUTATIONS: list[tuple[str, str, str, str]] = [
    ("weights-swapped: λ weighs runtime, 1−λ energy",
     "offline_sched/problem.py",
     "w = lam * (self.energy_j / self.energy_scale) + (1.0 - lam) * second",
     "w = (1.0 - lam) * (self.energy_j / self.energy_scale) + lam * second"),
    ("capacity-loosened: last system's capacity row ×10 in the HiGHS model",
     "offline_sched/solver/highs_model.py",
     "row_hi = [count, np.asarray(capacity, dtype=np.float64)]",
     "row_hi = [count, np.asarray(capacity, dtype=np.float64) * np.r_[np.ones(n_s - 1), 10.0]]"),
    ("rounding-residual: the left-over MIP gets full capacities, not what the floor leaves",
     "offline_sched/solver/rounding.py",
     "sub = ClassModel(p, residual[rows], np.maximum(cap_left, 0.0),",
     "sub = ClassModel(p, residual[rows], p.capacity_s,"),
    ("rounding-nearest: the LP's counts are rounded to nearest, not down, before the repair",
     "offline_sched/solver/rounding.py",
     "np.floor(lp_counts + 1e-7)",
     "np.rint(lp_counts)"),
    ("wrong-lambda: the HiGHS solver optimises for λ + 0.2 (the schedule is scored at λ)",
     "offline_sched/solver/highs_solver.py",
     "        w = p.weights(lam)\n",
     "        w = p.weights(min(1.0, lam + 0.2))\n"),
]


# the exact finish (issue 14), checked by tests/test_exact.py (same columns)
EXACT_MUTATIONS: list[tuple[str, str, str, str]] = [
    ("fixing-threshold: reduced-cost fixing at a tenth of θ (the bound still claims θ)",
     "offline_sched/solver/exact.py",
     "ub = core_bounds(problem, lp, reach)",
     "ub = core_bounds(problem, lp, reach / 10)"),
    ("core-capacity: the core MIP's capacity rows ignore what the fixed classes use",
     "offline_sched/solver/exact.py",
     "room = margin_capacity(p.capacity_s) - p.load(fixed)",
     "room = margin_capacity(p.capacity_s)"),
    ("core-capacity-row-dropped: the core MIP's last capacity row is unbounded",
     "offline_sched/solver/exact.py",
     "p.count[free], room, lo, hi, integer=True)",
     "p.count[free], np.r_[room[:-1], 1e30], lo, hi, integer=True)"),
    ("bound-outside-core: the bound forgets the schedules outside the core",
     "offline_sched/solver/exact.py",
     "lower = max(lower, out.bound if whole else min(out.bound, base + reach))",
     "lower = max(lower, out.bound)"),
    ("hall-fastest: the Hall check uses each class's slowest runtime, not its fastest",
     "offline_sched/solver/hall.py",
     "fastest = np.where(eligible, runtime_s, np.inf).min(axis=1)",
     "fastest = np.where(eligible, runtime_s, -np.inf).max(axis=1)"),
]


def _copy(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    shutil.copytree(REPO / "offline_sched", dest / "offline_sched", ignore=ignore)
    shutil.copytree(REPO / "tests", dest / "tests", ignore=ignore)
    for name in ("setup.cfg", "pyproject.toml"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, dest / name)


def _mutate(root: Path, file: str, old: str, new: str) -> str | None:
    """Apply one replacement; returns an error message, or None when applied."""
    path = root / file
    if not path.is_file():
        return f"{file}: no such file (moved? update MUTATIONS)"
    text = path.read_text()
    found = text.count(old)
    if found != 1:
        return f"{file}: old text found {found} times, expected once (update MUTATIONS)"
    path.write_text(text.replace(old, new))
    return None


def _run(root: Path, test: str = TEST) -> tuple[int, str, float]:
    env = dict(os.environ, ORACLE_MUTATION_CHECK="1", PYTHONPATH=os.pathsep.join(
        [str(root)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    env.pop("PYTEST_ADDOPTS", None)
    where = subprocess.run([sys.executable, "-c", "import offline_sched; print("
                            "offline_sched.__file__)"], cwd=root, env=env, capture_output=True,
                           text=True, check=False).stdout.strip()
    if not where.startswith(str(root)):
        return 99, f"the copy is not what gets imported: offline_sched from {where!r}", 0.0
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", test, "-q", "-x", "-p",
                           "no:cacheprovider", "-p", "no:warnings"], cwd=root, env=env,
                          capture_output=True, text=True, check=False)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    failed = [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))]
    why = ([ln[1:].strip() for ln in lines if ln.startswith("E ") and "AssertionError" in ln]
           or [ln[1:].strip() for ln in lines if ln.startswith("E ") and "Error" in ln])
    line = (failed or lines[-1:] or [""])[0] + (f"\n    {why[0][:200]}" if why else "")
    return proc.returncode, line, time.perf_counter() - start


def main(argv: list[str]) -> int:
    """Run the baseline and every selected mutation; return the exit status."""
    every = [(m, TEST) for m in MUTATIONS] + [(m, EXACT_TEST) for m in EXACT_MUTATIONS]
    chosen = [(m, t) for m, t in every if not argv or any(a in m[0] for a in argv)]
    ok = True
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        base = Path(tmp) / "baseline"
        _copy(base)
        for test in sorted({t for _, t in chosen}):
            rc, line, secs = _run(base, test)
            print(f"baseline (unmutated copy), {test}: {'passes' if rc == 0 else 'FAILS'} "
                  f"[{secs:.0f} s] {line}")
            ok &= rc == 0
        for i, ((name, file, old, new), test) in enumerate(chosen):
            root = Path(tmp) / f"m{i}"
            _copy(root)
            problem = _mutate(root, file, old, new)
            if problem:
                print(f"{name}: NOT APPLIED: {problem}")
                ok = False
                continue
            rc, line, secs = _run(root, test)
            caught = rc == 1  # test failures; not a crash or a usage error
            print(f"{name}: {'caught' if caught else 'SURVIVED'} [{secs:.0f} s] {line}")
            ok &= caught
    print("all mutations caught" if ok else "mutation check FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
