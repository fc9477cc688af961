"""Paper form vs default form: 9-fold cross-validated MAPE per (model, system, metric).

Three tables are printed:

1. **Measurement tables** (``measurements/<system>/<model>.csv``, one-factor sweeps derived
   from the public Wilkins et al. data, KV cache off): CV MAPE of the paper form (OLS) and of
   the default form (relative L1, coefficients ≥ 0), and their ratio.
2. **Synthetic full grids** 8…2048 × 8…2048 (powers of two, 3 repetitions per cell, 3 %
   Gaussian noise) from a physical simulator of autoregressive generation, with the KV cache
   off and on, for three hardware profiles loosely calibrated on the public sweeps. This is
   the held-out setting of the issue (the real full grids are not public). It also reports
   the share of grid cells where a form predicts a cost ≤ 0.
3. **Sweep transfer** on the real tables: fit on the output sweep only (τin ≈ 38) and
   report the MAPE on the input sweep (τin = 9…2117), a check of how each form extrapolates
   to prompts it has not seen.

Simulator (all per query, one replica). Step cost at context length L, roofline-style:
t(L) = (c^p + (a·L)^p)^(1/p) + b·L² (an overhead/memory-bound floor c, compute a·L above the
knee, attention b·L²; p = 8 gives a sharp knee that no polynomial in the features contains).
KV cache off: runtime = t0 + Σ_{L=τin}^{τin+τout−1} t(L). KV cache on: runtime = t0 +
prefill(τin) + Σ_{L=τin+1}^{τin+τout−1} (c_d + a_d·L), prefill(n) = (c_p^p + (a_p·n)^p)^(1/p)
+ b_p·n². Energy = P_static·runtime + e1·(tokens processed) + e2·(attention work).

Usage::

    python benchmarks/cv_mape.py [--tables measurements] [--folds 9] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from offline_sched.costs.fit import fit, mape, solve_coefficients  # noqa: E402
from offline_sched.costs.forms import get_form  # noqa: E402

GRID = 2 ** np.arange(3, 12)  # 8 … 2048


@dataclass(frozen=True)
class Profile:
    """Simulator parameters of one (model, hardware) pair; times in s, energies in J."""

    name: str
    t0: float         # fixed overhead per query
    c: float          # per-step floor (overhead / weight reads), KV off
    a: float          # compute per token of context, KV off
    b: float          # attention per token² of context, KV off
    c_p: float        # prefill floor, KV on
    a_p: float        # prefill compute per prompt token, KV on
    b_p: float        # prefill attention per token², KV on
    c_d: float        # decode step floor, KV on
    a_d: float        # decode cost per cached token, KV on
    p_static: float   # static (idle + base) power [W]
    e1: float         # dynamic energy per token processed [J]
    e2: float         # dynamic energy per token² of attention [J]


PROFILES = (
    # A100 40 GB, Llama-2-7B: 0.95 s for 32 steps up to ≈150-token prompts, ≈9.4e-5 s/token above.
    Profile("a100-7b", t0=0.02, c=0.03, a=9.4e-5, b=2e-9, c_p=0.015, a_p=7e-5, b_p=3e-9,
            c_d=0.02, a_d=3.5e-7, p_static=140.0, e1=0.0235, e2=1e-6),
    # 4 x A100, Llama-2-70B: 0.2 s per step floor, ≈7.2e-4 s/token of context above the knee.
    Profile("4xa100-70b", t0=0.05, c=0.2, a=7.2e-4, b=1e-8, c_p=0.1, a_p=5e-4, b_p=1e-8,
            c_d=0.12, a_d=2e-6, p_static=330.0, e1=0.22, e2=1e-5),
    # M1-Pro, Llama-2-7B: compute-bound from the start, ≈4e-3 s/token, super-linear at 2k.
    Profile("m1pro-7b", t0=0.1, c=0.2, a=4e-3, b=5e-7, c_p=0.1, a_p=3e-3, b_p=3e-7,
            c_d=0.12, a_d=2e-6, p_static=12.0, e1=0.02, e2=2e-6),
)


def _knee(floor: float, slope: np.ndarray, p: float = 8.0) -> np.ndarray:
    return (floor ** p + slope ** p) ** (1.0 / p)


def simulate(profile: Profile, kv_cache: bool, input_tokens: np.ndarray,
             output_tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free (runtime_s, energy_j) per query; vectorised with prefix sums over L."""
    i = np.asarray(input_tokens, dtype=np.int64)
    o = np.asarray(output_tokens, dtype=np.int64)
    ctx = np.arange(int((i + o).max()) + 1, dtype=np.float64)
    pr = profile
    if kv_cache:
        n = i.astype(np.float64)
        prefill_t = _knee(pr.c_p, pr.a_p * n) + pr.b_p * n * n
        prefill_e = pr.e1 * n + pr.e2 * n * n
        step_t = pr.c_d + pr.a_d * ctx
        step_e = pr.e1 + 1e-3 * pr.e1 * ctx
        first = i + 1  # decode steps see contexts τin+1 … τin+τout−1
    else:
        prefill_t = prefill_e = 0.0
        step_t = _knee(pr.c, pr.a * ctx) + pr.b * ctx * ctx
        step_e = pr.e1 * ctx + pr.e2 * ctx * ctx
        first = i
    cum_t = np.concatenate([[0.0], np.cumsum(step_t)])
    cum_e = np.concatenate([[0.0], np.cumsum(step_e)])
    last = i + o  # exclusive
    runtime = pr.t0 + prefill_t + cum_t[last] - cum_t[first]
    energy = pr.p_static * runtime + prefill_e + cum_e[last] - cum_e[first]
    return runtime, energy


