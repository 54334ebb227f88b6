"""Effect sizes of a paired comparison: mean difference with CI, Cohen's d_z, win/tie/loss.

``d_i = a_i - b_i`` per query; ``|d_i| <= TIE_TOLERANCE`` (1e-12, absolute) is a tie and
is treated as exactly 0 everywhere (see :mod:`ragbench.core.stats.paired`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ._validation import choice, paired_differences, probability
from .interval import ConfidenceInterval, bootstrap_intervals, t_interval

__all__ = [
    "CI_METHODS",
    "MeanDifference",
    "WinTieLoss",
    "cohens_dz",
    "mean_difference",
    "win_tie_loss",
]

CiMethod = Literal["t", "bca", "percentile"]
CI_METHODS: tuple[str, ...] = ("t", "bca", "percentile")


@dataclass(frozen=True, slots=True)
class MeanDifference:
    """``mean(a - b)`` over ``n_queries`` queries, with its confidence interval."""

    mean: float
    ci: ConfidenceInterval
    n_queries: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class WinTieLoss:
    """Queries where ``a`` beats ``b`` (wins), equals it (ties) or trails it (losses)."""

    wins: int
    ties: int
    losses: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_difference(
    a: ArrayLike,
    b: ArrayLike,
    *,
    confidence_level: float = 0.95,
    ci_method: CiMethod = "t",
    n_resamples: int = 10_000,
    seed: int | np.random.Generator = 0,
) -> MeanDifference:
    """Mean paired difference ``mean(a_i - b_i)`` and its confidence interval.

    ``ci_method="t"``: ``mean(d) ± t_{1-(1-level)/2, n-1} * sd(d) / sqrt(n)`` (the
    interval of the paired t-test; ``[mean, mean]`` when ``sd = 0``). ``"bca"`` /
    ``"percentile"``: the paired bootstrap of :func:`bootstrap_ci` with ``n_resamples``
    and ``seed`` (unused for "t").
    """
    choice(ci_method, name="ci_method", allowed=CI_METHODS)
    level = probability(confidence_level, name="confidence_level")
    differences = paired_differences(a, b)
    if ci_method == "t":
        low, high = t_interval(differences, level)
        ci = ConfidenceInterval(low, high, level, "t")
    else:
        (ci,) = bootstrap_intervals(
            differences[None, :],
            confidence_level=level,
            method=ci_method,
            n_resamples=n_resamples,
            seed=seed,
        )
    return MeanDifference(float(differences.mean()), ci, differences.size)


def cohens_dz(a: ArrayLike, b: ArrayLike) -> float:
    """Cohen's d_z for paired scores: ``mean(d) / sd(d)``, ``sd`` with ddof=1.

    Unitless; equals ``t / sqrt(n)`` of the paired t-test. When ``sd(d) = 0`` the ratio is
    undefined; we return ``0.0`` if every difference is 0 (no effect) and ``±inf`` if
    every difference is the same non-zero value (a perfectly consistent effect).
    """
    differences = paired_differences(a, b)
    return _dz(differences)


def _dz(differences: np.ndarray) -> float:
    mean = float(differences.mean())
    if np.all(differences == differences[0]):
        return 0.0 if mean == 0.0 else float(np.copysign(np.inf, mean))
    return mean / float(differences.std(ddof=1))


def win_tie_loss(a: ArrayLike, b: ArrayLike) -> WinTieLoss:
    """Count queries with ``a_i > b_i`` (wins), ``a_i = b_i`` (ties), ``a_i < b_i`` (losses).

    A tie is ``|a_i - b_i| <= 1e-12`` (absolute), so the same score computed two ways
    still ties. Needs at least 1 query.
    """
    differences = paired_differences(a, b, min_queries=1)
    return _win_tie_loss(differences)


def _win_tie_loss(differences: np.ndarray) -> WinTieLoss:
    wins = int(np.count_nonzero(differences > 0.0))
    losses = int(np.count_nonzero(differences < 0.0))
    return WinTieLoss(wins, differences.size - wins - losses, losses)
