"""Confidence intervals of a mean: Student-t, and the paired bootstrap (percentile, BCa).

The bootstrap resamples QUERIES with replacement, keeping each query's pair of scores
together, so the interval of a mean difference is the interval of the mean of
``d_i = a_i - b_i``. All rows of a call share one set of resampled query indices (a
matrix of bootstrap counts, used in one matrix product), drawn in chunks of rows; the
indices are drawn exactly as ``scipy.stats.bootstrap`` draws them
(``rng.integers(0, n, (N, n))``), so with the same Generator the two agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from ._validation import (
    choice,
    difference_matrix,
    generator,
    paired_differences,
    positive_int,
    probability,
    score_vector,
)
from .errors import StatsError

__all__ = [
    "BOOTSTRAP_METHODS",
    "ConfidenceInterval",
    "bootstrap_ci",
    "bootstrap_intervals",
    "mean_confidence_interval",
    "t_interval",
]

BootstrapMethod = Literal["bca", "percentile"]
BOOTSTRAP_METHODS: tuple[str, ...] = ("bca", "percentile")
# Elements (resamples x queries) of one chunk of bootstrap indices.
_CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True, slots=True)
class ConfidenceInterval:
    """``[low, high]`` at ``confidence_level``; ``method`` is "t", "bca" or "percentile"."""

    low: float
    high: float
    confidence_level: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_confidence_interval(
    scores: ArrayLike, *, confidence_level: float = 0.95
) -> ConfidenceInterval:
    """Student-t interval of the mean score of one system over its queries.

    ``mean ± t_{1-(1-level)/2, n-1} * sd / sqrt(n)`` with ``sd`` the sample standard
    deviation (ddof=1). With ``sd = 0`` the interval is the single point ``[mean, mean]``.
    """
    values = score_vector(scores, name="scores")
    low, high = t_interval(values, probability(confidence_level, name="confidence_level"))
    return ConfidenceInterval(low, high, float(confidence_level), "t")


def t_interval(values: np.ndarray, confidence_level: float) -> tuple[float, float]:
    """``mean ± t * sd / sqrt(n)`` for an already validated 1-D array."""
    n = values.size
    mean = float(values.mean())
    half_width = float(
        stats.t.ppf(0.5 + confidence_level / 2.0, n - 1) * values.std(ddof=1) / np.sqrt(n)
    )
    return mean - half_width, mean + half_width


def bootstrap_ci(
    a: ArrayLike,
    b: ArrayLike,
    *,
    confidence_level: float = 0.95,
    method: BootstrapMethod = "bca",
    n_resamples: int = 10_000,
    seed: int | np.random.Generator = 0,
) -> ConfidenceInterval:
    """Paired bootstrap interval of the mean difference ``mean(a - b)``.

    ``N`` resamples of the queries give means ``theta*_1..N``. Percentile: the
    ``(1-level)/2`` and ``(1+level)/2`` quantiles of ``theta*`` (linear interpolation).
    BCa (Efron & Tibshirani 1993, 14.3): quantiles ``Phi(z0 + (z0 + z)/(1 - acc (z0 + z)))``
    for ``z = ±z_{(1+level)/2}``, with bias ``z0 = Phi^-1((#{theta* < theta} +
    #{theta* <= theta}) / 2N)`` (``theta*`` within ``1e-9 * max|d_i|`` of ``theta`` count as
    equal to it) and acceleration (jackknife, closed form for the mean)
    ``acc = sum (d_i - mean d)^3 / (6 (sum (d_i - mean d)^2)^1.5)``. This is what
    ``scipy.stats.bootstrap`` computes, and with the same Generator it returns the same
    interval. If every difference is equal the interval is the point ``[d, d]``; if BCa's
    bias correction is infinite (all resampled means on one side, tiny n) the percentile
    interval is returned and ``method`` says "percentile".
    """
    differences = paired_differences(a, b)
    (interval,) = bootstrap_intervals(
        differences[None, :],
        confidence_level=confidence_level,
        method=method,
        n_resamples=n_resamples,
        seed=seed,
    )
    return interval


def bootstrap_intervals(
    differences: ArrayLike,
    *,
    confidence_level: float = 0.95,
    method: BootstrapMethod = "bca",
    n_resamples: int = 10_000,
    seed: int | np.random.Generator = 0,
) -> list[ConfidenceInterval]:
    """:func:`bootstrap_ci` for each row of ``differences`` (comparisons x queries).

    All rows share the same resampled query indices (one draw of ``N x n`` indices per
    call), so row ``r`` gets exactly what ``bootstrap_ci`` returns for it with the same
    int seed.
    """
    matrix = difference_matrix(differences)
    if matrix.shape[1] < 2:
        raise StatsError(f"differences: need at least 2 queries, got {matrix.shape[1]}")
    level = probability(confidence_level, name="confidence_level")
    method = choice(method, name="method", allowed=BOOTSTRAP_METHODS)
    n_resamples = positive_int(n_resamples, name="n_resamples")
    rng = generator(seed)

    resampled = _resampled_means(matrix, n_resamples, rng)
    observed = matrix.mean(axis=1)
    tail = (1.0 - level) / 2.0
    intervals = []
    for row in range(matrix.shape[0]):
        values = matrix[row]
        if np.all(values == values[0]):
            point = float(observed[row])
            intervals.append(ConfidenceInterval(point, point, level, method))
            continue
        quantiles, used = (tail, 1.0 - tail), "percentile"
        if method == "bca":
            bca = _bca_quantiles(values, float(observed[row]), resampled[:, row], tail)
            if bca is not None:
                quantiles, used = bca, "bca"
        low, high = np.quantile(resampled[:, row], quantiles)
        intervals.append(ConfidenceInterval(float(low), float(high), level, used))
    return intervals


def _resampled_means(matrix: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(N, rows) means of ``matrix`` rows over N shared resamples of the query indices."""
    n_queries = matrix.shape[1]
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // n_queries)
    columns = np.ascontiguousarray(matrix.T)
    means = np.empty((n_resamples, matrix.shape[0]), dtype=np.float64)
    for start in range(0, n_resamples, rows_per_chunk):
        rows = min(rows_per_chunk, n_resamples - start)
        indices = rng.integers(0, n_queries, size=(rows, n_queries))
        # How often each query is drawn in each resample: mean = counts @ d / n.
        indices += (np.arange(rows, dtype=np.int64) * n_queries)[:, None]
        counts = np.bincount(indices.ravel(), minlength=rows * n_queries)
        counts = counts.reshape(rows, n_queries).astype(np.float64)
        means[start : start + rows] = counts @ columns
    means /= n_queries
    return means


def _bca_quantiles(
    values: np.ndarray, observed: float, resampled: np.ndarray, tail: float
) -> tuple[float, float] | None:
    # Resampled means within 1e-9 * max|d| of the observed mean are ties with it: with
    # graded scores many resamples hit the observed mean exactly in exact arithmetic, and
    # rounding (which depends on how many rows share the matrix product) must not decide
    # which side they fall on.
    tolerance = 1e-9 * float(np.abs(values).max())
    below = np.count_nonzero(resampled < observed - tolerance) + np.count_nonzero(
        resampled <= observed + tolerance
    )
    bias = special.ndtri(below / (2.0 * resampled.size))
    if not np.isfinite(bias):
        return None
    centred = values - values.mean()
    acceleration = np.sum(centred**3) / (6.0 * np.sum(centred**2) ** 1.5)
    z = special.ndtri(tail)
    quantiles = []
    for z_tail in (z, -z):
        shifted = bias + z_tail
        quantiles.append(float(special.ndtr(bias + shifted / (1.0 - acceleration * shifted))))
    return quantiles[0], quantiles[1]
