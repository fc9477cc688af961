"""Functional forms of per-query cost models: features of (τin, τout) and how they are fitted.

Every form predicts a metric (energy in J or runtime in s) of one query on one replica as a
linear combination of named features of its input and output token counts,

    y(τin, τout) = Σ_k coef_k · f_k(τin, τout)

so prediction is one vectorised matrix product whatever the form.

``paper``
    The offline paper's model (Wilkins et al., arXiv 2407.04014, eq. 1):
    y = α0·τin + α1·τout + α2·τin·τout, fitted by ordinary least squares with no intercept.
    It reaches R² ≈ 0.97 on full grids, but R² is dominated by the largest queries: per
    query its cross-validated MAPE is 100–375 % and it predicts negative costs for about a
    sixth of the grid. Kept for comparison with the papers.

``default``
    A physical model of autoregressive generation, fitted to relative error with
    non-negative coefficients (:func:`offline_sched.costs.relfit.relative_l1_nonneg`). A query is a
    fixed overhead, a prefill over the prompt, and one step per generated token, where the
    step that produces token k+1 runs the model at context length L = τin + k:

        y = c0 + P(τin) + Σ_{L=τin}^{τin+τout−1} s(L)

    **Step cost s(L).** A transformer forward pass over L tokens costs ≈ 2·N_params·L FLOPs
    plus an attention term ∝ n_layer·d_model·L² (Kaplan et al., "Scaling Laws for Neural
    Language Models", arXiv 2001.08361, Table 1; Vaswani et al. 2017). Without a KV cache
    (``use_cache=False``, as in all the public Wilkins et al. data) every step re-runs the
    whole sequence, so s(L) = a·L + b·L² plus a per-step overhead c (kernel launches, the
    Python generation loop, sampling, weight reads); with a KV cache a decode step reads the
    weights once plus the cached keys/values of L tokens, so s(L) = c + a·L with a small a
    (Pope et al., "Efficiently Scaling Transformer Inference", MLSys 2023, arXiv 2211.05102).
    Either way the per-step time is not a polynomial: below a roofline knee it is pinned at
    the overhead/memory-bound floor and above it grows with the work (Williams, Waterman,
    Patterson, "Roofline", CACM 52(4), 2009). The public A100 Llama-2-7B sweep shows this:
    32 steps take 0.95 s for any prompt up to ≈ 150 tokens, then runtime grows linearly.
    We therefore write s(L) as a non-negative combination of 1, L, L² and hinges
    (L − K)⁺ at knots K ∈ {64, 256, 1024, 2048} tokens: a convex, increasing, piecewise
    quadratic step cost whose knee the fit places. Summed over the generated tokens
    (closed forms below) these give the features ``out`` (Σ 1 = τout), ``ctx`` (Σ L =
    τin·τout + τout(τout−1)/2, i.e. the paper's τin·τout term plus the τout² term it lacks),
    ``ctx2`` (Σ L², the cubic attention terms τin²·τout, τin·τout², τout³) and
    ``ctx_k64`` … ``ctx_k2048`` (Σ (L − K)⁺).

    **Prefill P(τin).** With a KV cache the prompt is processed once, at a cost a_p·τin +
    b_p·τin² (attention) above its own knee: features ``in``, ``in2`` and hinges
    ``in_k64``, ``in_k256``, ``in_k1024`` (τin − K)⁺. Without a KV cache the first step
    *is* the prefill (already in the sum) and these stay near zero, except for work on the
    prompt text (tokenisation).

    **Overhead c0** (``const``): pipeline set-up, tokeniser, measurement context.

    Energy has the same structure: E = P_idle·runtime + dynamic energy of the work done, and
    both parts are sums of the same per-step terms.

    Why this form: (1) every feature is ≥ 0 for τin, τout ≥ 1 and every coefficient is
    constrained ≥ 0, so predictions are positive and increase with both token counts, as
    costs must; ``const``, ``out`` and ``ctx`` are > 0 everywhere. (2) The model is right in
    relative terms across five orders of magnitude, because it is fitted to the mean absolute
    relative error (which is also the reported MAPE). (3) It extrapolates: the cost of a
    query depends only on the context lengths it visits, so the output sweep at τin ≈ 38
    (L = 38 … 4,134) determines s(L) for every prompt. On the public data, fitting the
    output sweep alone predicts the held-back input sweep (τin = 9 … 2,117) within 2–10 %
    MAPE on every GPU table (17–23 % for M1-Pro runtime, whose output sweep stops at 512
    tokens), whereas a free cubic polynomial in τin and τout, fitted the same way, is off by
    16–65 %. (4) Its structure holds with the KV cache off and on (only the fitted
    coefficients differ), so one form serves both; on simulated full 8…2048 × 8…2048 grids
    of either kind, with sharp roofline knees that no feature contains, its 9-fold
    cross-validated MAPE is 2–3 % at 3 % measurement noise (``benchmarks/cv_mape.py``).

Features are closed forms, vectorised over numpy arrays; ``i`` = τin and ``o`` = τout as
float64 (token counts ≥ 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Feature = Callable[[np.ndarray, np.ndarray], np.ndarray]

KNOTS_CONTEXT: tuple[int, ...] = (64, 256, 1024, 2048)
"""Knots K (tokens of context) of the step-cost hinges (L − K)⁺ of the default form."""

KNOTS_PREFILL: tuple[int, ...] = (64, 256, 1024)
"""Knots K (prompt tokens) of the prefill hinges (τin − K)⁺ of the default form."""


def _tri(n: np.ndarray) -> np.ndarray:
    """Σ_{m=1}^{n} m = n(n+1)/2 for n ≥ 0, and 0 for n < 0."""
    n = np.maximum(n, 0.0)
    return n * (n + 1.0) / 2.0


def context_sum(i: np.ndarray, o: np.ndarray) -> np.ndarray:
    """Σ_{L=τin}^{τin+τout−1} L = τin·τout + τout(τout − 1)/2 (context length summed over steps)."""
    return i * o + o * (o - 1.0) / 2.0


def context_square_sum(i: np.ndarray, o: np.ndarray) -> np.ndarray:
    """Σ_{L=τin}^{τin+τout−1} L² = τout·τin² + τin·τout(τout−1) + (τout−1)τout(2τout−1)/6."""
    return o * i * i + i * o * (o - 1.0) + (o - 1.0) * o * (2.0 * o - 1.0) / 6.0


def context_hinge_sum(knot: float) -> Feature:
    """Feature Σ_{L=τin}^{τin+τout−1} (L − knot)⁺ (closed form, no loop over steps)."""
    def feature(i: np.ndarray, o: np.ndarray) -> np.ndarray:
        return _tri(i + o - 1.0 - knot) - _tri(i - 1.0 - knot)

    return feature


def prefill_hinge(knot: float) -> Feature:
    """Feature (τin − knot)⁺."""
    def feature(i: np.ndarray, o: np.ndarray) -> np.ndarray:
        return np.maximum(i - knot, 0.0) + 0.0 * o

    return feature


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
    "ctx": context_sum,
    "ctx2": context_square_sum,
    **{f"ctx_k{k}": context_hinge_sum(k) for k in KNOTS_CONTEXT},
    **{f"in_k{k}": prefill_hinge(k) for k in KNOTS_PREFILL},
}
"""Named features; ``i`` = τin, ``o`` = τout as float arrays.

