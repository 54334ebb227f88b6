"""Paired significance tests of two systems' per-query scores.

Every test takes two score vectors ``a`` and ``b`` paired by query (same order, same
length >= 2, finite) and tests H0 "no difference" two-sided on ``d_i = a_i - b_i``.
Differences with ``|d_i| <= TIE_TOLERANCE`` (1e-12) are set to exactly 0 first, so
rounding noise between two identical rankings is a tie everywhere.

All differences zero (identical systems): every test returns ``statistic = 0.0`` and
``p_value = 1.0`` — never NaN — because the data give no evidence at all against H0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ._validation import choice, paired_differences
from .randomization import EXACT_MAX_NONZERO, randomization_p_values

__all__ = ["PairedTest", "paired_t_test", "randomization_test", "wilcoxon_test"]

ZeroMethod = Literal["wilcox", "pratt"]


@dataclass(frozen=True, slots=True)
class PairedTest:
    """Outcome of one paired test.

    ``test`` is "t", "wilcoxon" or "randomization"; ``statistic`` is Student's t, the
    Wilcoxon W (scipy's: the smaller of the signed-rank sums), or the observed mean
    difference ``mean(a - b)`` for the randomization test. ``n_queries`` counts all
    queries, ``n_nonzero`` those with ``a_i != b_i``. ``exact`` tells whether the p-value
    came from an exact null distribution; ``n_resamples`` is set only for Monte Carlo.
    """

    test: str
    statistic: float
    p_value: float
    n_queries: int
    n_nonzero: int
    exact: bool
    n_resamples: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_t_test(a: ArrayLike, b: ArrayLike) -> PairedTest:
    """Paired Student t-test (``scipy.stats.ttest_rel``), two-sided.

    ``t = mean(d) / (sd(d) / sqrt(n))`` with ``sd`` ddof=1, ``p = 2 * P(T_{n-1} >= |t|)``.
    All ``d_i = 0``: ``t = 0``, ``p = 1``. All ``d_i`` equal and non-zero: ``sd = 0``,
    ``t = ±inf`` and ``p = 0.0`` (scipy's limit; the randomization test gives the
    honest ``2 / 2^n`` for that case).
    """
    differences = paired_differences(a, b)
    n_nonzero = int(np.count_nonzero(differences))
    if n_nonzero == 0:
        return PairedTest("t", 0.0, 1.0, differences.size, 0, exact=False)
    if np.all(differences == differences[0]):
        return PairedTest(
            "t",
            float(np.copysign(np.inf, differences[0])),
            0.0,
            differences.size,
            n_nonzero,
            exact=False,
        )
    result = stats.ttest_1samp(differences, 0.0)
    return PairedTest(
        "t",
        float(result.statistic),
        float(result.pvalue),
        differences.size,
        n_nonzero,
        exact=False,
    )


def wilcoxon_test(a: ArrayLike, b: ArrayLike, *, zero_method: ZeroMethod = "wilcox") -> PairedTest:
    """Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, ``method="auto"``), two-sided.

    Ranks ``|d_i|`` (average ranks for ties); ``W = min(R+, R-)``, the smaller of the rank
    sums of positive and negative differences. Zero differences: ``"wilcox"`` (default)
    drops them before ranking, so ``n`` is the number of non-zero differences;
    ``"pratt"`` ranks them and then drops their ranks. scipy's "auto" uses an exact null
    distribution for n <= 50 without ties or zeros and for n <= 13 with them (``exact``
    reports which), the normal approximation (no continuity correction) otherwise.
    All ``d_i = 0``: ``W = 0``, ``p = 1``.
    """
    choice(zero_method, name="zero_method", allowed=("wilcox", "pratt"))
    differences = paired_differences(a, b)
    n_nonzero = int(np.count_nonzero(differences))
    if n_nonzero == 0:
        return PairedTest("wilcoxon", 0.0, 1.0, differences.size, 0, exact=True)
    result = stats.wilcoxon(differences, zero_method=zero_method, method="auto")
    exact = _wilcoxon_used_exact(differences)
    return PairedTest(
        "wilcoxon",
        float(result.statistic),
        float(result.pvalue),
        differences.size,
        n_nonzero,
        exact=exact,
    )


def _wilcoxon_used_exact(differences: np.ndarray) -> bool:
    # Mirrors scipy's "auto" rule: n > 50 -> normal approximation; otherwise the exact
    # distribution without zeros or tied |d|, an exact permutation test for n <= 13,
    # and the normal approximation for the rest (n counts zero differences too).
    nonzero = differences[differences != 0.0]
    has_zeros = nonzero.size != differences.size
    has_ties = np.unique(np.abs(nonzero)).size != nonzero.size
    n = differences.size
    return n <= 13 or (n <= 50 and not has_zeros and not has_ties)


def randomization_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    n_resamples: int = 10_000,
    seed: int | np.random.Generator = 0,
    exact_max_nonzero: int = EXACT_MAX_NONZERO,
) -> PairedTest:
    """Paired sign-flip randomization test on the mean difference, two-sided.

    ``T = sum d_i``; null: ``T* = sum s_i d_i`` with fair random signs ``s_i``. With
    ``m <= exact_max_nonzero`` (16) non-zero differences all ``2^m`` patterns are
    enumerated and ``p = b / 2^m`` (``b`` counts the observed pattern too); otherwise
    ``p = (b + 1) / (N + 1)`` over ``N = n_resamples`` random patterns.
    ``b = #{|T*| >= |T| - 1e-9 * sum |d_i|}`` — the tolerance makes float ties count
    as ties. Same ``seed`` (int), same p-value, on any thread; zero differences
    contribute nothing. See :mod:`ragbench.core.stats.randomization`.
    """
    differences = paired_differences(a, b)
    n_nonzero = int(np.count_nonzero(differences))
    (p_value,) = randomization_p_values(
        differences[None, :],
        n_resamples=n_resamples,
        seed=seed,
        exact_max_nonzero=exact_max_nonzero,
    )
    exact = n_nonzero <= exact_max_nonzero
    return PairedTest(
        "randomization",
        float(differences.mean()),
        float(p_value),
        differences.size,
        n_nonzero,
        exact=exact,
        n_resamples=None if exact else int(n_resamples),
    )
