"""Model forms: the default form on full grids, the relative-L1 fitter, plots, shipped numbers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline_sched import FitError, InputError, fit
from offline_sched.costs.fit import models_from_coefficients
from offline_sched.costs.forms import FEATURES, FORMS, get_form
from offline_sched.costs.relfit import relative_l1_nonneg

REPO = Path(__file__).resolve().parents[1]
GRID = 2 ** np.arange(3, 12)  # 8 … 2048


def _knee(floor, slope, p=8.0):
    return (floor ** p + slope ** p) ** (1.0 / p)


def _simulate(i, o, kv_cache):
    """A100/Llama-2-7B-like runtime [s] and energy [J]; see benchmarks/cv_mape.py."""
    ctx = np.arange(int((i + o).max()) + 1, dtype=float)
    if kv_cache:
        n = i.astype(float)
        pre_t = _knee(0.015, 7e-5 * n) + 3e-9 * n * n
        pre_e = 0.0235 * n + 1e-6 * n * n
        step_t, step_e, first = 0.02 + 3.5e-7 * ctx, 0.0235 + 2.35e-5 * ctx, i + 1
    else:
        pre_t = pre_e = 0.0
        step_t = _knee(0.03, 9.4e-5 * ctx) + 2e-9 * ctx * ctx
        step_e, first = 0.0235 * ctx + 1e-6 * ctx * ctx, i
    cum_t = np.concatenate([[0.0], np.cumsum(step_t)])
    cum_e = np.concatenate([[0.0], np.cumsum(step_e)])
    runtime = 0.02 + pre_t + cum_t[i + o] - cum_t[first]
    return runtime, 140.0 * runtime + pre_e + cum_e[i + o] - cum_e[first]


def _table(i, o, kv_cache, noise=0.03, seed=0):
    rng = np.random.default_rng(seed)
    runtime, energy = _simulate(i, o, kv_cache)
    return pd.DataFrame({"model": "m", "system": "s", "input_tokens": i, "output_tokens": o,
                         "runtime_s": runtime * (1 + noise * rng.standard_normal(i.size)),
                         "energy_j": energy * (1 + noise * rng.standard_normal(i.size))})


def _grid(reps=2):
    i, o = (m.ravel() for m in np.meshgrid(GRID, GRID, indexing="ij"))
    return np.repeat(i, reps), np.repeat(o, reps)


@pytest.mark.parametrize("kv_cache", [False, True], ids=["kv-off", "kv-on"])
def test_default_form_fits_full_grid_within_10_percent(kv_cache):
    i, o = _grid()
    (cm,) = fit(_table(i, o, kv_cache), form="default", cv_folds=9).values()
    dense = np.unique(np.round(np.geomspace(1, 4096, 40)).astype(np.int64))
    di, do = (m.ravel() for m in np.meshgrid(dense, dense))
    for m in (cm.energy, cm.runtime):
        assert m.form == "default"
        assert m.stats.cv_mape <= 0.10, (m.metric, m.stats.cv_mape)
        assert m.stats.mape <= 0.10
        assert min(m.coef.values()) >= 0.0
        assert (m.raw(i, o) > 0).all()
        assert (m.raw(di, do) > 0).all()  # strictly positive beyond the grid too


def test_default_form_extrapolates_from_one_factor_sweeps():
    """Fit like the public data (input sweep at τout 32, output sweep at τin 38); score grid."""
    tin = np.array([9, 21, 38, 78, 154, 267, 541, 986, 2117])
    tout = 2 ** np.arange(3, 13)
    i = np.concatenate([np.repeat(tin, 4), np.full(4 * tout.size, 38)])
    o = np.concatenate([np.full(4 * tin.size, 32), np.repeat(tout, 4)])
    (cm,) = fit(_table(i, o, kv_cache=False), form="default").values()
    gi, go = _grid(reps=1)
    runtime, energy = _simulate(gi, go, kv_cache=False)
    assert np.mean(np.abs(cm.runtime_s(gi, go) - runtime) / runtime) <= 0.10
    assert np.mean(np.abs(cm.energy_j(gi, go) - energy) / energy) <= 0.10


def test_paper_form_is_still_ols_without_intercept():
    form = get_form("paper")
    assert form.method == "ols" and form.features == ("in", "out", "inout")
    i, o = _grid(reps=1)
    t = _table(i, o, kv_cache=False)
    (cm,) = fit(t, form="paper").values()
    beta, *_ = np.linalg.lstsq(form.design(i, o), t["runtime_s"].to_numpy(), rcond=None)
    np.testing.assert_allclose([cm.runtime.coef[f] for f in form.features], beta)
    assert cm.runtime.intercept == 0.0
    assert (cm.runtime.raw(i, o) <= 0).any()  # the flaw the default form fixes


def test_default_form_is_relative_l1_with_physical_features():
    form = FORMS["default"]
    assert form.method == "relative-l1"
    assert {"const", "in", "out", "ctx", "ctx2"} <= set(form.features)
    assert set(form.features) <= set(FEATURES)


def test_context_features_match_brute_force_sums():
    i = np.array([1, 9, 38, 300, 2048, 5])
    o = np.array([1, 32, 7, 500, 2048, 70])
    contexts = [np.arange(a, a + b) for a, b in zip(i, o, strict=True)]
    expected = {
        "ctx": [c.sum() for c in contexts],
        "ctx2": [(c.astype(float) ** 2).sum() for c in contexts],
        "ctx_k64": [np.maximum(c - 64, 0).sum() for c in contexts],
        "ctx_k2048": [np.maximum(c - 2048, 0).sum() for c in contexts],
        "in_k256": np.maximum(i - 256, 0),
    }
    for name, want in expected.items():
        got = FEATURES[name](i.astype(float), o.astype(float))
        np.testing.assert_allclose(got, np.asarray(want, dtype=float), rtol=1e-12, err_msg=name)


def test_relative_l1_recovers_known_coefficients_on_noiseless_data():
    rng = np.random.default_rng(1)
    x = rng.uniform(0.0, 1.0, (80, 5)) * np.array([1.0, 1e2, 1e4, 1e6, 1e8])
    beta = np.array([3.0, 0.0, 2e-3, 0.0, 5e-8])
    y = x @ beta
    np.testing.assert_allclose(relative_l1_nonneg(x, y, tie_break=0.0), beta, rtol=1e-7,
                               atol=1e-14)
    np.testing.assert_allclose(relative_l1_nonneg(x, y), beta, rtol=1e-7, atol=1e-14)


def test_relative_l1_recovers_default_form_coefficients_on_a_grid():
    form = FORMS["default"]
    i, o = _grid(reps=1)
    x = form.design(i, o)
    beta = np.zeros(len(form.features))
    for name, val in {"const": 0.02, "out": 0.03, "ctx": 1e-5, "ctx_k256": 8e-5,
                      "in": 1e-4}.items():
        beta[form.features.index(name)] = val
    got = relative_l1_nonneg(x, x @ beta)
    np.testing.assert_allclose(x @ got, x @ beta, rtol=1e-7)
    np.testing.assert_allclose(got, beta, rtol=1e-6, atol=1e-12)


def test_relative_l1_keeps_coefficients_non_negative():
    rng = np.random.default_rng(2)
    x = rng.uniform(1.0, 2.0, (50, 3))
    y = x @ np.array([1.0, -0.5, 2.0]) + 1.0
    assert (relative_l1_nonneg(x, y) >= 0).all()


@pytest.mark.parametrize("y", [[1.0, 0.0, 2.0], [1.0, -1.0, 2.0], [1.0, np.nan, 2.0]])
def test_relative_l1_rejects_bad_targets(y):
    with pytest.raises(FitError):
        relative_l1_nonneg(np.ones((3, 2)), np.array(y))


def test_plot_fit_writes_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    from offline_sched.plots.fit import plot_fit

    i, o = _grid(reps=1)
    table = pd.concat([_table(i, o, False), _table(i, o, True).assign(system="kv-on")])
    models = fit(table, form="default", cv_folds=3)
    paths = plot_fit(models, table, tmp_path / "plots")
    assert [p.name for p in paths] == ["fit_m_kv-on.png", "fit_m_s.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_fit_without_matplotlib_says_how_to_install(monkeypatch, tmp_path):
    from offline_sched.plots.fit import plot_fit

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    i, o = _grid(reps=1)
    table = _table(i, o, False)
    with pytest.raises(InputError, match=r"pip install 'offline-sched\[plot\]'"):
        plot_fit(fit(table, form="paper"), table, tmp_path)


SHIPPED = REPO / "offline_sched" / "data" / "coefficients.csv"
BUNDLED = [("llama-2-7b", "m1-pro"), ("llama-2-7b", "a100"), ("mistral-7b", "m1-pro"),
           ("mistral-7b", "a100"), ("llama-2-13b", "a100"), ("llama-2-70b", "a100"),
           ("mixtral-8x7b", "a100"), ("falcon-40b", "a100")]


def test_shipped_default_coefficients_cover_bundled_systems():
    frame = pd.read_csv(SHIPPED)
    default = frame[frame["form"] == "default"]
    models = models_from_coefficients(default, source=str(SHIPPED))
    for key in BUNDLED:
        cm = models[key]
        for m in (cm.energy, cm.runtime):
            assert min(m.coef.values()) >= 0.0
            assert m.stats.cv_mape <= 0.10
    coef_cols = [f"coef_{f}" for f in FORMS["default"].features]
    assert (default[coef_cols].to_numpy() >= 0).all()
    assert set(frame["form"]) == {"default", "paper"}
    keys = ["model", "system", "form", "metric"]
    assert frame[keys].equals(frame[keys].sort_values(keys).reset_index(drop=True))


def test_shipped_coefficients_reproduce_from_the_table():
    table = REPO / "measurements" / "a100" / "llama-2-7b.csv"
    if not table.exists():
        pytest.skip("measurement table not present")
    (cm,) = fit(table, form="default", cv_folds=9).values()
    frame = pd.read_csv(SHIPPED)
    rows = frame[(frame["form"] == "default") & (frame["model"] == "llama-2-7b")
                 & (frame["system"] == "a100")].set_index("metric")
    for m in (cm.energy, cm.runtime):
        for feat, val in m.coef.items():
            assert rows.loc[m.metric, f"coef_{feat}"] == pytest.approx(val, rel=1e-8, abs=1e-15)
        assert rows.loc[m.metric, "cv_mape"] == pytest.approx(m.stats.cv_mape, rel=1e-8)