``ctx``, ``ctx2`` and ``ctx_k<K>`` sum 1·L, L² and (L − K)⁺ over the context lengths
L = τin … τin + τout − 1 of the generation steps; ``in_k<K>`` is (τin − K)⁺.
"""


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
        """Return the design matrix, float64.

        Args:
            input_tokens: τin, any shape broadcastable with ``output_tokens`` (scalars give
                a 0-d prediction).
            output_tokens: τout.

        Returns:
            Array of shape (*broadcast shape, len(features)); (N, K) for 1-D inputs, so
            ``design @ coef`` has the shape of the inputs.
        """
        i = np.asarray(input_tokens, dtype=np.float64)
        o = np.asarray(output_tokens, dtype=np.float64)
        cols = np.broadcast_arrays(*(FEATURES[f](i, o) for f in self.features))
        return np.stack(cols, axis=-1)


DEFAULT_FEATURES: tuple[str, ...] = (
    "const",
    "in", "in2", *(f"in_k{k}" for k in KNOTS_PREFILL),
    "out", "ctx", "ctx2", *(f"ctx_k{k}" for k in KNOTS_CONTEXT),
)
"""Features of the default form: overhead, prefill P(τin), and the step cost summed over steps."""

FORMS: dict[str, Form] = {
    "paper": Form("paper", ("in", "out", "inout"), "ols",
                  "offline paper: a0*in + a1*out + a2*in*out, OLS, no intercept"),
    "default": Form("default", DEFAULT_FEATURES, "relative-l1",
                    "overhead + prefill(in) + sum over generated tokens of a step cost "
                    "(1, L, L^2, hinges) at context L; min mean relative error, coef >= 0"),
}


def get_form(name: str) -> Form:
    """Look a form up by name.

    Raises:
        KeyError: unknown form (callers turn it into an InputError with the choices).
    """
    return FORMS[name]
