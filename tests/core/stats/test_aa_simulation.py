"""A/A simulation: two systems drawn from the same distribution; the false-positive rate
at alpha = 0.05 must be 0.05 ± 0.015 for every test (binomial SE over 2,000 pairs: 0.0049).

Per query q: a difficulty mu_q ~ Uniform(0.1, 0.9); both systems score
Beta(4 mu_q, 4 (1 - mu_q)) independently, so per-query differences are symmetric about 0
and every H0 holds. n = 50 queries, 2,000 simulated pairs, fixed seed.
"""

import numpy as np
import pytest

from ragbench.core.stats import paired_t_test, randomization_test, wilcoxon_test

N_SIMULATIONS = 2_000
N_QUERIES = 50
ALPHA = 0.05


@pytest.fixture(scope="module")
def simulated_pairs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20_240_601)
    difficulty = rng.uniform(0.1, 0.9, (N_SIMULATIONS, N_QUERIES))
    a = rng.beta(4 * difficulty, 4 * (1 - difficulty))
    b = rng.beta(4 * difficulty, 4 * (1 - difficulty))
    return a, b


@pytest.mark.parametrize(
    "run",
    [
        paired_t_test,
        wilcoxon_test,
        # 1,000 sign flips per pair; each pair gets its own seed.
        lambda a, b, k: randomization_test(a, b, n_resamples=1_000, seed=k),
    ],
    ids=["t", "wilcoxon", "randomization"],
)
def test_false_positive_rate_is_alpha(simulated_pairs, run):
    a, b = simulated_pairs
    if run in (paired_t_test, wilcoxon_test):
        p_values = np.array([run(a[k], b[k]).p_value for k in range(N_SIMULATIONS)])
    else:
        p_values = np.array([run(a[k], b[k], k).p_value for k in range(N_SIMULATIONS)])
    false_positive_rate = np.mean(p_values <= ALPHA)
    assert abs(false_positive_rate - ALPHA) <= 0.015, false_positive_rate
    # The p-values are roughly uniform, not just right at alpha.
    assert abs(np.mean(p_values <= 0.2) - 0.2) <= 0.04
