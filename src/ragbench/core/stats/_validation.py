"""Input checks shared by the statistics modules (raise StatsError, never assert)."""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike

from .errors import StatsError

# Two per-query scores closer than this (absolute) are a tie: their difference is set
# to exactly 0 before any test. Measures live in [0, 1]; 1e-12 is far above the
# rounding noise of computing the same score two ways (~1e-16) and far below any
# difference a ranking change can make.
TIE_TOLERANCE = 1e-12


def score_vector(values: ArrayLike, *, name: str, min_queries: int = 2) -> np.ndarray:
    """Return ``values`` as a finite 1-D float64 array with at least ``min_queries`` entries."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatsError(f"{name}: scores must be numbers ({exc})") from None
    if array.ndim != 1:
        raise StatsError(f"{name}: scores must be a 1-D array, got shape {array.shape}")
    if array.size < min_queries:
        raise StatsError(f"{name}: need at least {min_queries} queries, got {array.size}")
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise StatsError(
            f"{name}: {bad.size} non-finite score(s) (NaN or inf), "
            f"first at query index {int(bad[0])}"
        )
    return array


def paired_differences(a: ArrayLike, b: ArrayLike, *, min_queries: int = 2) -> np.ndarray:
    """Return ``d = a - b`` per query, with ``|d| <= TIE_TOLERANCE`` set to exactly 0."""
    first = score_vector(a, name="a", min_queries=min_queries)
    second = score_vector(b, name="b", min_queries=min_queries)
    if first.shape != second.shape:
        raise StatsError(
            f"a and b must be paired by query: a has {first.size} queries, b has {second.size}"
        )
    differences = first - second
    differences[np.abs(differences) <= TIE_TOLERANCE] = 0.0
    return differences


def difference_matrix(values: ArrayLike, *, name: str = "differences") -> np.ndarray:
    """Return a finite 2-D float64 array (one row of per-query differences per comparison)."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatsError(f"{name}: values must be numbers ({exc})") from None
    if array.ndim != 2 or array.shape[1] < 1:
        raise StatsError(
            f"{name}: expected a 2-D array (comparisons x queries), got shape {array.shape}"
        )
    finite = np.isfinite(array)
    if not finite.all():
        row, column = np.argwhere(~finite)[0]
        raise StatsError(
            f"{name}: non-finite value at comparison {int(row)}, query index {int(column)}"
        )
    array = array.copy()
    array[np.abs(array) <= TIE_TOLERANCE] = 0.0
    return array


def generator(seed: int | np.random.Generator) -> np.random.Generator:
    """An int seeds a fresh PCG64 Generator; a Generator is used as is (not copied)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:
            raise StatsError(f"seed must be a non-negative int, got {seed}")
        return np.random.default_rng(int(seed))
    raise StatsError(f"seed must be an int or a numpy.random.Generator, got {type(seed).__name__}")


def positive_int(value: int, *, name: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise StatsError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def probability(value: float, *, name: str) -> float:
    """A float strictly between 0 and 1 (confidence levels, alpha)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise StatsError(f"{name} must be a number in (0, 1), got {value!r}")
    if not 0.0 < float(value) < 1.0:
        raise StatsError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def choice(value: str, *, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise StatsError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value
