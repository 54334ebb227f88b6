"""Multiple-comparison corrections against statsmodels.stats.multitest.multipletests."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from ragbench.core.stats import StatsError, adjust_p_values

STATSMODELS_NAME = {"holm": "holm", "bonferroni": "bonferroni", "bh": "fdr_bh"}


@pytest.mark.parametrize("method", ["holm", "bonferroni", "bh"])
@pytest.mark.parametrize("seed", range(5))
def test_matches_statsmodels(method, seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.02, 8), rng.uniform(0, 1, 37)])
    p[:3] = p[3]  # ties
    p[-1] = 1.0
    rng.shuffle(p)
    reject, expected, _, _ = multipletests(p, alpha=0.05, method=STATSMODELS_NAME[method])
    adjusted = adjust_p_values(p, method=method)
    np.testing.assert_allclose(adjusted, expected, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(adjusted <= 0.05, reject)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=30),
    st.sampled_from(["holm", "bonferroni", "bh"]),
)
def test_matches_statsmodels_on_arbitrary_families(p, method):
    _, expected, _, _ = multipletests(np.array(p), method=STATSMODELS_NAME[method])
    np.testing.assert_allclose(adjust_p_values(p, method=method), expected, rtol=1e-12, atol=1e-300)


def test_holm_by_hand():
    # m = 3, sorted p = (0.01, 0.02, 0.04): 3*0.01 = 0.03, 2*0.02 = 0.04, 1*0.04 = 0.04.
    np.testing.assert_allclose(adjust_p_values([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])


def test_bh_by_hand():
    # m = 4, sorted p = (0.01, 0.02, 0.03, 0.5): m p / rank = (0.04, 0.04, 0.04, 0.5),
    # then running minimum from the largest.
    np.testing.assert_allclose(
        adjust_p_values([0.5, 0.03, 0.01, 0.02], method="bh"), [0.5, 0.04, 0.04, 0.04]
    )


def test_none_and_empty():
    p = np.array([0.3, 0.01])
    np.testing.assert_array_equal(adjust_p_values(p, method="none"), p)
    assert adjust_p_values([], method="holm").size == 0


@pytest.mark.parametrize("bad", [[0.2, 1.5], [-0.1], [np.nan], [[0.1, 0.2]]])
def test_rejects_values_that_are_not_p_values(bad):
    with pytest.raises(StatsError):
        adjust_p_values(bad)


def test_rejects_unknown_method():
    with pytest.raises(StatsError, match="method must be one of"):
        adjust_p_values([0.1], method="fdr_by")
