"""Per-query cost models of one (model, system) pair: energy [J] and runtime [s] of a query.

A :class:`CostModel` holds one :class:`MetricModel` per metric. Predictions are vectorised
over numpy arrays of token counts and *guarded*: a prediction below the metric's ``floor`` is
clipped up to it (so a model that extrapolates to zero or negative cost cannot make a system
look free), and predictions outside the measured token range are flagged. Both counts are
reported by ``solve`` and ``compare``.

Floors: a least-squares (``paper``) fit is floored at the smallest value measured in its
table (no query was ever cheaper); a ``default``-form fit, positive and increasing by
construction, at a tenth of it; a metric given by coefficients alone at the model's own
prediction at τin = τout = 1 if that is positive, else 1e-3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .forms import FEATURES, Form, get_form

DEFAULT_FLOOR = 1e-3


@dataclass(frozen=True)
class FitStats:
    """Goodness of fit of one metric model on its measurement table.

    Attributes:
        r2: coefficient of determination (centred) on the training rows.
        mape: mean absolute percentage error on the training rows, as a fraction.
        cv_mape: k-fold cross-validated MAPE as a fraction (NaN if not computed).
        n: number of rows fitted.
    """

    r2: float
    mape: float
    n: int
    cv_mape: float = float("nan")


@dataclass(frozen=True)
class MetricModel:
    """One metric (``energy`` or ``runtime``) of one (model, system) pair.

    Attributes:
        metric: ``energy`` (J per query) or ``runtime`` (s per query).
        form: the model form name (see :mod:`offline_sched.costs.forms`).
        coef: coefficient per feature name; features absent from ``coef`` count as 0.
        intercept: constant term.
        floor: smallest value a prediction may take (see module docstring).
        input_range: measured (min, max) τin, or None when unknown.
        output_range: measured (min, max) τout, or None when unknown.
        stats: fit statistics, or None for coefficients given by hand.
    """

    metric: str
    form: str
    coef: dict[str, float]
    intercept: float = 0.0
    floor: float | None = None
    input_range: tuple[int, int] | None = None
    output_range: tuple[int, int] | None = None
    stats: FitStats | None = None

    def raw(self, input_tokens: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
        """Unclipped prediction (may be ≤ 0 where the model extrapolates badly).

        Sums only the features with a non-zero coefficient instead of building the whole
        design matrix (the default form has 14 features, most fits use a few), so predicting
        10^6 classes takes milliseconds.
        """
        tin = np.asarray(input_tokens, dtype=np.float64)
        tout = np.asarray(output_tokens, dtype=np.float64)
        out = np.full(np.broadcast(tin, tout).shape, float(self.intercept))
        for name in self._form().features:  # loop over features only
            coef = float(self.coef.get(name, 0.0))
            if coef:
                out += coef * FEATURES[name](tin, tout)
        return out

    def guarded(self, input_tokens: np.ndarray, output_tokens: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """The one guarded prediction: ``(clipped prediction, clipped mask)``, one evaluation.

        A raw prediction strictly below :attr:`floor_value` is raised to it and marked
        clipped; one equal to the floor is not clipped.
        """
        raw = self.raw(input_tokens, output_tokens)
        floor = self.floor_value
        return np.maximum(raw, floor), raw < floor

    def _form(self) -> Form:
        return get_form(self.form)

    @property
    def floor_value(self) -> float:
        """The floor in effect (explicit, else the prediction at (1, 1), else 1e-3)."""
        if self.floor is not None and self.floor > 0:
            return float(self.floor)
        at_one = float(self.raw(np.array([1.0]), np.array([1.0]))[0])
        return at_one if at_one > 0 else DEFAULT_FLOOR

    def predict(self, input_tokens: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
        """Prediction clipped below at :attr:`floor_value` (see :meth:`guarded`)."""
        return self.guarded(input_tokens, output_tokens)[0]

    def clipped(self, input_tokens: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
        """Boolean mask: where the raw prediction is below the floor (see :meth:`guarded`)."""
        return self.guarded(input_tokens, output_tokens)[1]

    def extrapolated(self, input_tokens: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
        """Boolean mask: where (τin, τout) lies outside the measured range (False if unknown)."""
        i = np.asarray(input_tokens)
        o = np.asarray(output_tokens)
        out = np.zeros(np.broadcast(i, o).shape, dtype=bool)
        if self.input_range is not None:
            out |= (i < self.input_range[0]) | (i > self.input_range[1])
        if self.output_range is not None:
            out |= (o < self.output_range[0]) | (o > self.output_range[1])
        return out


@dataclass(frozen=True)
class Prediction:
    """Guarded predictions of one cost model for a set of queries.

    Attributes:
        energy_j: energy per query [J] (NaN if the model has no energy metric).
        runtime_s: runtime per query on one replica [s].
        clipped: per query, whether any metric was clipped at its floor.
        extrapolated: per query, whether it lies outside a metric's measured range.
    """

    energy_j: np.ndarray
    runtime_s: np.ndarray
    clipped: np.ndarray
    extrapolated: np.ndarray


@dataclass(frozen=True)
class CostModel:
    """Energy and runtime model of one model served on one system (one replica).

    Attributes:
        model: model name, e.g. ``llama-2-7b``.
        system: system (hardware) label in the measurement table, e.g. ``a100``.
        runtime: runtime model [s per query].
        energy: energy model [J per query], or None when no energy was measured.
        source: where the coefficients came from (file, table, paper), for provenance.
    """

    model: str
    system: str
    runtime: MetricModel
    energy: MetricModel | None = None
    source: str = ""

    def energy_j(self, input_tokens, output_tokens) -> np.ndarray:
        """Energy per query [J], vectorised, clipped at the floor.

        Raises:
            ValueError: the model has no energy metric (runtime-only table).
        """
        if self.energy is None:
            raise ValueError(f"cost model {self.model}/{self.system} has no energy metric")
        return self.energy.predict(np.asarray(input_tokens), np.asarray(output_tokens))

    def runtime_s(self, input_tokens, output_tokens) -> np.ndarray:
        """Runtime per query on one replica [s], vectorised, clipped at the floor."""
        return self.runtime.predict(np.asarray(input_tokens), np.asarray(output_tokens))

    def predict(self, input_tokens: np.ndarray, output_tokens: np.ndarray) -> Prediction:
        """All guarded predictions plus clipping and extrapolation flags."""
        i = np.asarray(input_tokens)
        o = np.asarray(output_tokens)
        metrics = [m for m in (self.energy, self.runtime) if m is not None]
        clipped = np.zeros(i.shape, dtype=bool)
        extrap = np.zeros(i.shape, dtype=bool)
        for m in metrics:
            clipped |= m.clipped(i, o)
            extrap |= m.extrapolated(i, o)
        energy = (self.energy.predict(i, o) if self.energy is not None
                  else np.full(i.shape, np.nan))
        return Prediction(energy_j=energy, runtime_s=self.runtime.predict(i, o),
                          clipped=clipped, extrapolated=extrap)
