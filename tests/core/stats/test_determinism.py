"""Same seed, same answer: across calls and across threads running at the same time."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ragbench.core.stats import bootstrap_ci, compare_systems, randomization_test


def _scores() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(21)
    difficulty = rng.uniform(0.1, 0.9, 2000)
    return {
        f"sys{k}": np.clip(rng.beta(4 * difficulty, 4 * (1 - difficulty)) + 0.003 * k, 0, 1)
        for k in range(5)
    }


def test_same_seed_same_p_value_and_different_seed_different_draws():
    scores = _scores()
    a, b = scores["sys1"], scores["sys0"]
    first = randomization_test(a, b, n_resamples=3000, seed=11)
    assert randomization_test(a, b, n_resamples=3000, seed=11) == first
    assert 0.01 < first.p_value < 0.99  # not a p-value every seed would give
    others = {randomization_test(a, b, n_resamples=3000, seed=s).p_value for s in range(12, 17)}
    assert len(others | {first.p_value}) > 1


def test_concurrent_threads_give_the_serial_answer():
    scores = _scores()
    a, b = scores["sys2"], scores["sys0"]

    def leaderboard():
        return compare_systems(
            scores, test="randomization", n_resamples=3000, seed=5, ci_method="t"
        )

    def single():
        return randomization_test(a, b, n_resamples=3000, seed=5)

    def interval():
        return bootstrap_ci(a, b, n_resamples=3000, seed=5)

    serial = (leaderboard(), single(), interval())
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(job)
            for job in (leaderboard, leaderboard, single, single, interval, interval)
        ]
        results = [future.result() for future in futures]
    assert results[0] == results[1] == serial[0]
    assert results[2] == results[3] == serial[1]
    assert results[4] == results[5] == serial[2]
