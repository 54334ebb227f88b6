"""Paired (sign-flip) randomization test, vectorised over many comparisons at once.

Under H0 "the two systems are exchangeable on every query", each per-query difference
``d_i`` is equally likely to have had either sign. The test statistic is
``T = sum_i d_i`` (equivalently the mean difference); its null distribution is that of
``T* = sum_i s_i d_i`` with independent fair signs ``s_i = ±1``. Two-sided:

* exact, when a comparison has at most ``exact_max_nonzero`` non-zero differences ``m``
  (zeros contribute nothing whatever their sign): all ``2^m`` sign patterns are
  enumerated, including the observed one, and ``p = b / 2^m`` with
  ``b = #{patterns : |T*| >= |T| - tol}``;
* Monte Carlo otherwise: ``N`` random sign vectors and ``p = (b + 1) / (N + 1)``, counting
  the observed pattern as one of ``N + 1``; this is itself a valid p-value
  (``P(p <= alpha) <= alpha`` under H0) and never 0.

``tol = 1e-9 * sum_i |d_i|``: patterns whose ``|T*|`` equals ``|T|`` mathematically but
differs by rounding (e.g. 0.1 + 0.2 vs 0.3) count as "at least as extreme". 1e-9 of the
largest possible ``|T*|`` is far above float64 summation error for any realistic number
of queries, and far below any real difference between patterns.

Speed: the random sign matrix (``N x n_queries``) is drawn ONCE per call and shared by
every comparison in the call (``signs @ differences.T`` — one matrix product), so 45
system pairs cost little more than one. Sharing is valid: each comparison's p-value
uses fair signs drawn independently of the data, which is all the test needs. The
p-values of different comparisons become dependent through the shared signs, as they
already are through sharing the queries; Holm and Bonferroni hold under any dependence.
The matrix is generated in chunks of rows (bounded memory, ~32 MiB of float64 per chunk)
from full-width uint64 draws, so the signs depend only on the generator's state, ``N``
and the number of queries — not on the chunk size, the number of comparisons or the
number of threads.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike

from ._validation import difference_matrix, generator, positive_int
from .errors import StatsError

__all__ = ["EXACT_MAX_NONZERO", "RELATIVE_TIE_TOLERANCE", "randomization_p_values"]

EXACT_MAX_NONZERO = 16
RELATIVE_TIE_TOLERANCE = 1e-9
# Largest exact enumeration allowed: 2^20 patterns x 20 float64 = 160 MiB.
_EXACT_LIMIT = 20
# Elements (rows x queries) of one chunk of the sign matrix.
_CHUNK_ELEMENTS = 1 << 22


def randomization_p_values(
    differences: ArrayLike,
    *,
    n_resamples: int = 10_000,
    seed: int | np.random.Generator = 0,
    exact_max_nonzero: int = EXACT_MAX_NONZERO,
) -> np.ndarray:
    """Two-sided sign-flip p-values, one per row of ``differences`` (comparisons x queries).

    Row ``r`` holds ``d_i = a_i - b_i`` of one paired comparison. Rows with at most
    ``exact_max_nonzero`` non-zero entries get the exact ``p = b / 2^m``; the others share
    one matrix of ``n_resamples`` random sign vectors and get ``p = (b + 1) / (N + 1)``
    (see the module docstring for ``b`` and the tie tolerance). Random signs are drawn
    only when some row needs Monte Carlo; an int ``seed`` gives the same p-values on
    every run and thread.
    """
    matrix = difference_matrix(differences)
    n_resamples = positive_int(n_resamples, name="n_resamples")
    if (
        isinstance(exact_max_nonzero, bool)
        or not isinstance(exact_max_nonzero, int)
        or not 0 <= exact_max_nonzero <= _EXACT_LIMIT
    ):
        raise StatsError(
            f"exact_max_nonzero must be an int in [0, {_EXACT_LIMIT}], got {exact_max_nonzero!r}"
        )
    rng = generator(seed)

    nonzero = matrix != 0.0
    n_nonzero = nonzero.sum(axis=1)
    threshold = np.abs(matrix.sum(axis=1)) - RELATIVE_TIE_TOLERANCE * np.abs(matrix).sum(axis=1)

    p_values = np.empty(matrix.shape[0], dtype=np.float64)
    exact = n_nonzero <= exact_max_nonzero
    for row in np.flatnonzero(exact):
        p_values[row] = _exact_p_value(matrix[row, nonzero[row]], threshold[row])
    if not exact.all():
        counts = _monte_carlo_counts(matrix[~exact], threshold[~exact], n_resamples, rng)
        p_values[~exact] = (counts + 1) / (n_resamples + 1)
    return p_values


def _exact_p_value(nonzero_differences: np.ndarray, threshold: float) -> float:
    m = nonzero_differences.size
    if m == 0:
        return 1.0  # one pattern (the observed one), trivially as extreme as itself
    statistics = _sign_patterns(m) @ nonzero_differences
    extreme = np.count_nonzero(np.abs(statistics) >= threshold)
    return extreme / 2.0**m


@functools.lru_cache(maxsize=_EXACT_LIMIT + 1)
def _sign_patterns(m: int) -> np.ndarray:
    """All 2^m sign vectors as a read-only (2^m, m) float64 matrix; row 0 is all +1."""
    codes = np.arange(2**m, dtype=np.int64)[:, None] >> np.arange(m, dtype=np.int64)
    patterns = 1.0 - 2.0 * (codes & 1).astype(np.float64)
    patterns.setflags(write=False)
    return patterns


def _monte_carlo_counts(
    matrix: np.ndarray, threshold: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """#{random sign vectors s : |s . d_r| >= threshold_r} for each row d_r of ``matrix``."""
    n_queries = matrix.shape[1]
    words_per_row = -(-n_queries // 64)
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // n_queries)
    columns = np.ascontiguousarray(matrix.T)
    counts = np.zeros(matrix.shape[0], dtype=np.int64)
    for start in range(0, n_resamples, rows_per_chunk):
        rows = min(rows_per_chunk, n_resamples - start)
        signs = _random_signs(rng, rows, n_queries, words_per_row)
        statistics = signs @ columns
        counts += np.count_nonzero(np.abs(statistics) >= threshold, axis=0)
    return counts


def _random_signs(
    rng: np.random.Generator, rows: int, n_queries: int, words_per_row: int
) -> np.ndarray:
    # One full-range uint64 draw = one call of the bit generator, whatever the chunking,
    # so the bit stream (hence every sign) does not depend on rows_per_chunk.
    words = rng.integers(0, 2**64, size=(rows, words_per_row), dtype=np.uint64)
    octets = words.astype("<u8", copy=False).view(np.uint8)
    bits = np.unpackbits(octets, axis=1, count=n_queries, bitorder="little")
    signs = bits.astype(np.float64)
    signs *= -2.0
    signs += 1.0
    return signs
