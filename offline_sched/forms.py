"""Functional forms of per-query cost models: features of (τin, τout) and how they are fitted.

Every form predicts a metric (energy in J or runtime in s) of one query on one replica as a
linear combination of named features of its input and output token counts,

    y(τin, τout) = Σ_k coef_k · f_k(τin, τout)

so prediction is one vectorised matrix product whatever the form.

``paper``
    The offline paper's model (Wilkins et al., arXiv 2407.04014, eq. 1):
    y = α0·τin + α1·τout + α2·τin·τout, fitted by ordinary least squares with no intercept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Feature = Callable[[np.ndarray, np.ndarray], np.ndarray]

FEATURES: dict[str, Feature] = {
    "const": lambda i, o: np.ones(np.broadcast(i, o).shape),
    "in": lambda i, o: i + 0.0 * o,
    "out": lambda i, o: o + 0.0 * i,
    "inout": lambda i, o: i * o,
    "in2": lambda i, o: i * i + 0.0 * o,
    "out2": lambda i, o: o * o + 0.0 * i,
    "in2out": lambda i, o: i * i * o,
    "inout2": lambda i, o: i * o * o,
    "out3": lambda i, o: o * o * o + 0.0 * i,
}
"""Named features; ``i`` = τin, ``o`` = τout as float arrays."""


@dataclass(frozen=True)
class Form:
    """A model form: which features it uses and how its coefficients are fitted.

    Attributes:
        name: form name (``paper``, ``default``, ...).
        features: feature names, in coefficient order.
        method: fitting method: ``ols`` (least squares) or ``relative-l1`` (minimise the mean
            absolute relative error with non-negative coefficients).
        description: one line for ``--help`` and reports.
    """

    name: str
    features: tuple[str, ...]
    method: str
    description: str

    def design(self, input_tokens: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
        """Return the design matrix, shape (N, len(features)), float64."""
        i = np.asarray(input_tokens, dtype=np.float64)
        o = np.asarray(output_tokens, dtype=np.float64)
        return np.column_stack([FEATURES[f](i, o) for f in self.features])


FORMS: dict[str, Form] = {
    "paper": Form("paper", ("in", "out", "inout"), "ols",
                  "offline paper: a0*in + a1*out + a2*in*out, OLS, no intercept"),
}


def get_form(name: str) -> Form:
    """Look a form up by name.

    Raises:
        KeyError: unknown form (callers turn it into an InputError with the choices).
    """
    return FORMS[name]
