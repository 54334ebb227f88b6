"""Effect sizes: mean difference with CI, Cohen's d_z, win/tie/loss."""

import numpy as np
import pytest
from scipy import stats

from ragbench.core.stats import (
    TIE_TOLERANCE,
    MeanDifference,
    WinTieLoss,
    bootstrap_ci,
    cohens_dz,
    mean_difference,
    paired_t_test,
    win_tie_loss,
)


def test_tie_tolerance_is_the_documented_value():
    assert TIE_TOLERANCE == 1e-12


def test_cohens_dz_by_hand():
    # d = (1, 2, 3): mean 2, sd (ddof=1) = sqrt(((1-2)^2 + 0 + (3-2)^2) / 2) = 1 -> d_z = 2.
    assert cohens_dz([3.0, 4.0, 5.0], [2.0, 2.0, 2.0]) == pytest.approx(2.0)
    assert cohens_dz([2.0, 2.0, 2.0], [3.0, 4.0, 5.0]) == pytest.approx(-2.0)


def test_cohens_dz_is_t_over_root_n():
    rng = np.random.default_rng(0)
    a, b = rng.random(64), rng.random(64)
    assert cohens_dz(a, b) == pytest.approx(stats.ttest_rel(a, b).statistic / 8.0, rel=1e-12)


def test_cohens_dz_when_sd_is_zero():
    a = np.array([0.1, 0.4, 0.8])
    assert cohens_dz(a, a) == 0.0
    assert cohens_dz(a, a - 0.25) == np.inf
    assert cohens_dz(a - 0.25, a) == -np.inf


def test_win_tie_loss_by_hand():
    a = np.array([0.5, 0.1 + 0.2, 0.9, 0.0, 0.4])
    b = np.array([0.4, 0.3, 0.9, 0.2, 0.4])
    # 0.1 + 0.2 = 0.30000000000000004 differs from 0.3 by 5.6e-17: a tie.
    assert win_tie_loss(a, b) == WinTieLoss(wins=1, ties=3, losses=1)
    assert win_tie_loss(b, a) == WinTieLoss(wins=1, ties=3, losses=1)
    assert win_tie_loss([1.0], [0.0]) == WinTieLoss(1, 0, 0)
    assert win_tie_loss([1.0 + 2e-12], [1.0]).wins == 1


def test_mean_difference_t_interval_matches_ttest_rel():
    rng = np.random.default_rng(1)
    a, b = rng.random(45), rng.random(45) * 0.9
    expected = stats.ttest_rel(a, b).confidence_interval(confidence_level=0.9)
    result = mean_difference(a, b, confidence_level=0.9)
    assert isinstance(result, MeanDifference)
    assert result.mean == pytest.approx(np.mean(a - b), rel=1e-12)
    assert (result.ci.low, result.ci.high) == pytest.approx(
        (expected.low, expected.high), rel=1e-12
    )
    assert result.ci.method == "t" and result.n_queries == 45


def test_mean_difference_t_interval_excludes_zero_iff_t_test_rejects():
    rng = np.random.default_rng(2)
    for shift in np.linspace(0, 0.2, 9):
        a, b = rng.random(30) + shift, rng.random(30)
        ci = mean_difference(a, b).ci
        assert (ci.low > 0 or ci.high < 0) == (paired_t_test(a, b).p_value < 0.05)


def test_mean_difference_bootstrap_is_bootstrap_ci():
    rng = np.random.default_rng(3)
    a, b = rng.random(50), rng.random(50)
    result = mean_difference(a, b, ci_method="percentile", n_resamples=700, seed=4)
    assert result.ci == bootstrap_ci(a, b, method="percentile", n_resamples=700, seed=4)


def test_to_dict_nests_the_interval():
    result = mean_difference([0.5, 0.7, 0.2], [0.4, 0.4, 0.4]).to_dict()
    assert set(result) == {"mean", "ci", "n_queries"}
    assert set(result["ci"]) == {"low", "high", "confidence_level", "method"}
