"""Paired t-test and Wilcoxon signed-rank test, checked against scipy.stats directly."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from ragbench.core.stats import PairedTest, paired_t_test, wilcoxon_test


def _pair(seed: int, n: int, *, levels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    difficulty = rng.uniform(0.1, 0.9, n)
    a = rng.beta(4 * difficulty, 4 * (1 - difficulty))
    b = rng.beta(4 * difficulty, 4 * (1 - difficulty)) + 0.03
    if levels is not None:  # graded-relevance-like scores: many ties and zero differences
        a, b = np.round(a * levels) / levels, np.round(b * levels) / levels
    return a, b


@pytest.mark.parametrize(("seed", "n"), [(0, 2), (1, 5), (2, 50), (3, 700)])
def test_t_test_matches_scipy_ttest_rel(seed, n):
    a, b = _pair(seed, n)
    expected = stats.ttest_rel(a, b)
    result = paired_t_test(a, b)
    assert result.test == "t"
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    assert (result.n_queries, result.n_nonzero) == (n, n)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=2, max_size=40))
def test_t_test_matches_scipy_on_arbitrary_scores(rows):
    a, b = np.array(rows).T
    d = a - b
    assume(np.all((d == 0) | (np.abs(d) > 1e-9)) and np.ptp(d) > 1e-6)
    expected = stats.ttest_rel(a, b)
    result = paired_t_test(a, b)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert paired_t_test(b, a).p_value == pytest.approx(result.p_value, rel=1e-12)
    assert paired_t_test(b, a).statistic == pytest.approx(-result.statistic, rel=1e-12)


def test_t_test_identical_systems_give_p_one_not_nan():
    a = np.array([0.2, 0.5, 0.9, 0.0])
    assert paired_t_test(a, a) == PairedTest("t", 0.0, 1.0, 4, 0, exact=False)
    # Rounding noise only (|d| <= 1e-12) is a tie too.
    assert paired_t_test(a, a + 1e-15).p_value == 1.0


def test_t_test_constant_nonzero_difference_is_infinite_t():
    a = np.array([0.25, 0.5, 0.75])
    result = paired_t_test(a, a - 0.25)
    assert result.statistic == np.inf and result.p_value == 0.0
    assert paired_t_test(a - 0.25, a).statistic == -np.inf


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt"])
@pytest.mark.parametrize(
    ("seed", "n", "levels", "exact"),
    [
        (0, 12, None, True),  # exact distribution
        (1, 50, None, True),  # still exact (scipy: n <= 50, no ties/zeros)
        (2, 51, None, False),  # normal approximation
        (3, 10, 4, True),  # ties and zeros, n <= 13: exact permutation
        (4, 40, 4, False),  # ties and zeros, n > 13: normal approximation
        (5, 300, 10, False),
    ],
)
def test_wilcoxon_matches_scipy(zero_method, seed, n, levels, exact):
    a, b = _pair(seed, n, levels=levels)
    assert np.any(a != b)
    expected = stats.wilcoxon(a, b, zero_method=zero_method)
    result = wilcoxon_test(a, b, zero_method=zero_method)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    assert result.exact is exact
    assert result.n_nonzero == int(np.count_nonzero(a - b))


def test_wilcoxon_default_drops_zero_differences():
    # d = (1, 2, 3, 0, 0): "wilcox" ranks only 1, 2, 3 -> W = 0 of 2^3 equally likely
    # sign patterns, two-sided p = 2/8.
    a = np.array([1.0, 2.0, 3.0, 5.0, 5.0])
    b = np.array([0.0, 0.0, 0.0, 5.0, 5.0])
    result = wilcoxon_test(a, b)
    assert result.statistic == 0.0
    assert result.p_value == pytest.approx(0.25)


def test_wilcoxon_identical_systems_give_p_one():
    a = np.linspace(0, 1, 9)
    for zero_method in ("wilcox", "pratt"):
        result = wilcoxon_test(a, a, zero_method=zero_method)
        assert (result.statistic, result.p_value, result.n_nonzero) == (0.0, 1.0, 0)


def test_results_are_plain_dicts():
    a, b = _pair(9, 20)
    as_dict = paired_t_test(a, b).to_dict()
    assert set(as_dict) == {
        "test",
        "statistic",
        "p_value",
        "n_queries",
        "n_nonzero",
        "exact",
        "n_resamples",
    }
    assert all(isinstance(value, (str, float, int, bool, type(None))) for value in as_dict.values())