def synthetic_grid(profile: Profile, kv_cache: bool, reps: int = 3, noise: float = 0.03,
                   seed: int = 0) -> pd.DataFrame:
    """A measurement table on the 8…2048 × 8…2048 grid with multiplicative Gaussian noise."""
    rng = np.random.default_rng(seed)
    i, o = (m.ravel() for m in np.meshgrid(GRID, GRID, indexing="ij"))
    i, o = np.repeat(i, reps), np.repeat(o, reps)
    runtime, energy = simulate(profile, kv_cache, i, o)
    return pd.DataFrame({
        "model": profile.name, "system": "kv-on" if kv_cache else "kv-off",
        "input_tokens": i, "output_tokens": o,
        "runtime_s": runtime * (1.0 + noise * rng.standard_normal(i.size)),
        "energy_j": energy * (1.0 + noise * rng.standard_normal(i.size)),
    })


def compare(table: pd.DataFrame | Path, folds: int, seed: int) -> pd.DataFrame:
    """Rows (model, system, metric, n, paper %, default %, ratio, ≤0 cells) for one table."""
    fitted = {form: fit(table, form=form, cv_folds=folds) for form in ("paper", "default")}
    gi, go = (m.ravel() for m in np.meshgrid(GRID, GRID, indexing="ij"))
    rows = []
    for key, cm in fitted["default"].items():
        for metric in ("energy", "runtime"):
            dm = getattr(cm, metric)
            pm = getattr(fitted["paper"][key], metric)
            if dm is None:
                continue
            rows.append({
                "model": key[0], "system": key[1], "metric": metric, "n": dm.stats.n,
                "paper_cv_%": 100 * pm.stats.cv_mape, "default_cv_%": 100 * dm.stats.cv_mape,
                "ratio": pm.stats.cv_mape / dm.stats.cv_mape,
                "paper_le0_grid_%": 100 * float(np.mean(pm.raw(gi, go) <= 0)),
                "default_le0_grid_%": 100 * float(np.mean(dm.raw(gi, go) <= 0)),
            })
    return pd.DataFrame(rows)


def sweep_transfer(path: Path) -> list[dict]:
    """Fit on the output sweep, score on the input sweep, per metric and form."""
    tab = pd.read_csv(path)
    if "sweep" not in tab.columns:
        return []
    train, test = tab[tab["sweep"] == "output"], tab[tab["sweep"] == "input"]
    if train.empty or test.empty:
        return []
    rows = []
    for metric, col in (("energy", "energy_j"), ("runtime", "runtime_s")):
        row = {"model": tab["model"].iloc[0], "system": tab["system"].iloc[0],
               "metric": metric}
        for name in ("paper", "default"):
            form = get_form(name)
            beta = solve_coefficients(form, form.design(train["input_tokens"],
                                                        train["output_tokens"]),
                                      train[col].to_numpy(float))
            pred = form.design(test["input_tokens"], test["output_tokens"]) @ beta
            row[f"{name}_%"] = 100 * mape(test[col].to_numpy(float), pred)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=Path, default=REPO_ROOT / "measurements")
    parser.add_argument("--folds", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    pd.set_option("display.width", 200)
    fmt = {"float_format": lambda v: f"{v:.1f}", "index": False}

    paths = sorted(args.tables.glob("*/*.csv"))
    if paths:
        real = pd.concat([compare(p, args.folds, args.seed) for p in paths], ignore_index=True)
        print(f"== measurement tables ({len(paths)}; one-factor sweeps, KV cache off): "
              f"{args.folds}-fold CV MAPE [%]")
        print(real.drop(columns=["paper_le0_grid_%", "default_le0_grid_%"]).to_string(**fmt))
        print(f"default: worst {real['default_cv_%'].max():.1f} %, "
              f"median {real['default_cv_%'].median():.1f} %; paper: median "
              f"{real['paper_cv_%'].median():.1f} %; paper ≤ 0 on "
              f"{real['paper_le0_grid_%'].mean():.0f} % of the 9×9 grid on average\n")
    else:
        print(f"(no measurement tables under {args.tables})\n")

    synth = pd.concat([compare(synthetic_grid(p, kv, seed=args.seed + k), args.folds,
                               args.seed)
                       for k, (p, kv) in enumerate((p, kv) for p in PROFILES
                                                   for kv in (False, True))],
                      ignore_index=True)
    print(f"== synthetic full grids 8..2048 x 8..2048 (3 reps, 3 % noise): {args.folds}-fold "
          "CV MAPE [%], share of grid cells predicted <= 0 [%]")
    print(synth.to_string(**fmt))
    worst = synth["default_cv_%"].max()
    print(f"default: worst {worst:.1f} % ({'meets' if worst <= 10 else 'MISSES'} the 10 % "
          f"target), cells <= 0: {synth['default_le0_grid_%'].max():.0f} %\n")

    transfer = [r for p in paths for r in sweep_transfer(p)]
    if transfer:
        print("== sweep transfer: fit on the output sweep (τin ≈ 38), MAPE [%] on the input "
              "sweep (τin 9..2117)\n   (the paper form cannot separate its τin terms when "
              "τin is constant, so its column mostly shows that)")
        print(pd.DataFrame(transfer).to_string(**fmt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
