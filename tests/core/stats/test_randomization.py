"""Sign-flip randomization test: hand enumeration, exact rationals, scipy.permutation_test."""

import itertools
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from ragbench.core.stats import randomization as randomization_module
from ragbench.core.stats import randomization_p_values, randomization_test


def _mean_difference(x, y, axis):
    return np.mean(x - y, axis=axis)


def _scipy_exact_p(a, b) -> float:
    # permutation_type="samples" swaps a_i and b_i within each query = flips the sign of
    # d_i; n_resamples=inf enumerates all 2^n patterns. scipy's two-sided p is
    # 2 * min(P(T* <= T), P(T* >= T)) capped at 1, which equals P(|T*| >= |T|) because
    # the sign-flip null distribution is symmetric; it counts the observed pattern and
    # treats values within 100 * eps * |T| as ties.
    result = stats.permutation_test(
        (a, b),
        _mean_difference,
        permutation_type="samples",
        n_resamples=np.inf,
        vectorized=True,
    )
    return float(result.pvalue)


def _fraction_p(tenths: list[int]) -> Fraction:
    """Exact p with rational arithmetic for differences d_i = tenths_i / 10."""
    observed = abs(sum(tenths))
    patterns = list(itertools.product((1, -1), repeat=len(tenths)))
    extreme = sum(
        abs(sum(s * t for s, t in zip(signs, tenths, strict=True))) >= observed
        for signs in patterns
    )
    return Fraction(extreme, len(patterns))


def test_hand_enumerated_three_queries():
    # d = (0.1, 0.2, 0.4), T = sum d = 0.7. The 8 sign patterns give
    #   +++  0.7   ++- -0.1   +-+  0.3   +-- -0.5
    #   -++  0.5   -+- -0.3   --+  0.1   --- -0.7
    # |T*| >= 0.7 for +++ and --- only: p = 2/8.
    a = np.array([0.6, 0.7, 0.9])
    b = np.array([0.5, 0.5, 0.5])
    result = randomization_test(a, b)
    assert result.p_value == 0.25
    assert result.exact and result.n_resamples is None and result.n_nonzero == 3
    assert result.statistic == pytest.approx(0.7 / 3)


def test_hand_enumerated_float_ties_count_as_ties():
    # d = (0.1, 0.2, -0.1), T = 0.2. The 8 patterns give
    #   +++  0.2   ++-  0.4   +-+ -0.2   +--  0.0
    #   -++  0.0   -+-  0.2   --+ -0.4   ---  -0.2
    # Six have |T*| >= 0.2: p = 6/8. In float64 two of the 0.2s come out as
    # 0.19999999999999998, so a comparison without tolerance would give 4/8.
    d = np.array([0.1, 0.2, -0.1])
    assert randomization_test(d, np.zeros(3)).p_value == 0.75
    assert _fraction_p([1, 2, -1]) == Fraction(3, 4)


@pytest.mark.parametrize("seed", range(12))
def test_exact_matches_rational_enumeration(seed):
    rng = np.random.default_rng(seed)
    tenths = [int(t) for t in rng.integers(-5, 6, size=int(rng.integers(2, 11)))]
    d = np.array(tenths) / 10
    assert randomization_test(d, np.zeros(d.size)).p_value == float(_fraction_p(tenths))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("graded", [False, True])
def test_exact_matches_scipy_permutation_test(seed, graded):
    rng = np.random.default_rng(100 + seed)
    n = 12
    a, b = rng.random(n), rng.random(n) * 0.8
    if graded:  # ties and zero differences, like graded relevance measures
        a, b = np.round(a * 3) / 3, np.round(b * 3) / 3
    result = randomization_test(a, b)
    assert result.exact
    assert result.p_value == pytest.approx(_scipy_exact_p(a, b), rel=1e-12)


def test_exact_up_to_threshold_then_monte_carlo():
    rng = np.random.default_rng(7)
    d16, d17 = rng.normal(0.1, 0.3, 16), rng.normal(0.1, 0.3, 17)
    exact = randomization_test(d16, np.zeros(16))
    assert exact.exact and (exact.p_value * 2**16).is_integer()
    sampled = randomization_test(d17, np.zeros(17), n_resamples=999)
    assert not sampled.exact and sampled.n_resamples == 999
    assert (sampled.p_value * 1000).is_integer()  # p = (b + 1) / (N + 1)


def test_zero_differences_do_not_change_the_exact_p_value():
    rng = np.random.default_rng(3)
    a, b = rng.random(9), rng.random(9)
    padded_a = np.concatenate([a, [0.5] * 20])
    padded_b = np.concatenate([b, [0.5] * 20])
    with_zeros = randomization_test(padded_a, padded_b)
    assert with_zeros.exact and with_zeros.n_nonzero == 9 and with_zeros.n_queries == 29
    assert with_zeros.p_value == randomization_test(a, b).p_value


def test_identical_systems_give_p_one():
    a = np.linspace(0, 1, 40)
    assert randomization_test(a, a).p_value == 1.0
    assert randomization_test(a, a + 1e-14).p_value == 1.0


def test_monte_carlo_agrees_with_exact_null_distribution():
    rng = np.random.default_rng(11)
    n = 18
    a, b = rng.random(n), rng.random(n) - 0.12
    exact = _scipy_exact_p(a, b)  # 2^18 patterns
    n_resamples = 20_000
    sampled = randomization_test(a, b, n_resamples=n_resamples, seed=5)
    assert not sampled.exact
    standard_error = np.sqrt(exact * (1 - exact) / n_resamples)
    assert 0.02 < exact < 0.5
    assert abs(sampled.p_value - exact) < 4 * standard_error + 1 / n_resamples
    # Raising the exact threshold gives scipy's exact value.
    enumerated = randomization_test(a, b, exact_max_nonzero=18)
    assert enumerated.p_value == pytest.approx(exact, rel=1e-12)


def test_batch_rows_equal_single_calls_with_the_same_seed():
    rng = np.random.default_rng(2)
    a = rng.random((6, 300))
    b = rng.random((6, 300))
    batch = randomization_p_values(a - b, n_resamples=2_000, seed=42)
    single = [randomization_test(a[k], b[k], n_resamples=2_000, seed=42).p_value for k in range(6)]
    assert batch.tolist() == single


def test_sign_matrix_does_not_depend_on_chunk_size(monkeypatch):
    rng = np.random.default_rng(4)
    d = rng.normal(0.02, 0.3, (3, 257))
    reference = randomization_p_values(d, n_resamples=3_000, seed=9)
    monkeypatch.setattr(randomization_module, "_CHUNK_ELEMENTS", 257 * 7)
    assert randomization_p_values(d, n_resamples=3_000, seed=9).tolist() == reference.tolist()


def test_generator_seed_is_used_and_advanced():
    rng = np.random.default_rng(1)
    d = rng.normal(0.01, 0.2, 200)
    first = randomization_test(d, np.zeros(200), n_resamples=500, seed=np.random.default_rng(8))
    again = randomization_test(d, np.zeros(200), n_resamples=500, seed=8)
    assert first.p_value == again.p_value
    shared = np.random.default_rng(8)
    assert (
        randomization_test(d, np.zeros(200), n_resamples=500, seed=shared).p_value == first.p_value
    )
    # The caller's Generator was drawn from, so a second call sees fresh signs.
    assert shared.bit_generator.state != np.random.default_rng(8).bit_generator.state
