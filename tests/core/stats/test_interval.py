"""Confidence intervals: Student t against scipy, paired bootstrap against scipy.stats.bootstrap."""

import numpy as np
import pytest
from scipy import stats

from ragbench.core.stats import (
    ConfidenceInterval,
    bootstrap_ci,
    bootstrap_intervals,
    mean_confidence_interval,
)
from ragbench.core.stats import interval as interval_module


def _pair(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.beta(2, 3, n), rng.beta(2, 3.3, n)


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_mean_interval_matches_scipy_t_interval(level):
    scores = np.random.default_rng(0).random(37)
    expected = stats.t.interval(level, 36, loc=scores.mean(), scale=stats.sem(scores))
    result = mean_confidence_interval(scores, confidence_level=level)
    assert (result.low, result.high) == pytest.approx(expected, rel=1e-12)
    assert (result.confidence_level, result.method) == (level, "t")


@pytest.mark.parametrize(("method", "scipy_method"), [("bca", "BCa"), ("percentile", "percentile")])
@pytest.mark.parametrize(
    ("seed", "n", "n_resamples"), [(1, 12, 999), (2, 60, 3000), (3, 400, 2000)]
)
def test_bootstrap_matches_scipy_with_same_generator(method, scipy_method, seed, n, n_resamples):
    a, b = _pair(seed, n)
    expected = stats.bootstrap(
        (a - b,),
        np.mean,
        method=scipy_method,
        n_resamples=n_resamples,
        rng=np.random.default_rng(seed),
    ).confidence_interval
    result = bootstrap_ci(a, b, method=method, n_resamples=n_resamples, seed=seed)
    assert result.method == method
    assert result.low == pytest.approx(expected.low, rel=1e-9)
    assert result.high == pytest.approx(expected.high, rel=1e-9)


def test_bootstrap_matches_scipy_at_other_levels():
    a, b = _pair(4, 80)
    expected = stats.bootstrap(
        (a - b,), np.mean, confidence_level=0.8, n_resamples=1500, rng=np.random.default_rng(4)
    ).confidence_interval
    result = bootstrap_ci(a, b, confidence_level=0.8, n_resamples=1500, seed=4)
    assert (result.low, result.high) == pytest.approx((expected.low, expected.high), rel=1e-9)


def test_bootstrap_does_not_depend_on_chunk_size(monkeypatch):
    a, b = _pair(5, 90)
    reference = bootstrap_ci(a, b, n_resamples=1000, seed=3)
    monkeypatch.setattr(interval_module, "_CHUNK_ELEMENTS", 90 * 7)
    chunked = bootstrap_ci(a, b, n_resamples=1000, seed=3)
    assert (chunked.low, chunked.high) == pytest.approx((reference.low, reference.high), rel=1e-12)


def test_bootstrap_interval_approaches_normal_theory_for_large_n():
    # d ~ Normal(0.1, 0.5), n = 2000: the mean's sampling distribution is normal with
    # sd 0.5 / sqrt(2000) = 0.01118; the 95% interval is mean ± 1.96 * 0.01118 = ± 0.0219.
    d = np.random.default_rng(6).normal(0.1, 0.5, 2000)
    result = bootstrap_ci(d, np.zeros(2000), n_resamples=4000, seed=1)
    half_width = 1.959964 * d.std(ddof=1) / np.sqrt(d.size)
    assert result.low == pytest.approx(d.mean() - half_width, abs=0.002)
    assert result.high == pytest.approx(d.mean() + half_width, abs=0.002)


def test_bootstrap_of_constant_differences_is_a_point():
    a = np.array([0.3, 0.5, 0.9, 0.1])
    assert bootstrap_ci(a, a - 0.25) == ConfidenceInterval(0.25, 0.25, 0.95, "bca")
    assert bootstrap_ci(a, a, method="percentile") == ConfidenceInterval(
        0.0, 0.0, 0.95, "percentile"
    )


def test_bca_falls_back_to_percentile_when_bias_is_infinite():
    # d = (0, 1), one resample. Seed 0 draws query indices (1, 1) (checked below), so the
    # only resampled mean is 1 > observed 0.5: z0 = Phi^-1(0) = -inf and BCa is undefined.
    assert np.random.default_rng(0).integers(0, 2, (1, 2)).tolist() == [[1, 1]]
    result = bootstrap_ci([0.0, 1.0], [0.0, 0.0], n_resamples=1, seed=0)
    assert result == ConfidenceInterval(1.0, 1.0, 0.95, "percentile")


def test_rows_of_a_batch_equal_single_calls():
    rng = np.random.default_rng(8)
    d = rng.normal(0.05, 0.2, (4, 150))
    batch = bootstrap_intervals(d, n_resamples=800, seed=13)
    single = [bootstrap_ci(row, np.zeros(150), n_resamples=800, seed=13) for row in d]
    for got, want in zip(batch, single, strict=True):
        assert (got.low, got.high) == pytest.approx((want.low, want.high), rel=1e-12)
