"""Multiple-comparison corrections of a family of p-values.

The family is whatever the caller passes: all pairs of systems, or every system against
one baseline (:func:`ragbench.core.stats.compare_systems` picks it from ``baseline``).
Adjusted p-values are compared with alpha: a hypothesis is rejected when
``adjusted p <= alpha`` (as in statsmodels' ``multipletests``).

* ``"holm"`` (default) — Holm–Bonferroni step-down; controls the family-wise error rate
  under any dependence and is uniformly more powerful than Bonferroni.
* ``"bonferroni"`` — ``min(1, m p)``; FWER, any dependence.
* ``"bh"`` — Benjamini–Hochberg step-up; controls the false discovery rate (independent or
  positively dependent p-values).
* ``"none"`` — p-values unchanged.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ._validation import choice
from .errors import StatsError

__all__ = ["CORRECTIONS", "adjust_p_values"]

Correction = Literal["holm", "bonferroni", "bh", "none"]
CORRECTIONS: tuple[str, ...] = ("holm", "bonferroni", "bh", "none")


def adjust_p_values(p_values: ArrayLike, *, method: Correction = "holm") -> np.ndarray:
    """Adjusted p-values, in the input order, for a family of ``m`` tests.

    With ``p_(1) <= ... <= p_(m)`` sorted ascending:

    * Holm: ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``
    * Bonferroni: ``p~_i = min(1, m p_i)``
    * BH: ``p~_(i) = min_{j >= i} min(1, m p_(j) / j)``
    * none: ``p~_i = p_i``

    Ties in p keep their input order (a stable sort), which does not change the values.
    """
    choice(method, name="method", allowed=CORRECTIONS)
    try:
        p = np.asarray(p_values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatsError(f"p_values must be numbers ({exc})") from None
    if p.ndim != 1:
        raise StatsError(f"p_values must be a 1-D array, got shape {p.shape}")
    outside = ~((p >= 0.0) & (p <= 1.0))  # also catches NaN
    if outside.any():
        index = int(np.flatnonzero(outside)[0])
        raise StatsError(f"p_values must lie in [0, 1]; index {index} is {p[index]!r}")

    m = p.size
    if m == 0 or method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(1.0, m * p)

    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:  # "bh"
        adjusted = np.minimum.accumulate((m * ranked / np.arange(1, m + 1))[::-1])[::-1]
    result = np.empty(m, dtype=np.float64)
    result[order] = np.minimum(1.0, adjusted)
    return result
