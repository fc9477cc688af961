import numpy as np
import pandas as pd
import pytest

from offline_sched import FitError, InputError, fit
from offline_sched.costs.fit import coefficients_frame, models_from_coefficients
from offline_sched.costs.model import CostModel, MetricModel


def _grid_table(noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    i, o = np.meshgrid([8, 16, 32, 64, 128, 256], [8, 16, 32, 64, 128])
    i, o = i.ravel(), o.ravel()
    e = 3.0 * i + 30.0 * o + 0.04 * i * o
    r = 0.01 * i + 0.08 * o + 1e-4 * i * o
    return pd.DataFrame({"model": "m", "system": "s", "input_tokens": i, "output_tokens": o,
                         "runtime_s": r * (1 + noise * rng.standard_normal(i.size)),
                         "energy_j": e * (1 + noise * rng.standard_normal(i.size))})


def test_paper_form_recovers_coefficients_exactly():
    (cm,) = fit(_grid_table(), form="paper").values()
    assert cm.energy.coef == pytest.approx({"in": 3.0, "out": 30.0, "inout": 0.04})
    assert cm.runtime.coef == pytest.approx({"in": 0.01, "out": 0.08, "inout": 1e-4})
    assert cm.energy.stats.r2 == pytest.approx(1.0)
    assert cm.energy.stats.mape < 1e-9
    assert cm.runtime.input_range == (8, 256) and cm.runtime.output_range == (8, 128)


def test_runtime_only_table_fits_runtime_only():
    t = _grid_table()
    t["energy_j"] = np.nan
    (cm,) = fit(t).values()
    assert cm.energy is None
    with pytest.raises(ValueError):
        cm.energy_j(1, 1)


def test_coefficients_round_trip():
    models = fit(_grid_table(noise=0.02), form="paper", cv_folds=3)
    frame = coefficients_frame(models)
    assert {"coef_in", "coef_out", "coef_inout", "intercept", "r2", "mape", "cv_mape",
            "n"} <= set(frame.columns)
    again = models_from_coefficients(frame)
    a, b = models[("m", "s")], again[("m", "s")]
    x = np.array([10, 500]), np.array([7, 900])
    np.testing.assert_allclose(a.energy_j(*x), b.energy_j(*x))
    np.testing.assert_allclose(a.runtime_s(*x), b.runtime_s(*x))


def test_negative_predictions_are_clipped_and_counted():
    m = MetricModel("energy", "paper", {"in": -5.0, "out": 30.0, "inout": 0.0}, floor=2.0)
    cm = CostModel("m", "s", runtime=m, energy=m)
    tin, tout = np.array([1, 100]), np.array([1, 1])
    assert list(cm.energy_j(tin, tout)) == [25.0, 2.0]
    pred = cm.predict(tin, tout)
    assert list(pred.clipped) == [False, True]


def test_extrapolation_is_flagged():
    m = MetricModel("runtime", "paper", {"out": 1.0}, input_range=(8, 64),
                    output_range=(8, 64))
    assert list(m.extrapolated(np.array([8, 100, 8]), np.array([8, 8, 2]))) == [False, True,
                                                                                 True]


def test_fit_errors():
    with pytest.raises(InputError, match="unknown model form"):
        fit(_grid_table(), form="cubic")
    with pytest.raises(FitError):
        fit(_grid_table().head(2))
    bad = _grid_table()
    bad.loc[3, "runtime_s"] = -1
    with pytest.raises(InputError, match="row 4, column 'runtime_s', value '-1"):
        fit(bad)
