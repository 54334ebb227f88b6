"""Bad input raises StatsError (a ValueError) that says what and where — never assert."""

import numpy as np
import pytest

from ragbench.core.stats import (
    StatsError,
    bootstrap_ci,
    bootstrap_intervals,
    cohens_dz,
    mean_confidence_interval,
    mean_difference,
    paired_t_test,
    randomization_p_values,
    randomization_test,
    wilcoxon_test,
    win_tie_loss,
)

PAIRED = [
    paired_t_test,
    wilcoxon_test,
    randomization_test,
    bootstrap_ci,
    mean_difference,
    cohens_dz,
]
GOOD = [0.1, 0.5, 0.9]


def test_stats_error_is_a_value_error():
    assert issubclass(StatsError, ValueError)


@pytest.mark.parametrize("function", PAIRED + [win_tie_loss])
@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (GOOD, [0.1, 0.5], "a has 3 queries, b has 2"),
        (GOOD, [0.1, np.nan, 0.2], r"b: 1 non-finite score.*index 1"),
        ([np.inf, 0.1, 0.2], GOOD, r"a: 1 non-finite score.*index 0"),
        ([[0.1, 0.2]], [[0.1, 0.2]], "1-D"),
        (["x", "y"], GOOD, "numbers"),
    ],
)
def test_bad_scores(function, a, b, message):
    with pytest.raises(StatsError, match=message):
        function(a, b)


@pytest.mark.parametrize("function", PAIRED)
def test_one_query_is_too_few(function):
    with pytest.raises(StatsError, match="at least 2 queries"):
        function([0.3], [0.2])


def test_win_tie_loss_needs_one_query():
    with pytest.raises(StatsError, match="at least 1 queries"):
        win_tie_loss([], [])


@pytest.mark.parametrize("seed", [None, 1.5, True, -1, "0", np.random.RandomState(0)])
def test_seed_must_be_an_int_or_a_generator(seed):
    with pytest.raises(StatsError, match="seed"):
        randomization_test(GOOD, [0.2, 0.1, 0.3], seed=seed)
    with pytest.raises(StatsError, match="seed"):
        bootstrap_ci(GOOD, [0.2, 0.1, 0.3], seed=seed)


def test_numpy_integer_seed_is_accepted():
    # d = (-0.1, 0.4, 0.6): |T*| over the 8 patterns is 0.9, 1.1, 0.1, 0.3 (each twice);
    # 4 of 8 are >= 0.9.
    assert randomization_test(GOOD, [0.2, 0.1, 0.3], seed=np.int64(3)).p_value == 0.5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: randomization_test(GOOD, GOOD, n_resamples=0), "n_resamples"),
        (lambda: randomization_test(GOOD, GOOD, exact_max_nonzero=25), "exact_max_nonzero"),
        (lambda: randomization_p_values([0.1, 0.2]), "2-D"),
        (lambda: randomization_p_values([[0.1, np.nan]]), "comparison 0, query index 1"),
        (lambda: bootstrap_intervals([[0.1]]), "at least 2 queries"),
        (lambda: bootstrap_ci(GOOD, GOOD, method="basic"), "method must be one of"),
        (lambda: bootstrap_ci(GOOD, GOOD, confidence_level=95), "confidence_level"),
        (lambda: mean_difference(GOOD, GOOD, ci_method="z"), "ci_method"),
        (lambda: mean_confidence_interval([[0.1, 0.2]]), "1-D"),
        (lambda: wilcoxon_test(GOOD, GOOD, zero_method="zsplit"), "zero_method"),
    ],
)
def test_bad_options(call, message):
    with pytest.raises(StatsError, match=message):
        call()
